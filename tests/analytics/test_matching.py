"""DescriptorIndex against brute force: orders, thresholds (exact at the boundary), subsets, updates."""

from __future__ import annotations

import numpy as np
import pytest

from analytics import matching
from analytics.matching import DescriptorIndex, distance_bound, distances_from_scores
from engines.face.pipeline import similarity_from_distance

DIM = 16


def brute(
    queries: np.ndarray,
    vectors: np.ndarray,
    times: np.ndarray,
    k: int,
    max_distance: float | None = None,
    order: str = "distance",
    rows: np.ndarray | None = None,
) -> list[list[int]]:
    """Expected rows per query, from distances computed the way the index reports them."""
    half_sq = np.float32(0.5) * np.einsum("ij,ij->i", vectors, vectors)
    result = []
    for q in queries:
        scores = vectors @ q - half_sq
        dist = distances_from_scores(np.float32(q @ q), scores)
        allowed = np.ones(len(vectors), bool) if rows is None else np.isin(np.arange(len(vectors)), rows)
        if max_distance is not None:
            allowed &= dist <= np.float32(max_distance)
        candidates = np.flatnonzero(allowed)
        if order == "distance":
            key = -scores[candidates]
        else:
            key = times[candidates] if order == "time_asc" else -times[candidates]
        result.append(list(candidates[np.argsort(key, kind="stable")][:k]))
    return result


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(2000, DIM)).astype(np.float32)
    times = rng.permutation(2000).astype(np.float64)  # distinct, so time orders are unambiguous
    return vectors, times


