"""Box geometry and detection scoring (analytics.boxes, analytics.scoring), and the shipped labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import engines.yolo
from analytics.boxes import box_area, intersection, iou_matrix
from analytics.scoring import (
    MATCH_IOU,
    Score,
    load_labels,
    match_frame,
    parse_labels,
    score_boxes,
)

PEOPLE_PATH = Path(__file__).resolve().parents[1] / "data" / "vtest_people.json"
CALIBRATION_FRAMES = tuple(66 * k for k in range(12))  # engines.quantize; no onnx import here


def boxes(*rows: list[float]) -> np.ndarray:
    return np.asarray(rows, np.float32).reshape(-1, 4)


def test_box_geometry() -> None:
    a = boxes([0, 0, 10, 10], [5, 5, 15, 25], [20, 20, 10, 10])  # the last one is inverted: empty
    np.testing.assert_allclose(box_area(a), [100, 200, 0])
    np.testing.assert_allclose(intersection(a[:2], a[:2]), [[100, 25], [25, 200]])
    iou = iou_matrix(a, boxes([0, 0, 10, 10]))
    np.testing.assert_allclose(iou[:, 0], [1.0, 25 / 275, 0.0])
    assert iou_matrix(boxes([0, 0, 0, 0]), boxes([0, 0, 0, 0]))[0, 0] == 0.0  # no division by zero


def test_engines_yolo_keeps_the_box_helpers() -> None:
    assert engines.yolo.iou_matrix is iou_matrix
    assert engines.yolo.box_area is box_area and engines.yolo.intersection is intersection


def test_matching_is_one_to_one_best_iou_first() -> None:
    people = boxes([0, 0, 10, 30], [6, 0, 16, 30])
    pred = boxes([2, 0, 12, 30], [0, 0, 10, 30], [40, 0, 50, 30])  # best on person 0: pred 1
    score = Score()
    match_frame(pred, people, boxes(), score)
    # pred 1 is exact on person 0; pred 0 (IoU 0.67 with person 0) then takes person 1 (0.43)
    assert (score.tp, score.fp, score.fn) == (2, 1, 0)
    assert score.matched_iou == [1.0, pytest.approx(3 / 7)]
    assert score.counts == [(3, 2)] and score.count_error == [1]


def test_a_box_below_the_match_iou_is_a_false_positive_and_a_miss() -> None:
    people = boxes([0, 0, 10, 30])
    pred = boxes([0, 20, 10, 50])  # IoU 10/50 = 0.2 < MATCH_IOU
    assert MATCH_IOU == 0.3
    score = Score()
    match_frame(pred, people, boxes(), score)
    assert (score.tp, score.fp, score.fn) == (0, 1, 1)
    assert score.count_error == [0]  # the count is right by accident; precision and recall say so
    assert score.precision == 0.0 and score.recall == 0.0


def test_ignore_regions_count_neither_way() -> None:
    people = boxes([0, 0, 10, 30])
    ignore = boxes([100, 0, 120, 40])
    pred = boxes([0, 0, 10, 30], [102, 2, 118, 38], [112, 0, 132, 40])  # 100%, 40% inside ignore
    score = Score()
    match_frame(pred, people, ignore, score)
    assert (score.tp, score.fp, score.fn) == (1, 1, 0)
    assert score.counts == [(2, 1)]
    empty = Score()
    match_frame(boxes(), people, ignore, empty)  # an unfound ignored person is no miss either
    assert (empty.tp, empty.fp, empty.fn, empty.count_error) == (0, 0, 1, [1])


def test_score_accumulates_over_frames() -> None:
    labels = parse_labels(
        {
            "frames": {
                "7": {"people": [[0, 0, 10, 30]], "ignore": []},
                "3": {"people": [[0, 0, 10, 30], [20, 0, 30, 30]]},  # "ignore" may be left out
            }
        }
    )
    assert sorted(labels) == [3, 7] and labels[3]["ignore"].shape == (0, 4)
    predicted = {3: boxes([0, 0, 10, 30]), 7: boxes([0, 0, 10, 30], [50, 0, 60, 30])}
    score = score_boxes(predicted, labels)
    assert (score.tp, score.fp, score.fn) == (2, 1, 1)
    assert score.counts == [(1, 2), (2, 1)]  # frame order
    assert score.count_mae == 1.0
    assert score.precision == pytest.approx(2 / 3) and score.recall == pytest.approx(2 / 3)
    assert not score.meets(max_mae=0.5, min_precision=0.5, min_recall=0.5)
    assert score.meets(max_mae=1.0, min_precision=0.6, min_recall=0.6)
    with pytest.raises(KeyError):
        score_boxes({3: boxes()}, labels)  # a frame without predictions is not skipped
    assert Score().count_mae == 0.0 and Score().precision == 0.0


def test_shipped_labels_cover_the_video() -> None:
    """tests/data/vtest_people.json: >= 12 frames over the whole video, the 4 original ones, all
    >= 26 frames from an int8 calibration frame, boxes inside the 768x576 frame, a how_made text."""
    document = json.loads(PEOPLE_PATH.read_text())
    assert len(document["how_made"]) > 500
    labels = load_labels(PEOPLE_PATH)
    assert len(labels) >= 12 and {100, 300, 500, 700} <= set(labels)
    assert min(labels) < 60 and max(labels) > 750
    assert all(min(abs(i - c) for c in CALIBRATION_FRAMES) >= 26 for i in labels)
    assert sum(len(t["people"]) for t in labels.values()) == 79
    for index, truth in labels.items():
        for kind in ("people", "ignore"):
            xyxy = truth[kind]
            assert np.all(xyxy[:, 2] > xyxy[:, 0]) and np.all(xyxy[:, 3] > xyxy[:, 1]), index
            assert np.all(xyxy >= 0) and np.all(xyxy[:, [0, 2]] <= 768) and np.all(xyxy[:, [1, 3]] <= 576)
        heights = truth["people"][:, 3] - truth["people"][:, 1]
        assert np.all((heights > 25) & (heights < 200)), (index, heights)
