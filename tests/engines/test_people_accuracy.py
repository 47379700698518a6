"""People counting: the person-detector configurations, measured on the hand-labelled frames.

Goals (people_count issue): per-frame count MAE <= 0.5 person, box precision and recall >= 0.9
each at IoU >= 0.3, on tests/data/vtest_people.json (13 frames, 79 people). The study behind
the two configurations is ``python -m bench.person_detector_configs`` (table in
bench/RESULTS.md): ONNX Runtime, int8 and fp32, 416 (full, upper2x), 608, 640x480, 832 and
1024x768 at scores 0.1-0.35.

* ``ACCURATE``: one 1024x768 pass at score 0.25 (37 ms/frame int8, 2 threads), the fastest
  configuration that meets the goals with the int8 and the fp32 model and at both neighbouring
  scores (0.2, 0.3). 416 upper2x also meets them at 0.25-0.3, ~30% faster, but fails at 0.2 and
  (int8) 0.35, keeps precision at 0.915-0.926 because of high-score boxes spanning two
  neighbours in the 2x tiles (no threshold removes them) and counts frame 700 two too high.
* ``FAST``: one 416 pass at score 0.1 (the detector's default). It misses the goals (far and
  occluded people); it is held near its measured figures so that a regression shows.

No time limits here: ms/frame are in the benchmark. The 1024x768 models are provisioned by the
``accurate_person_models`` session fixture, so a fresh clone's ``make test`` builds them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analytics.scoring import Labels, Score
from engines.person_detector import make_person_detector
from engines.protocols import Detector
from tests.engines.conftest import ACCURATE_SIZE, evaluate

ACCURATE = {"input_size": ACCURATE_SIZE, "score_threshold": 0.25, "nms_iou": 0.45, "tiles": "full"}
FAST = {"input_size": (416, 416), "score_threshold": 0.1, "nms_iou": 0.45, "tiles": "full"}
GOALS = {"max_mae": 0.5, "min_precision": 0.9, "min_recall": 0.9}
# FAST measured on the labelled frames: (count MAE, precision, recall).
FAST_MEASURED = {"int8": (0.62, 0.889, 0.911), "fp32": (0.54, 0.900, 0.911)}


def detector(data_dir: Path, precision: str, config: dict[str, object], **changes: object) -> Detector:
    return make_person_detector(
        "onnxruntime", data_dir, precision=precision, intra_op_threads=2, **{**config, **changes}
    )


def assert_meets_goals(score: Score) -> None:
    assert score.meets(**GOALS), score.summary()


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_accurate_config_meets_the_goals(
    precision: str,
    data_dir: Path,
    accurate_person_models: dict[str, Path],
    vtest_frames: dict[int, np.ndarray],
    person_boxes: Labels,
) -> None:
    """Measured: int8 MAE 0.31, P 1.000, R 0.949; fp32 MAE 0.38, P 0.987, R 0.949. The four
    misses are people mostly hidden behind another person or the sign (100, 500, 561, 760)."""
    score = evaluate(detector(data_dir, precision, ACCURATE), vtest_frames, person_boxes)
    assert score.tp + score.fn == sum(len(t["people"]) for t in person_boxes.values())
    assert_meets_goals(score)


@pytest.mark.parametrize("precision", ["int8", "fp32"])
@pytest.mark.parametrize("score_threshold", [0.2, 0.3])
def test_accurate_config_is_not_a_knife_edge(
    precision: str,
    score_threshold: float,
    data_dir: Path,
    accurate_person_models: dict[str, Path],
    vtest_frames: dict[int, np.ndarray],
    person_boxes: Labels,
) -> None:
    """The goals hold at the neighbouring scores too: 0.25 is inside a plateau, not tuned to a
    frame. Measured: 0.2 int8 MAE 0.46 P 0.949 R 0.949, fp32 0.38 / 0.974 / 0.962; 0.3 int8 0.31 /
    1.000 / 0.949, fp32 0.38 / 1.000 / 0.937."""
    config = detector(data_dir, precision, ACCURATE, score_threshold=score_threshold)
    assert_meets_goals(evaluate(config, vtest_frames, person_boxes))


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_fast_config_stays_near_its_measured_figures(
    precision: str,
    data_dir: Path,
    person_model: Path,
    int8_person_model: Path,
    vtest_frames: dict[int, np.ndarray],
    person_boxes: Labels,
) -> None:
    """One 416 pass: within 2 boxes (0.03) of its measured precision and recall and 2 frames'
    count errors (0.16) of its MAE; its misses are far people and people behind others."""
    mae, precision_measured, recall_measured = FAST_MEASURED[precision]
    score = evaluate(detector(data_dir, precision, FAST), vtest_frames, person_boxes)
    assert abs(score.count_mae - mae) <= 0.16, score.summary()
    assert abs(score.precision - precision_measured) <= 0.03, score.summary()
    assert abs(score.recall - recall_measured) <= 0.03, score.summary()


def test_accurate_config_counts_better_than_the_fast_one(
    data_dir: Path,
    accurate_person_models: dict[str, Path],
    int8_person_model: Path,
    vtest_frames: dict[int, np.ndarray],
    person_boxes: Labels,
) -> None:
    """The larger input earns its cost: fewer count errors and more people found (int8)."""
    accurate = evaluate(detector(data_dir, "int8", ACCURATE), vtest_frames, person_boxes)
    fast = evaluate(detector(data_dir, "int8", FAST), vtest_frames, person_boxes)
    assert accurate.count_mae < fast.count_mae
    assert accurate.recall > fast.recall and accurate.precision > fast.precision
