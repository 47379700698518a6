"""ByteTracker speed (updates/s with 50 objects) and accuracy (MOTA, IDF1) on synthetic scenes.

Speed: 50 boxes on straight noisy paths (px noise, 5% missed detections, 30% of scores in the
low band, a few false boxes), one ``update`` per frame, in a child process pinned to one core
with ``OMP/OPENBLAS/MKL_NUM_THREADS=1`` (the tracker is single-threaded by design; the pin keeps
BLAS from spreading the small batched products). Median of ``ROUNDS`` rounds.
Goal: >= 1000 updates/s on one core.

Accuracy: the scenes of ``bench.tracking_scenes`` (real vtest.avi people on known paths,
crossings, a pillar), the person detector as deployed for one 416 pass (YOLOv3-tiny int8,
score >= 0.1), then the tracker; scored with motmetrics at IoU >= 0.5 against the visible box
of each person. People less than ``MIN_VISIBILITY`` visible are "don't care": hypotheses on
them are dropped, as MOTChallenge drops those on ignored boxes. Hypotheses are the tracks
detected in the frame (ByteTrack's MOT output); predicted boxes of lost tracks are not.
``rate`` 2 and 3 feed every 2nd / 3rd frame with its true time and score only those frames.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from analytics.boxes import iou_matrix
from analytics.detections import Detections
from analytics.tracking import ByteTracker, TrackerParams
from analytics.tracking.assign import assign
from bench.results import write_section
from bench.tracking_scenes import Scene, make_scene

if TYPE_CHECKING:
    import pandas as pd

    from engines.protocols import Detector

# (seed, people, frames) per scene: 10 fps, 12-15 s each.
SCENES = ((1, 6, 120), (2, 8, 130), (3, 9, 140), (4, 10, 150))
MIN_VISIBILITY = 0.3
RATES = (1, 2, 3)
RATE_LABELS = {1: "Every frame", 2: "Every 2nd frame", 3: "Every 3rd frame"}
OBJECTS = 50
UPDATES = 400
ROUNDS = 5
# The shipped defaults, and ByteTrack's own values of the three that differ (see TrackerParams).
CONFIGS = {
    "defaults": TrackerParams(),
    "ByteTrack MOT17 values": TrackerParams(fuse_score=True, unconfirmed_match_iou=0.3, kalman_period=0.1),
}
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def make_detector(data_dir: str) -> Detector:
    """The deployed fast configuration: one 416x416 pass, int8, score >= 0.1."""
    from engines.person_detector import make_person_detector

    return make_person_detector(
        "onnxruntime", data_dir, input_size=(416, 416), precision="int8", score_threshold=0.1
    )


def detect_scene(detector: Detector, scene: Scene) -> list[Detections]:
    """Detections of every frame (computed once; each rate replays a subset)."""
    return [detector.detect(frame) for frame in scene.frames]


def accumulate(
    scene: Scene, detections: Sequence[Detections], rate: int = 1, params: TrackerParams | None = None
) -> Any:
    """A motmetrics accumulator of the tracker fed every ``rate``-th frame of the scene."""
    import motmetrics as mm

    tracker = ByteTracker(params or TrackerParams())
    acc = mm.MOTAccumulator(auto_id=True)
    for index in range(0, len(scene.truth), rate):
        output = tracker.update(detections[index], index / scene.fps)
        hyps = [t for t in output.tracks if t.detection_index is not None]
        hyp_ids = [t.track_id for t in hyps]
        hyp_boxes = np.array([t.xyxy for t in hyps], dtype=np.float64).reshape(-1, 4)
        truth = scene.truth[index]
        gt_boxes = np.array([t.xyxy for t in truth], dtype=np.float64).reshape(-1, 4)
        visible = np.array([t.visibility >= MIN_VISIBILITY for t in truth], dtype=bool)
        # Drop hypotheses that match (IoU >= 0.5, one to one) a person too hidden to score.
        pairs, _, _ = assign(1.0 - iou_matrix(gt_boxes, hyp_boxes), 0.5)
        dropped = {int(h) for g, h in pairs if not visible[g]}
        keep = np.array([h not in dropped for h in range(len(hyps))], dtype=bool)
        gt_ids = [t.person_id for t, v in zip(truth, visible, strict=True) if v]
        kept = [i for i, k in zip(hyp_ids, keep, strict=True) if k]
        acc.update(gt_ids, kept, iou_distances(gt_boxes[visible], hyp_boxes[keep]))
    return acc


def iou_distances(gt: np.ndarray, hyp: np.ndarray, max_distance: float = 0.5) -> np.ndarray:
    """``mm.distances.iou_matrix`` on xyxy boxes: 1 - IoU, NaN beyond ``max_distance``.

    (motmetrics 1.4's own function calls ``np.asfarray``, gone in numpy 2.)
    """
    distance = 1.0 - iou_matrix(gt, hyp)
    return np.where(distance > max_distance, np.nan, distance)


def summary(accumulators: dict[str, Any]) -> pd.DataFrame:
    """MOTA, IDF1, ID switches per accumulator plus the overall row."""
    import motmetrics as mm

    metrics = ["mota", "idf1", "num_switches", "num_false_positives", "num_misses", "num_objects"]
    return mm.metrics.create().compute_many(
        list(accumulators.values()), metrics=metrics, names=list(accumulators), generate_overall=True
    )


def scenes() -> list[Scene]:
    return [make_scene(seed, people, frames) for seed, people, frames in SCENES]


def accuracy(data_dir: str) -> dict[str, dict[int, pd.DataFrame]]:
    """Metrics tables per configuration (``CONFIGS``) and rate over ``SCENES``."""
    detector = make_detector(data_dir)
    built = scenes()
    detections = [detect_scene(detector, scene) for scene in built]
    return {
        name: {
            rate: summary(
                {
                    f"scene {s.seed}": accumulate(s, d, rate, params)
                    for s, d in zip(built, detections, strict=True)
                }
            )
            for rate in RATES
        }
        for name, params in CONFIGS.items()
    }


def synthetic_stream(seed: int = 0, n: int = OBJECTS, updates: int = UPDATES) -> list[Detections]:
    """``n`` boxes moving straight with noise, 5% missed, some low scores and false boxes."""
    rng = np.random.default_rng(seed)
    start = rng.uniform([0, 0], [1800, 960], (n, 2))
    velocity = rng.uniform(-4, 4, (n, 2))
    size = rng.uniform([30, 60], [80, 160], (n, 2))
    frames = []
    for k in range(updates):
        centre = start + velocity * k + rng.normal(0, 1.5, (n, 2))
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        scores = np.where(rng.random(n) < 0.3, rng.uniform(0.1, 0.5, n), rng.uniform(0.5, 0.95, n))
        keep = rng.random(n) >= 0.05
        false = rng.uniform([0, 0, 30, 60], [1800, 960, 80, 160], (2, 4))
        false[:, 2:] += false[:, :2]
        boxes = np.concatenate([boxes[keep], false]).astype(np.float32)
        scores = np.concatenate([scores[keep], rng.uniform(0.1, 0.7, 2)]).astype(np.float32)
        frames.append(Detections(boxes, scores, np.zeros(len(boxes), np.int32)))
    return frames


def updates_per_second(rounds: int = ROUNDS) -> list[float]:
    """One fresh tracker per round over the same stream (30 fps timestamps)."""
    stream = synthetic_stream()
    rates = []
    for _ in range(rounds):
        tracker = ByteTracker()
        started = time.perf_counter()
        for k, detections in enumerate(stream):
            tracker.update(detections, k / 30)
        rates.append(len(stream) / (time.perf_counter() - started))
    return rates


def speed() -> list[float]:
    """``updates_per_second`` in a single-threaded child process pinned to one core."""
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    code = (
        "import json; from bench.tracker import updates_per_second; print(json.dumps(updates_per_second()))"
    )
    env = {**os.environ, **SINGLE_THREAD}
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [*pin, sys.executable, "-c", code], env=env, cwd=repo, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def table(frame: pd.DataFrame) -> str:
    rows = [
        f"| {name} | {r.num_objects:.0f} | {r.mota:.3f} | {r.idf1:.3f} | {r.num_switches:.0f} "
        f"| {r.num_false_positives:.0f} | {r.num_misses:.0f} |"
        for name, r in frame.iterrows()
    ]
    header = "| scene | GT boxes | MOTA | IDF1 | ID switches | FP | misses |\n|---|---|---|---|---|---|---|\n"
    return header + "\n".join(rows)


def run(data_dir: str) -> str:
    rates = speed()
    metrics = accuracy(data_dir)
    median = statistics.median(rates)
    body = (
        "## Tracker (ByteTrack)\n\n"
        f"`analytics.tracking.ByteTracker`, default `TrackerParams`. Speed: {OBJECTS} objects, "
        f"{UPDATES} updates per round, one core, one thread, median of {ROUNDS} rounds: "
        f"**{median:.0f} updates/s** ({1000 / median:.2f} ms per update; goal >= 1000).\n\n"
        f"Accuracy on {len(SCENES)} synthetic scenes (`bench/tracking_scenes.py`: real vtest.avi "
        "people pasted on known paths, two crossings and a pillar per scene, 10 fps), YOLOv3-tiny "
        f"416 int8 score >= 0.1 detections, motmetrics at IoU >= 0.5, people < {MIN_VISIBILITY:.0%} "
        "visible are don't-care. Rate n: every n-th frame with its true time. "
        "Goal: IDF1 >= 0.8 on every frame.\n"
    )
    for rate, frame in metrics["defaults"].items():
        body += f"\n### {RATE_LABELS[rate]}\n\n{table(frame)}\n"
    rows = [
        f"| {name} | {rate} | {frame.loc['OVERALL'].mota:.3f} | {frame.loc['OVERALL'].idf1:.3f} "
        f"| {frame.loc['OVERALL'].num_switches:.0f} |"
        for name, tables in metrics.items()
        for rate, frame in tables.items()
    ]
    body += (
        "\n### Defaults against ByteTrack's values (all scenes)\n\n"
        "| parameters | rate | MOTA | IDF1 | ID switches |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    write_section("tracker", body)
    return body


if __name__ == "__main__":
    print(run(sys.argv[1] if len(sys.argv) > 1 else "./data"))
