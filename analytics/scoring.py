"""Scoring person detections against hand-labelled boxes: box precision/recall and count error.

Labels are a JSON document (``tests/data/vtest_people.json`` is the one Argus ships; its
``how_made`` says how it was labelled)::

    {"frames": {"<frame index>": {"people": [[x0, y0, x1, y1], ...], "ignore": [[...], ...]}}}

``people`` are the boxes a detector must find; ``ignore`` regions hold ambiguous people
(mostly hidden, cut by the frame edge) that count neither way.

Matching (``match_frame``) is one-to-one, best IoU first, at IoU >= ``MATCH_IOU`` (0.3: loose
enough that a box off by a head or a pair of feet still matches, tight enough that one box
cannot stand for two neighbours). An unmatched detection with more than ``IGNORE_INSIDE`` of
its area inside an ignore region is neither a false positive nor counted. The count of a frame
is then its matched plus false detections, so the count error and the box errors come from the
same detections: a count can be right by accident (one miss + one false box), the box
precision and recall show it.

``load_labels`` reads the one file; everything else is pure numpy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analytics.boxes import box_area, intersection, iou_matrix

MATCH_IOU = 0.3
IGNORE_INSIDE = 0.5

FrameLabels = dict[str, np.ndarray]  # {"people": (N, 4), "ignore": (M, 4)} float32 xyxy
Labels = dict[int, FrameLabels]


@dataclass
class Score:
    """Accumulated over frames by ``match_frame``."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    matched_iou: list[float] = field(default_factory=list)
    height_ratio: list[float] = field(default_factory=list)  # detected / labelled height, matched
    count_error: list[int] = field(default_factory=list)  # per frame: |counted - people|
    counts: list[tuple[int, int]] = field(default_factory=list)  # per frame: (counted, people)

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

    def meets(self, max_mae: float, min_precision: float, min_recall: float) -> bool:
        return self.count_mae <= max_mae and self.precision >= min_precision and self.recall >= min_recall

    def summary(self) -> str:
        return (
            f"MAE {self.count_mae:.2f} P {self.precision:.3f} R {self.recall:.3f} "
            f"(tp {self.tp} fp {self.fp} fn {self.fn}, {len(self.count_error)} frames)"
        )


def match_frame(
    pred: np.ndarray, people: np.ndarray, ignore: np.ndarray, score: Score, min_iou: float = MATCH_IOU
) -> None:
    """Match one frame's predicted xyxy boxes to its labels and add the result to ``score``."""
    pred = np.asarray(pred, np.float32).reshape(-1, 4)
    people = np.asarray(people, np.float32).reshape(-1, 4)
    ignore = np.asarray(ignore, np.float32).reshape(-1, 4)
    iou = iou_matrix(pred, people) if len(pred) and len(people) else np.zeros((len(pred), len(people)))
    rows, cols = np.nonzero(iou >= min_iou)
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
    for p in sorted(set(range(len(pred))) - used_p):
        box = pred[p : p + 1]
        inside = intersection(box, ignore) / np.maximum(box_area(box), 1e-9)[:, None]
        if not (len(ignore) and inside.max() > IGNORE_INSIDE):
            false += 1
    counted = len(used_p) + false
    score.tp += len(used_g)
    score.fp += false
    score.fn += len(people) - len(used_g)
    score.count_error.append(abs(counted - len(people)))
    score.counts.append((counted, len(people)))


def score_boxes(predicted: Mapping[int, np.ndarray], labels: Labels, min_iou: float = MATCH_IOU) -> Score:
    """Score predicted xyxy boxes per frame index against every labelled frame (sorted order).

    A labelled frame missing from ``predicted`` is a KeyError: skipping it would flatter the score.
    """
    score = Score()
    for index in sorted(labels):
        truth = labels[index]
        match_frame(predicted[index], truth["people"], truth["ignore"], score, min_iou)
    return score


def parse_labels(document: Mapping[str, Any]) -> Labels:
    """The ``frames`` of a labels document as float32 (N, 4) arrays per frame index."""
    labels: Labels = {}
    for index, frame in document["frames"].items():
        labels[int(index)] = {
            key: np.asarray(frame.get(key, []), np.float32).reshape(-1, 4) for key in ("people", "ignore")
        }
    return labels


def load_labels(path: str | Path) -> Labels:
    """Hand-labelled person boxes per frame index: {'people': (N, 4), 'ignore': (M, 4)}."""
    return parse_labels(json.loads(Path(path).read_text()))
