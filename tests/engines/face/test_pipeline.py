"""Similarity mapping, and identity on real photos: altered copies match, strangers do not."""

from __future__ import annotations

import numpy as np
import pytest

from engines.face.pipeline import (
    MATCH_DISTANCE,
    MATCH_THRESHOLD,
    Face,
    FacePipeline,
    distance_from_similarity,
    euclidean_distances,
    similarity_from_distance,
    similarity_matrix,
)
from engines.face.warp import WARP_SIZE
from tests.engines.face.conftest import ALTERATIONS
from tests.media import PEOPLE

COPIES = [(person, label) for person in PEOPLE for label in [*ALTERATIONS, "crop"]]


def test_similarity_mapping_is_documented_and_monotone() -> None:
    assert similarity_from_distance(MATCH_DISTANCE) == pytest.approx(MATCH_THRESHOLD)
    assert similarity_from_distance(0.4) == pytest.approx(0.95, abs=1e-6)
    assert similarity_from_distance(0.8) == pytest.approx(0.05, abs=1e-6)
    d = np.linspace(0, 3, 301)
    s = similarity_from_distance(d)
    assert s.dtype == np.float32 and np.all(np.diff(s) <= 0)
    assert s.max() <= 1 and s.min() >= 0
    for threshold in (0.05, 0.5, 0.9):
        assert similarity_from_distance(distance_from_similarity(threshold)) == pytest.approx(threshold)
    with pytest.raises(ValueError):
        distance_from_similarity(0.0)


def test_distances_by_matrix_product_equal_direct_norms() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(4, 128)).astype(np.float32), rng.normal(size=(6, 128)).astype(np.float32)
    direct = np.linalg.norm(a[:, None] - b[None], axis=2)
    np.testing.assert_allclose(euclidean_distances(a, b), direct, rtol=1e-5)
    assert similarity_matrix(a, b).shape == (4, 6)


def test_different_people_fall_below_the_match_threshold(originals: dict) -> None:
    descriptors = np.stack([originals[p].descriptor for p in PEOPLE])
    similarity = similarity_matrix(descriptors, descriptors)
    off_diagonal = similarity[~np.eye(len(PEOPLE), dtype=bool)]
    assert off_diagonal.max() < MATCH_THRESHOLD
    assert np.diag(similarity) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(("person", "label"), COPIES)
def test_altered_copy_matches_its_original_only(
    pipeline: FacePipeline, originals: dict, altered: dict, person: str, label: str
) -> None:
    faces = pipeline.process(altered[(person, label)])
    assert len(faces) == 1, "max_faces=1 keeps the best face"
    similarity = similarity_matrix(faces[0].descriptor, np.stack([originals[p].descriptor for p in PEOPLE]))[
        0
    ]
    own = PEOPLE.index(person)
    assert similarity.argmax() == own
    assert similarity[own] >= MATCH_THRESHOLD
    assert np.delete(similarity, own).max() < MATCH_THRESHOLD


def test_pipeline_faces_carry_everything_the_api_reports(pipeline: FacePipeline, photos: dict) -> None:
    (face,) = pipeline.detect(photos["grace_hopper"])
    assert isinstance(face, Face) and face.descriptor is None
    assert face.box.shape == (4,) and 0.5 <= face.score <= 1.0 and face.landmarks5.shape == (5, 2)
    assert face.warp.shape == (WARP_SIZE, WARP_SIZE, 3)
    (described,) = pipeline.process(photos["grace_hopper"])
    assert described.descriptor.shape == (128,)
    np.testing.assert_array_equal(pipeline.describe_warps([face.warp])[0], described.descriptor)


def test_a_pipeline_without_extractor_only_detects(pipeline: FacePipeline, photos: dict) -> None:
    bare = FacePipeline(pipeline.detector)
    assert len(bare.detect(photos["messi"])) >= 1
    with pytest.raises(RuntimeError):
        bare.process(photos["messi"])
