"""1:N descriptor search: one growable float32 matrix, one BLAS product per block, exact top-k.

Layout. Descriptors are the rows of one C-contiguous float32 matrix with parallel arrays: ids
(objects), creation times (float64 seconds) and half squared norms. The matrix grows by
``GROWTH``; a removal moves the last row into the hole (swap-remove), so the live rows stay
contiguous and a scan never reads a dead row.

Ranking. For a query ``q`` the scan computes ``s = x.q - |x|^2 / 2`` for every row ``x``: the
largest ``s`` is the nearest row, because ``d^2 = |q|^2 - 2 s`` (Euclidean distance). One BLAS
product per block of ``BLOCK_ROWS`` rows gives the scores of all queries at once; nothing
(m, N)-sized is ever allocated.

Top-k without sorting N scores. Each query keeps its best k so far and a cut (the k-th best
key); a block contributes only the entries above the cut, found with one comparison, so after
the first block almost nothing is gathered or sorted. ``argpartition`` runs only when a block
holds many candidates (the first block, or ordering by time without a threshold).

Exact thresholds. ``max_distance`` is turned, per query, into the smallest float32 score whose
distance (computed from that score the way results report it) is within the bound, so "within
the threshold" is decided by the same arithmetic that produces the reported distance: a search
never drops a row that is within the bound and never returns one that is not. The price of
the norms trick is float32 cancellation near zero: identical descriptors report a distance of
~1e-4..1e-3 instead of 0 (at typical face distances, 0.3-1.0, the error is ~1e-6).

BLAS threads. The product runs on OpenBLAS's threads (every core by default): a single
search then reads at the memory-bandwidth limit on an idle machine, but OpenBLAS's threaded
GEMV degrades badly when other processes keep the cores busy (measured here: 2-5x slower
single searches under a load of 3 on 2 cores). ``OPENBLAS_NUM_THREADS=1`` trades ~1.6x idle
latency for graceful degradation; prefer it where the matcher shares cores with the agent.

Pure numpy: no I/O, no threads, no locks. Callers that mutate and search from different
threads hold their own lock.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

# Rows per BLAS product. Lower: less scratch (m x BLOCK_ROWS float32 per search) but more
# Python overhead per block; higher: the (m, B) score block falls out of cache before the
# top-k pass reads it again. 32768 rows of 128 floats = 16 MB read per product.
BLOCK_ROWS = 32768
# Rows of the first block, whose top-k is taken in full to seed the cuts. Small enough that
# the full top-k is cheap, large enough that the cut it leaves rejects almost every later row.
FIRST_BLOCK_ROWS = 2048
# Capacity growth factor. Higher: fewer copies while filling, more unused (virtual) memory.
GROWTH = 1.5
# A subset covering at least this fraction of the rows is scanned in place with a mask
# instead of being gathered (a gather copies every selected row: twice the memory traffic).
DENSE_SUBSET = 0.5
ORDERS = ("distance", "time_asc", "time_desc")
_F32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Hits:
    """One query's matches, best first: ids, Euclidean distances (float32), creation times."""

    ids: np.ndarray
    distances: np.ndarray
    times: np.ndarray


def _ordered(values: np.ndarray) -> np.ndarray:
    """float32 -> int64 with the same order (so bisection can walk every float32)."""
    bits = np.asarray(values, np.float32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)


def _unordered(keys: np.ndarray) -> np.ndarray:
    """Inverse of ``_ordered``."""
    keys = np.asarray(keys, np.int64)
    bits = np.where(keys < 0, (-keys) | 0x80000000, keys)
    return bits.astype(np.uint32).view(np.float32)


