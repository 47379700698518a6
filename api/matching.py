"""The face matching service: per-account descriptor indexes kept in step with the faces table.

One :class:`analytics.matching.DescriptorIndex` per (account, descriptor version) holds every
face that has a descriptor. The indexes are filled from the database at start-up (in the
background; searches wait for it) and updated by hooks the faces resource calls after each
commit (``faces_saved`` / ``faces_removed``). Mutations run on one writer thread, in the order
the hooks were called; searches run on worker threads (BLAS releases the GIL), each index
behind its own lock.

Candidate sets. Filters the index can evaluate (account, ``create_time`` bounds) are applied
in the scan; every other face filter (``face_ids``, ``external_ids``, ``user_data``,
``face_id`` bounds, ``list_id``) is resolved to face ids by the database and the scan is
limited to their rows, so a filtered search returns every match above the threshold up to
``limit``, never fewer. Faces the database has and the index lacks (written by another
process) are loaded on the way; matches the database no longer has are dropped from the index
and the search repeated.

Similarity. Each registered descriptor version has a documented distance -> similarity
mapping (``SIMILARITY``; dlib: ``engines.face.pipeline.similarity_from_distance``). A
similarity threshold becomes the exact largest distance that reaches it, so "similarity >=
threshold" is decided by the same float32 arithmetic that produces the reported similarity.

Limits: the indexes live in this process. Several ``argus serve`` processes each keep their
own; a face written by another process is seen by filtered searches (through the database)
but by an unfiltered search only after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from analytics.matching import DescriptorIndex, Hits, distance_bound
from api.descriptors import DLIB_VERSION, REGISTERED, Descriptor
from api.storage.db import Database
from api.storage.faces import FaceFilter
from api.storage.lists import chunks
from api.storage.models import Face
from engines.face.pipeline import similarity_from_distance

log = logging.getLogger("argus.matching")

# Descriptor version -> distance -> similarity in [0, 1] (monotone non-increasing).
SIMILARITY: dict[int, Callable[[np.ndarray], np.ndarray]] = {DLIB_VERSION: similarity_from_distance}
# Faces read per round trip at start-up. Higher: fewer round trips, more memory per batch.
LOAD_BATCH = 5000
# Face filters only the database can evaluate.
DB_FILTERS = ("face_ids", "external_ids", "user_data", "face_id__gte", "face_id__lt", "list_id")
ORDERS = {"similarity": "distance", "create_time_asc": "time_asc", "create_time_desc": "time_desc"}


@cache
def threshold_distance(version: int, threshold: float) -> float | None:
    """The largest distance whose similarity reaches ``threshold`` (None: any distance does)."""
    return distance_bound(SIMILARITY[version], threshold)


@dataclass(frozen=True)
class Match:
    face: Face
    similarity: float


@dataclass(frozen=True)
class EventReference:
    event_id: str
    descriptor: Descriptor | None


class EventMatching(Protocol):
    """What the matcher needs from event storage; plugged in as ``MatchingService.events``.

    Until it is, event references and candidates answer 403 11040 (the spec's answer when
    events are unavailable).
    """

    async def reference(
        self, session: AsyncSession, kind: str, value: str, scope: str | None
    ) -> EventReference | None:
        """The event an ``event`` / ``event_external_id`` / ``event_track_id`` reference names."""

    async def candidates(
        self,
        session: AsyncSession,
        descriptors: Sequence[Descriptor],
        candidate: dict[str, Any],
        scope: str | None,
    ) -> list[list[dict[str, Any]]]:
        """Per descriptor, ``event_candidate_match_result`` items for one ``candidate_event``."""


@dataclass
class _Shard:
    index: DescriptorIndex
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self) -> np.ndarray:
        with self.lock:
            return self.index.ids()

    def search(
        self, queries: np.ndarray, k: int, bound: float | None, order: str, subset: Subset
    ) -> list[Hits]:
        with self.lock:
            rows = None
            if subset.face_ids is not None:
                rows, _ = self.index.rows_of(subset.face_ids)
            elif subset.time_gte is not None or subset.time_lt is not None:
                rows = self.index.rows_between(subset.time_gte, subset.time_lt)
            if not len(self.index) or (rows is not None and not len(rows)):
                return [_NO_HITS] * len(queries)
            return self.index.search(queries, k, max_distance=bound, order=order, rows=rows)


_NO_HITS = Hits(np.empty(0, object), np.empty(0, np.float32), np.empty(0, np.float64))


@dataclass(frozen=True)
class Subset:
    """The rows of one shard a search may return: ids from the database, or a time range."""

    face_ids: Sequence[str] | None = None
    time_gte: float | None = None
    time_lt: float | None = None


def _rows_to_vectors(rows: Sequence[Any]) -> dict[tuple[str, int], tuple[list[str], np.ndarray, np.ndarray]]:
    """(face_id, account_id, version, descriptor, create_time) rows -> per-shard arrays."""
    grouped: dict[tuple[str, int], list[Any]] = {}
    for row in rows:
        size = REGISTERED.get(row.descriptor_version)
        if size is not None and row.descriptor is not None and len(row.descriptor) == 4 * size:
            grouped.setdefault((row.account_id, row.descriptor_version), []).append(row)
    result = {}
    for key, part in grouped.items():
        values = np.frombuffer(b"".join(r.descriptor for r in part), "<f4").reshape(len(part), -1)
        times = np.array([r.create_time.timestamp() for r in part], np.float64)
        result[key] = ([r.face_id for r in part], values, times)
    return result


class MatchingService:
    """Per-account face indexes; see the module docstring."""

    def __init__(self) -> None:
        self._shards: dict[tuple[str, int], _Shard] = {}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argus-matching")
        self._loaded = asyncio.Event()
        self._load_error: BaseException | None = None
        self._pending: list[Callable[[], None]] | None = []  # hooks seen while loading
        # Hook for event references/candidates (see EventMatching); None = not connected.
        self.events: EventMatching | None = None
        # Called after every local change, (op "saved"|"removed", account_id, face ids), so the
        # other server processes sharing the database update their indexes (api/bus_pg.py).
        self.peers: Callable[[str, str, list[str]], None] | None = None

    # -- start-up and shutdown --------------------------------------------------------------
    async def load(self, db: Database) -> None:
        """Index every face with a descriptor, then replay the hooks that ran meanwhile."""
        try:
            columns = (
                Face.face_id,
                Face.account_id,
                Face.descriptor_version,
                Face.descriptor,
                Face.create_time,
            )
            query = select(*columns).where(Face.descriptor.is_not(None))
            total = 0
            async with db.session() as session:
                result = await session.stream(query.execution_options(yield_per=LOAD_BATCH))
                async for part in result.partitions(LOAD_BATCH):
                    await self._write(self._upsert_rows, part)
                    total += len(part)
            # One writer job, queued before any later hook: replays keep their order.
            pending, self._pending = self._pending or [], None
            await self._write(lambda: [apply() for apply in pending])
            log.info("matching index loaded: %d faces in %d indexes", total, len(self._shards))
        except Exception as exc:
            self._load_error = exc
            log.exception("matching index failed to load")
        finally:
            self._loaded.set()

    async def ready(self) -> None:
        await self._loaded.wait()
        if self._load_error is not None:
            raise RuntimeError("the matching index failed to load at start-up") from self._load_error

    def close(self) -> None:
        self._writer.shutdown(wait=True)

    # -- update hooks (call after the commit) -------------------------------------------------
    async def faces_saved(self, faces: Iterable[Face]) -> None:
        """New faces, or faces whose descriptor changed or was removed."""
        rows = [(f.face_id, f.account_id, f.descriptor_version, f.descriptor, f.create_time) for f in faces]
        snapshot = [_Row(*row) for row in rows]
        await self._hook(lambda: self._save(snapshot))
        if self.peers is not None:
            for account_id in {row.account_id for row in snapshot}:
                self.peers(
                    "saved", account_id, [row.face_id for row in snapshot if row.account_id == account_id]
                )

    async def faces_removed(
        self, account_id: str, face_ids: Sequence[str], *, from_peer: bool = False
    ) -> None:
        ids = list(face_ids)
        await self._hook(lambda: self._remove(account_id, ids))
        if self.peers is not None and not from_peer and ids:
            self.peers("removed", account_id, ids)

    async def faces_saved_by_peer(self, db: Database, face_ids: Sequence[str]) -> None:
        """Another process saved these faces: read them from the shared database and index them."""
        async with db.session() as session:
            faces = (
                (await session.execute(select(Face).where(Face.face_id.in_(list(face_ids))))).scalars().all()
            )
        rows = [
            _Row(f.face_id, f.account_id, f.descriptor_version, f.descriptor, f.create_time) for f in faces
        ]
        await self._hook(lambda: self._save(rows))

    async def _hook(self, apply: Callable[[], None]) -> None:
        if self._pending is not None:
            self._pending.append(apply)
        try:
            await self._write(apply)
        except RuntimeError:  # writer shut down: the server is stopping, the index is going away
            log.debug("matching index closed; update dropped")

    async def _write(self, func: Callable[..., None], *args: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(self._writer, func, *args)

    def _shard(self, account_id: str, version: int) -> _Shard:
        shard = self._shards.get((account_id, version))
        if shard is None:
            shard = self._shards[account_id, version] = _Shard(DescriptorIndex(REGISTERED[version]))
        return shard

    def _upsert_rows(self, rows: Sequence[Any]) -> None:
        for (account_id, version), (ids, values, times) in _rows_to_vectors(rows).items():
            shard = self._shard(account_id, version)
            with shard.lock:
                shard.index.upsert(ids, values, times)

    def _save(self, rows: Sequence[_Row]) -> None:
        for row in rows:
            self._remove(row.account_id, [row.face_id])
        self._upsert_rows(rows)

    def _remove(self, account_id: str | None, face_ids: Sequence[str]) -> None:
        for (owner, _), shard in list(self._shards.items()):
            if account_id is None or owner == account_id:
                with shard.lock:
                    shard.index.remove(face_ids)

    # -- search ---------------------------------------------------------------------------------
    async def search_faces(
        self,
        session: AsyncSession,
        descriptors: Sequence[Descriptor],
        flt: FaceFilter,
        limit: int,
        threshold: float,
        order: str,
    ) -> list[list[Match]]:
        """Per descriptor, up to ``limit`` faces passing ``flt`` (its ``account_id`` is the
        scope; None = every account) with similarity >= ``threshold``, in ``order``."""
        await self.ready()
        results: list[list[Match]] = [[] for _ in descriptors]
        by_version: dict[int, list[int]] = {}
        for position, descriptor in enumerate(descriptors):
            by_version.setdefault(descriptor.version, []).append(position)
        for version, positions in by_version.items():
            if version not in SIMILARITY:
                continue  # nothing stored can be compared with this version
            queries = np.stack([descriptors[p].values for p in positions]).astype(np.float32)
            bound = threshold_distance(version, threshold)
            for attempt in range(2):
                hits = await self._search(session, version, queries, flt, limit, bound, ORDERS[order])
                ids = sorted({face_id for h in hits for face_id in h.ids})
                faces = await _faces_by_id(session, ids)
                if attempt or len(faces) == len(ids):
                    break
                # Matches another process (or a list deletion) removed: bring the indexes in
                # scope back in line with the database, then search once more.
                await self._reconcile(session, version, flt.account_id)
            similarity = SIMILARITY[version]
            for position, found in zip(positions, hits, strict=True):
                sims = similarity(found.distances)
                results[position] = [
                    Match(faces[face_id], float(s))
                    for face_id, s in zip(found.ids, sims, strict=True)
                    if face_id in faces
                ]
        return results

    async def _search(
        self,
        session: AsyncSession,
        version: int,
        queries: np.ndarray,
        flt: FaceFilter,
        k: int,
        bound: float | None,
        order: str,
    ) -> list[Hits]:
        subsets: dict[str, Subset]
        if any(getattr(flt, name) is not None for name in DB_FILTERS):
            subsets = await self._resolve(session, flt, version)
        else:
            time = Subset(
                time_gte=flt.create_time__gte.timestamp() if flt.create_time__gte else None,
                time_lt=flt.create_time__lt.timestamp() if flt.create_time__lt else None,
            )
            owners = [owner for owner, v in list(self._shards) if v == version]
            subsets = {a: time for a in owners if flt.account_id is None or a == flt.account_id}
        per_shard = []
        for account_id, subset in subsets.items():
            shard = self._shards.get((account_id, version))
            if shard is not None:
                per_shard.append(await asyncio.to_thread(shard.search, queries, k, bound, order, subset))
        return [_merge([hits[i] for hits in per_shard], k, order) for i in range(len(queries))]

    async def _reconcile(self, session: AsyncSession, version: int, account_id: str | None) -> None:
        """Drop indexed faces the database no longer has; add the ones it has and the index lacks."""
        query = select(Face.face_id, Face.account_id).where(
            Face.descriptor_version == version, Face.descriptor.is_not(None)
        )
        if account_id is not None:
            query = query.where(Face.account_id == account_id)
        stored: dict[str, set[str]] = {}
        for face_id, owner in (await session.execute(query)).all():
            stored.setdefault(owner, set()).add(face_id)
        owners = {a for a, v in list(self._shards) if v == version and account_id in (None, a)} | set(stored)
        gone: list[str] = []
        missing: list[str] = []
        for owner in owners:
            shard = self._shards.get((owner, version))
            indexed = set(await asyncio.to_thread(shard.ids)) if shard is not None else set()
            gone.extend(indexed - stored.get(owner, set()))
            missing.extend(stored.get(owner, set()) - indexed)
        # Faces created since the query above are in the index and must stay: re-check.
        still = await _faces_by_id(session, gone)
        await self._write(self._remove, None, [face_id for face_id in gone if face_id not in still])
        if missing:
            await self._write(self._upsert_rows, await _descriptor_rows(session, missing))
        log.info("matching index reconciled: %d removed, %d added", len(gone) - len(still), len(missing))

    async def _resolve(self, session: AsyncSession, flt: FaceFilter, version: int) -> dict[str, Subset]:
        """Face ids passing the database-only filters, per account; loads faces the index lacks."""
        query = select(Face.face_id, Face.account_id).where(
            *flt.conditions(), Face.descriptor_version == version, Face.descriptor.is_not(None)
        )
        owned: dict[str, list[str]] = {}
        for face_id, account_id in (await session.execute(query)).all():
            owned.setdefault(account_id, []).append(face_id)
        missing = [
            face_id
            for account_id, ids in owned.items()
            for face_id in ids
            if (account_id, version) not in self._shards
            or face_id not in self._shards[account_id, version].index
        ]
        if missing:
            await self._write(self._upsert_rows, await _descriptor_rows(session, missing))
        return {account_id: Subset(face_ids=ids) for account_id, ids in owned.items()}


@dataclass(frozen=True)
class _Row:
    face_id: str
    account_id: str
    descriptor_version: int | None
    descriptor: bytes | None
    create_time: Any


def _merge(parts: list[Hits], k: int, order: str) -> Hits:
    """The best ``k`` of several shards' hits for one query, in ``order``."""
    parts = [p for p in parts if len(p.ids)]
    if not parts:
        return _NO_HITS
    if len(parts) == 1:
        return parts[0]
    ids = np.concatenate([p.ids for p in parts])
    distances = np.concatenate([p.distances for p in parts])
    times = np.concatenate([p.times for p in parts])
    if order == "distance":
        best = np.lexsort((times, distances))
    else:
        best = np.lexsort((distances, times if order == "time_asc" else -times))
    best = best[:k]
    return Hits(ids[best], distances[best], times[best])


async def _faces_by_id(session: AsyncSession, face_ids: Sequence[str]) -> dict[str, Face]:
    found: dict[str, Face] = {}
    for part in chunks(face_ids):
        for face in (await session.execute(select(Face).where(Face.face_id.in_(part)))).scalars():
            found[face.face_id] = face
    return found


async def _descriptor_rows(session: AsyncSession, face_ids: Sequence[str]) -> list[Any]:
    columns = (Face.face_id, Face.account_id, Face.descriptor_version, Face.descriptor, Face.create_time)
    rows: list[Any] = []
    for part in chunks(face_ids):
        rows.extend((await session.execute(select(*columns).where(Face.face_id.in_(part)))).all())
    return rows
