"""1:N search over 1,000,000 random 128-d descriptors against the memory-bandwidth limit.

The limit is measured in the same run: the time numpy needs to read the 512 MB matrix once,
taken per round as the fastest of three single passes: ``matrix.max()`` on one thread (a
streaming reduction with less arithmetic per byte than ``sum()``, whose pairwise summation is
slower here), the same ``max()`` split over two threads (numpy releases the GIL), and the bare
blocked matrix-vector product (OpenBLAS GEMV on both cores), whichever read fastest. A 1:N
search must read every row once, so a single-reference search can at best match that time. A
batch of 32 references reads the matrix once for all of them but does 32x the arithmetic, so
it is also compared with the bare BLAS product (same blocks, no top-k) to show the top-k cost.

Rounds alternate the limit and the searches so drift hits both; each figure is the best of its
rounds (this machine is shared: other work only ever adds time, to the limit and searches alike).
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from analytics import matching
from analytics.matching import DescriptorIndex
from bench.results import write_section

ROWS = 1_000_000
DIM = 128
BATCH = 32
ROUNDS = 5
SINGLE_QUERIES = 8  # single-reference searches per round
GOAL = 1.5


def _fill(rng: np.random.Generator) -> DescriptorIndex:
    """Random unit descriptors, added in chunks so no second 512 MB copy is ever made."""
    index = DescriptorIndex(DIM, capacity=ROWS)
    chunk = 100_000
    for start in range(0, ROWS, chunk):
        values = rng.standard_normal((chunk, DIM), dtype=np.float32)
        values /= np.linalg.norm(values, axis=1, keepdims=True)
        index.upsert(range(start, start + chunk), values, np.arange(start, start + chunk, dtype=np.float64))
    return index


def _seconds(func: Callable[[], object]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def _queries(rng: np.random.Generator, count: int) -> np.ndarray:
    values = rng.standard_normal((count, DIM), dtype=np.float32)
    return values / np.linalg.norm(values, axis=1, keepdims=True)


def _bare_product(matrix: np.ndarray, queries_t: np.ndarray) -> None:
    for start in range(0, len(matrix), matching.BLOCK_ROWS):
        matrix[start : start + matching.BLOCK_ROWS] @ queries_t


def _read_limit(matrix: np.ndarray, pool: ThreadPoolExecutor) -> float:
    half = len(matrix) // 2
    one = _seconds(matrix.max)
    two = _seconds(
        lambda: [f.result() for f in (pool.submit(np.max, matrix[:half]), pool.submit(np.max, matrix[half:]))]
    )
    return min(one, two)


def _round(
    index: DescriptorIndex,
    pool: ThreadPoolExecutor,
    rng: np.random.Generator,
    timings: dict[str, list[float]],
) -> None:
    matrix = index.vectors
    timings["limit"].append(_read_limit(matrix, pool))
    singles = _queries(rng, SINGLE_QUERIES)
    batch = _queries(rng, BATCH)
    for k in (3, 100):
        timings[f"1x{k}"].append(
            statistics.median([_seconds(lambda q=q, k=k: index.search(q, k)) for q in singles])
        )
        timings[f"32x{k}"].append(_seconds(lambda k=k: index.search(batch, k)))
    timings["gemv"].append(_seconds(lambda: _bare_product(matrix, singles[0])))
    timings["limit"][-1] = min(timings["limit"][-1], timings["gemv"][-1])
    batch_t = np.ascontiguousarray(batch.T)
    timings["gemm"].append(_seconds(lambda: _bare_product(matrix, batch_t)))


def run() -> str:
    rng = np.random.default_rng(0)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    index = _fill(rng)
    fill_seconds = time.perf_counter() - started
    matrix = index.vectors
    # Sanity: a stored row with a little noise finds itself first.
    probe = matrix[123_456] + 0.01 * _queries(rng, 1)[0]
    assert index.search(probe, 3)[0].ids[0] == 123_456

    timings: dict[str, list[float]] = {
        name: [] for name in ("limit", "1x3", "1x100", "32x3", "32x100", "gemv", "gemm")
    }
    with ThreadPoolExecutor(2) as pool:
        for _ in range(ROUNDS):
            _round(index, pool, rng, timings)
    ms = {name: 1000 * min(values) for name, values in timings.items()}
    limit = ms["limit"]
    gb_per_s = matrix.nbytes / (limit / 1000) / 1e9
    rows = []
    for k in (3, 100):
        single, batched = ms[f"1x{k}"], ms[f"32x{k}"]
        rows.append(
            f"| 1 reference, limit {k} | {single:.1f} | {1000 / single:.1f} | {single / limit:.2f} | "
            f"{single / ms['gemv']:.2f} |"
        )
        rows.append(
            f"| {BATCH} references, limit {k} | {batched:.1f} | {BATCH * 1000 / batched:.0f} | "
            f"{batched / limit:.2f} per batch ({batched / BATCH / limit:.3f} per reference) | "
            f"{batched / ms['gemm']:.2f} |"
        )
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} cores)"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    verdict = "met" if ms["1x3"] <= GOAL * limit else "NOT met"
    body = "\n".join(
        [
            "## Matching: 1:N search",
            "",
            f"{ROWS:,} random unit 128-d float32 descriptors ({matrix.nbytes / 2**20:.0f} MiB) in one "
            f"`DescriptorIndex`, blocks of {matching.BLOCK_ROWS} rows; filled in {fill_seconds:.1f} s; "
            f"peak RSS {peak_mb:.0f} MiB. Best of {ROUNDS} alternating rounds "
            f"(a round's single-search time is the median of {SINGLE_QUERIES} searches); {load}.",
            "",
            f"Memory-bandwidth limit: reading the matrix once (fastest of `matrix.max()` on one thread, "
            f"on two, and the bare GEMV) takes **{limit:.1f} ms** ({gb_per_s:.1f} GB/s), i.e. at most "
            f"{1000 / limit:.0f} single-reference searches/s.",
            "",
            "| search | ms per call | references/s | time / read limit | time / bare BLAS product |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"Bare BLAS product over the same blocks, no top-k: {ms['gemv']:.1f} ms for 1 reference (GEMV), "
            f"{ms['gemm']:.1f} ms for {BATCH} (GEMM; compute-bound, "
            f"{2 * ROWS * DIM * BATCH / (ms['gemm'] / 1000) / 1e9:.0f} GFLOP/s).",
            "",
            f"Goal: a single-reference search within {GOAL}x of the read limit: **{verdict}** "
            f"({ms['1x3'] / limit:.2f}x). A batch reads the matrix once for all {BATCH} references, so "
            "per reference it is far below the single-search limit; it is bound by the product's arithmetic.",
        ]
    )
    write_section("matching", body)
    return body


if __name__ == "__main__":
    print(run())