def _first_true(predicate: Callable[[np.ndarray], np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """Smallest float32 ``x`` in [-max, max] with ``predicate(x)`` true, for a predicate that is
    false then true as ``x`` grows (elementwise over ``shape``); +inf where it never holds."""
    lo = np.full(shape, _ordered(np.float32(-_F32_MAX)), np.int64)
    hi = np.full(shape, _ordered(np.float32(_F32_MAX)), np.int64)
    with np.errstate(over="ignore", invalid="ignore"):  # extreme probes overflow to inf, harmlessly
        never = ~predicate(_unordered(hi))
        for _ in range(34):  # the range spans < 2^33 values
            mid = (lo + hi) // 2
            ok = predicate(_unordered(mid))
            hi = np.where(ok, mid, hi)
            lo = np.where(ok, lo, mid + 1)
    return np.where(never, np.float32(np.inf), _unordered(hi))


def distances_from_scores(query_sq: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Euclidean distances from scan scores: ``sqrt(max(|q|^2 - 2 s, 0))`` in float32."""
    sq, s = np.asarray(query_sq, np.float32), np.asarray(scores, np.float32)
    return np.sqrt(np.maximum(sq - np.float32(2.0) * s, np.float32(0.0)))


def distance_bound(similarity: Callable[[np.ndarray], np.ndarray], threshold: float) -> float | None:
    """The largest float32 distance whose ``similarity`` is >= ``threshold``; None = no bound.

    ``similarity`` must be non-increasing in distance. Returns -1.0 when no distance qualifies.
    """
    if threshold <= 0.0:
        return None
    found = _first_true(lambda d: ~(similarity(np.maximum(d, 0)) >= threshold), ())
    if not np.isfinite(found):
        return None  # every distance qualifies
    if found <= 0:
        return -1.0
    return float(np.nextafter(np.float32(found), np.float32(-np.inf)))


def _spans(size: int) -> Iterator[tuple[int, int]]:
    """Block bounds: a small first block seeds every query's cut cheaply (a top-k over all of a
    full block would cost more than the product), then full blocks."""
    start = 0
    while start < size:
        stop = min(size, start + (FIRST_BLOCK_ROWS if start == 0 else BLOCK_ROWS))
        yield start, stop
        start = stop


def _absolute(rows: np.ndarray | int, local: np.ndarray) -> np.ndarray:
    """Block-local indices -> index rows (a block is a slice from an offset, or gathered rows)."""
    return local + rows if isinstance(rows, int) else rows[local]


class _TopK:
    """Per-query best-k pools with running cuts (see module docstring).

    A candidate must beat its query's cut strictly; before a pool is full the cut is the
    eligibility bound itself (just below the threshold score, or -inf), so one comparison
    tests both. Ties with the k-th are resolved in favour of rows seen first.
    """

    def __init__(self, queries: int, k: int, floor: np.ndarray) -> None:
        self.m, self.k = queries, k
        self.cut = floor.astype(np.float64)
        self.q = np.empty(0, np.int64)
        self.row = np.empty(0, np.int64)
        self.key = np.empty(0, np.float64)
        self.score = np.empty(0, np.float32)

    def offer_by_score(self, scores: np.ndarray, rows: np.ndarray | int) -> None:
        """A (B, m) score block; key = score. Once the cuts settle, a block costs one
        comparison and one (nearly empty) nonzero."""
        hit = scores > self.cut.astype(np.float32)  # exact: cuts are float32 scores here
        flat = np.flatnonzero(hit)
        if not len(flat):
            return
        width = len(scores)
        if width > self.k and len(flat) > 8 * self.k * self.m + 1024:
            # Many candidates: only each query's k best of the block can matter. Partition the
            # raw scores (masking losers to -inf would make ties that slow argpartition 10x),
            # then drop the picks that do not beat the cut.
            keyed = np.ascontiguousarray(scores.T)
            bi = np.argpartition(keyed, width - self.k, axis=1)[:, width - self.k :].ravel()
            qi = np.repeat(np.arange(self.m), self.k)
            keep = hit[bi, qi]
            bi, qi = bi[keep], qi[keep]
        else:
            bi, qi = np.divmod(flat, self.m)
        values = scores[bi, qi]
        self._merge(qi, _absolute(rows, bi), values, values)

    def offer_by_time(
        self, scores: np.ndarray, key: np.ndarray, rows: np.ndarray | int, floor: np.ndarray
    ) -> None:
        """A (B, m) score block ranked by the shared (B,) ``key``; eligible where score > floor."""
        near = np.flatnonzero(key > self.cut.min())
        if not len(near):
            return
        near = near[np.argsort(-key[near], kind="stable")]  # best key first
        ranked = scores[near]
        candidate = (ranked > floor) & (key[near][:, None] > self.cut)
        taken = np.cumsum(candidate, axis=0, dtype=np.int32) <= self.k
        pos, qi = np.nonzero(candidate & taken)
        bi = near[pos]
        self._merge(qi, _absolute(rows, bi), key[bi], scores[bi, qi])

    def _merge(self, qi: np.ndarray, rows: np.ndarray, key: np.ndarray, score: np.ndarray) -> None:
        q = np.concatenate([self.q, qi])
        row = np.concatenate([self.row, rows])
        k = np.concatenate([self.key, key.astype(np.float64)])
        s = np.concatenate([self.score, score.astype(np.float32)])
        order = np.lexsort((row, -s, -k, q))  # per query: best key, then nearest, then oldest row
        q_sorted = q[order]
        starts = np.searchsorted(q_sorted, np.arange(self.m))
        keep = order[np.arange(len(order)) - starts[q_sorted] < self.k]
        self.q, self.row, self.key, self.score = q[keep], row[keep], k[keep], s[keep]
        counts = np.bincount(self.q, minlength=self.m)
        ends = np.cumsum(counts) - 1
        full = counts == self.k
        self.cut[full] = self.key[ends[full]]


class DescriptorIndex:
    """Descriptors of one model version (same length, same metric) with ids and creation times."""

    def __init__(self, dim: int, capacity: int = 0) -> None:
        self.dim = dim
        self._vectors = np.empty((capacity, dim), np.float32)
        self._half_sq = np.empty(capacity, np.float32)
        self._times = np.empty(capacity, np.float64)
        self._ids = np.empty(capacity, object)
        self._rows: dict[Hashable, int] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, item: Hashable) -> bool:
        return item in self._rows

    @property
    def vectors(self) -> np.ndarray:
        """The live rows (a view: do not write to it)."""
        return self._vectors[: self._size]

    def reserve(self, capacity: int) -> None:
        """Make room for ``capacity`` rows (one copy now instead of several while filling)."""
        if capacity <= len(self._vectors):
            return
        size = self._size
        for name in ("_vectors", "_half_sq", "_times", "_ids"):
            old = getattr(self, name)
            new = np.empty((capacity, *old.shape[1:]), old.dtype)
            new[:size] = old[:size]
            setattr(self, name, new)

    def upsert(
        self, ids: Sequence[Hashable], vectors: np.ndarray, times: Sequence[float] | np.ndarray
    ) -> None:
        """Add rows, or replace the rows of ids already present (last one wins within a call)."""
        vectors = np.asarray(vectors, np.float32).reshape(-1, self.dim)
        times = np.asarray(times, np.float64).reshape(-1)
        if not len(ids) == len(vectors) == len(times):
            raise ValueError("ids, vectors and times must have the same length")
        latest = {item: i for i, item in enumerate(ids)}
        fresh = [item for item in latest if item not in self._rows]
        if self._size + len(fresh) > len(self._vectors):
            self.reserve(max(self._size + len(fresh), int(len(self._vectors) * GROWTH) + 1024))
        for item in fresh:
            self._rows[item] = self._size
            self._ids[self._size] = item
            self._size += 1
        rows = np.fromiter((self._rows[item] for item in latest), np.int64, len(latest))
        source = np.fromiter(latest.values(), np.int64, len(latest))
        chosen = vectors[source]
        self._vectors[rows] = chosen
        self._half_sq[rows] = np.float32(0.5) * np.einsum("ij,ij->i", chosen, chosen)
        self._times[rows] = times[source]

    def remove(self, ids: Iterable[Hashable]) -> int:
        """Drop the rows of ``ids`` (unknown ids are ignored); returns how many were present."""
        removed = 0
        for item in ids:
            row = self._rows.pop(item, None)
            if row is None:
                continue
            last = self._size - 1
            if row != last:
                moved = self._ids[last]
                self._vectors[row] = self._vectors[last]
                self._half_sq[row] = self._half_sq[last]
                self._times[row] = self._times[last]
                self._ids[row] = moved
                self._rows[moved] = row
            self._ids[last] = None
            self._size = last
            removed += 1
        return removed

    def ids(self) -> np.ndarray:
        """A copy of the live ids, in row order."""
        return self._ids[: self._size].copy()

    def rows_of(self, ids: Iterable[Hashable]) -> tuple[np.ndarray, list[Hashable]]:
        """(rows of the known ids, the ids not in the index). Rows change on removal."""
        rows, missing = [], []
        for item in ids:
            row = self._rows.get(item)
            if row is None:
                missing.append(item)
            else:
                rows.append(row)
        return np.asarray(rows, np.int64), missing

    def rows_between(self, gte: float | None = None, lt: float | None = None) -> np.ndarray:
        """Rows created in [gte, lt) (either bound optional)."""
        times = self._times[: self._size]
        mask = np.ones(self._size, bool)
        if gte is not None:
            mask &= times >= gte
        if lt is not None:
            mask &= times < lt
        return np.flatnonzero(mask)

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        max_distance: float | None = None,
        order: str = "distance",
        rows: np.ndarray | None = None,
    ) -> list[Hits]:
        """Per query, the ``k`` best rows within ``max_distance`` (inclusive; None = any).

        ``order="distance"``: nearest first. ``time_asc`` / ``time_desc``: among *all* rows
        within the bound, the ``k`` oldest / newest, in that order. ``rows`` limits the search
        to those rows (from ``rows_of`` / ``rows_between`` under the same lock).
        """
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        if k < 1:
            raise ValueError("k must be >= 1")
        q = np.ascontiguousarray(np.asarray(queries, np.float32).reshape(-1, self.dim))
        query_sq = np.einsum("ij,ij->i", q, q)
        # Eligible: score > floor, i.e. score >= the smallest score within max_distance.
        floor = np.full(len(q), -np.inf, np.float32)
        if max_distance is not None:
            bound = np.float32(max_distance)
            lowest = _first_true(lambda s: distances_from_scores(query_sq, s) <= bound, query_sq.shape)
            floor = np.nextafter(lowest.astype(np.float32), np.float32(-np.inf))
        q_t = np.ascontiguousarray(q.T)
        top = _TopK(len(q), k, floor if order == "distance" else np.full(len(q), -np.inf))
        for block_rows, vectors, half_sq, times, allowed in self._blocks(rows):
            if len(q) == 1:  # GEMV on 1-D arrays: the (B, 1) forms take slower strided loops
                flat = vectors @ q[0]
                flat -= half_sq
                scores = flat[:, None]
            else:
                scores = vectors @ q_t
                scores -= half_sq[:, None]
            if allowed is not None:
                scores[~allowed] = -np.inf
            if order == "distance":
                top.offer_by_score(scores, block_rows)
            else:
                top.offer_by_time(scores, -times if order == "time_asc" else times, block_rows, floor)
        return self._hits(top, query_sq)

    def _blocks(
        self, rows: np.ndarray | None
    ) -> Iterator[tuple[np.ndarray | int, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]:
        """(rows: gathered indices or the slice's offset, vectors, half squared norms, times,
        allowed mask or None) per block."""
        size = self._size
        if rows is not None:
            rows = np.unique(np.asarray(rows, np.int64))
            if len(rows) < DENSE_SUBSET * size:
                for start, stop in _spans(len(rows)):
                    part = rows[start:stop]
                    yield part, self._vectors[part], self._half_sq[part], self._times[part], None
                return
        member = None
        if rows is not None:
            member = np.zeros(size, bool)
            member[rows] = True
        for start, stop in _spans(size):
            allowed = None if member is None else member[start:stop]
            yield (
                start,
                self._vectors[start:stop],
                self._half_sq[start:stop],
                self._times[start:stop],
                allowed,
            )

    def _hits(self, top: _TopK, query_sq: np.ndarray) -> list[Hits]:
        result = []
        bounds = np.searchsorted(top.q, np.arange(top.m + 1))
        for i in range(top.m):
            part = slice(bounds[i], bounds[i + 1])
            rows = top.row[part]
            result.append(
                Hits(
                    ids=self._ids[rows],
                    distances=distances_from_scores(query_sq[i], top.score[part]),
                    times=self._times[rows],
                )
            )
        return result