def filled(vectors: np.ndarray, times: np.ndarray) -> DescriptorIndex:
    index = DescriptorIndex(DIM)
    index.upsert(list(range(len(vectors))), vectors, times)
    return index


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several blocks per search, so the running cut and the merges are exercised."""
    monkeypatch.setattr(matching, "BLOCK_ROWS", 256)


@pytest.mark.parametrize("order", ["distance", "time_asc", "time_desc"])
@pytest.mark.parametrize("max_distance", [None, 5.0, 0.0])
@pytest.mark.parametrize("k", [1, 7, 100])
def test_search_equals_brute_force(data, order: str, max_distance: float | None, k: int) -> None:
    vectors, times = data
    index = filled(vectors, times)
    queries = np.random.default_rng(4).normal(size=(5, DIM)).astype(np.float32)
    queries[0] = vectors[17]  # one query sits exactly on a stored row
    hits = index.search(queries, k, max_distance=max_distance, order=order)
    expected = brute(queries, vectors, times, k, max_distance, order)
    for query, found, rows in zip(queries, hits, expected, strict=True):
        assert list(found.ids) == rows
        assert np.array_equal(found.times, times[rows])
        assert found.distances.dtype == np.float32
        assert np.allclose(found.distances, np.linalg.norm(vectors[rows] - query, axis=1), atol=1e-3)
    if order == "distance" and max_distance != 0.0:
        assert hits[0].ids[0] == 17


@pytest.mark.parametrize("fraction", [0.05, 0.9])  # gathered rows, then an in-place mask
@pytest.mark.parametrize("order", ["distance", "time_desc"])
def test_subset_search(data, fraction: float, order: str) -> None:
    vectors, times = data
    index = filled(vectors, times)
    rows = np.random.default_rng(5).choice(len(vectors), int(fraction * len(vectors)), replace=False)
    queries = np.random.default_rng(6).normal(size=(3, DIM)).astype(np.float32)
    hits = index.search(queries, 10, max_distance=5.5, order=order, rows=rows)
    for found, expected in zip(hits, brute(queries, vectors, times, 10, 5.5, order, rows), strict=True):
        assert list(found.ids) == expected


def test_subset_never_loses_matches_above_threshold(data) -> None:
    """The scan is limited to the subset first, so far-away members are still all found."""
    vectors, times = data
    index = filled(vectors, times)
    query = vectors[:1] * 3.0  # everything near it is outside the subset
    distances = np.linalg.norm(vectors - query, axis=1)
    far = np.argsort(distances)[-20:]
    hits = index.search(query, 100, rows=far)
    assert sorted(hits[0].ids) == sorted(far)


def test_threshold_is_inclusive_and_exact(data) -> None:
    vectors, times = data
    index = filled(vectors, times)
    query = np.random.default_rng(8).normal(size=(1, DIM)).astype(np.float32)
    everything = index.search(query, 2000)[0]
    for position in (0, 5, 500):
        bound = float(everything.distances[position])
        within = index.search(query, 2000, max_distance=bound)[0]
        assert within.ids[-1] in everything.ids[position:] and (within.distances <= np.float32(bound)).all()
        assert len(within.ids) == int((everything.distances <= np.float32(bound)).sum())
        below = float(np.nextafter(np.float32(bound), np.float32(0)))
        assert len(index.search(query, 2000, max_distance=below)[0].ids) < len(within.ids)
    assert len(index.search(query, 5, max_distance=-1.0)[0].ids) == 0


def test_upsert_replaces_and_remove_swaps(data) -> None:
    vectors, times = data
    index = filled(vectors[:10], times[:10])
    index.upsert([3, "new"], np.stack([vectors[100], vectors[101]]), [50.0, 60.0])
    assert len(index) == 11 and 3 in index and "new" in index
    assert index.search(vectors[100], 1)[0].ids[0] == 3
    assert index.remove([0, "absent", 5]) == 2
    assert len(index) == 9 and 0 not in index
    assert sorted(map(str, index.ids())) == sorted(map(str, [1, 2, 3, 4, 6, 7, 8, 9, "new"]))
    hits = index.search(vectors[:10], 1)
    for row in (1, 2, 4, 6, 7, 8, 9):  # every surviving row is still found at distance ~0
        assert hits[row].ids[0] == row and hits[row].distances[0] < 1e-2
    rows, missing = index.rows_of([1, "new", "nope"])
    assert len(rows) == 2 and missing == ["nope"]
    index.upsert([1, 1], np.stack([vectors[200], vectors[201]]), [1.0, 2.0])  # last one wins
    assert index.search(vectors[201], 1)[0].ids[0] == 1 and len(index) == 9


def test_rows_between_and_time_subsets(data) -> None:
    vectors, times = data
    index = filled(vectors, times)
    rows = index.rows_between(100.0, 200.0)
    assert sorted(times[rows]) == list(np.arange(100.0, 200.0))
    hits = index.search(vectors[:2], 5, order="time_asc", rows=rows)
    assert [list(h.times) for h in hits] == [list(np.arange(100.0, 105.0))] * 2


def test_growth_and_empty_cases() -> None:
    index = DescriptorIndex(DIM)
    assert [len(h.ids) for h in index.search(np.zeros((2, DIM)), 3)] == [0, 0]
    rng = np.random.default_rng(9)
    for start in range(0, 5000, 700):  # several growths
        index.upsert(list(range(start, start + 700)), rng.normal(size=(700, DIM)), np.zeros(700))
    assert len(index) == 5600
    assert len(index.search(rng.normal(size=DIM), 10_000)[0].ids) == 5600  # k > N
    with pytest.raises(ValueError):
        index.search(np.zeros(DIM), 0)
    with pytest.raises(ValueError):
        index.search(np.zeros(DIM), 1, order="random")
    with pytest.raises(ValueError):
        index.upsert([1, 2], np.zeros((1, DIM)), [0.0])


def test_ties_in_time_order_keep_k() -> None:
    """All rows share one time: k results, nearest first among the ties."""
    rng = np.random.default_rng(10)
    vectors = rng.normal(size=(1000, DIM)).astype(np.float32)
    index = filled(vectors, np.zeros(1000))
    hits = index.search(vectors[:3], 4, order="time_desc")
    assert [len(h.ids) for h in hits] == [4, 4, 4]
    assert [h.ids[0] for h in hits] == [0, 1, 2]


def test_distance_bound_matches_similarity_exactly() -> None:
    assert distance_bound(similarity_from_distance, 0.0) is None
    assert distance_bound(similarity_from_distance, 1.0) == -1.0  # no distance reaches 1.0
    for threshold in (0.05, 0.5, 0.9, 0.99):
        bound = np.float32(distance_bound(similarity_from_distance, threshold))
        assert similarity_from_distance(bound) >= threshold
        assert similarity_from_distance(np.nextafter(bound, np.float32(np.inf))) < threshold
    assert abs(distance_bound(similarity_from_distance, 0.5) - 0.6) < 1e-6  # dlib's 0.6 rule
