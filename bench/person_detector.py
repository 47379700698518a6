"""Person detector throughput and accuracy: our ONNX Runtime runner (fp32 and int8) vs OpenCV DNN.

All YOLO rows run YOLOv3-tiny 416 converted by our Darknet->ONNX converter (int8: its static
quantization, ``engines.quantize``) through the same pre/post-processing (``YoloPersonDetector``),
on the same decoded vtest.avi frames, in one process, alternating so machine drift hits all.
Accuracy is scored on the hand-labelled frames (``tests/data/vtest_people.json``) with
``analytics.scoring``, as the tests score them.
Goal (issue 3): ours >= 1.5x OpenCV DNN fp32 on the same model and frames.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from analytics.scoring import Labels, Score, load_labels, score_boxes
from bench.results import write_section
from engines.person_detector import make_person_detector
from engines.protocols import Detector
from engines.vtest import read_frames

PEOPLE_PATH = Path(__file__).resolve().parents[1] / "tests" / "data" / "vtest_people.json"

FRAMES = 40
ROUNDS = 5
BASELINE = "OpenCV DNN fp32 (same ONNX), 2 threads"


def evaluate(detector: Detector, frames: dict[int, np.ndarray], labels: Labels) -> Score:
    return score_boxes({index: detector.detect(frames[index]).xyxy for index in labels}, labels)


def fps(detector: Detector, images: list[np.ndarray]) -> float:
    detector.detect(images[0])  # warm-up
    started = time.perf_counter()
    for image in images:
        detector.detect(image)
    return len(images) / (time.perf_counter() - started)


def builders(data_dir: str) -> dict[str, Callable[[], Detector]]:
    def yolo(kind: str, precision: str, threads: int = 1) -> Callable[[], Detector]:
        return lambda: make_person_detector(kind, data_dir, precision=precision, intra_op_threads=threads)

    return {
        "ONNX Runtime int8, 2 threads": yolo("onnxruntime", "int8", 2),
        "ONNX Runtime int8, 1 thread": yolo("onnxruntime", "int8", 1),
        "ONNX Runtime fp32, 2 threads": yolo("onnxruntime", "fp32", 2),
        "ONNX Runtime fp32, 1 thread": yolo("onnxruntime", "fp32", 1),
        BASELINE: yolo("opencv", "fp32"),
        "OpenCV HOG (no model file)": lambda: make_person_detector("hog", data_dir),
    }


def row(name: str, rate: float, base: float, score: Score) -> str:
    return (
        f"| {name} | {rate:.1f} | {1000 / rate:.0f} | {rate / base:.2f} "
        f"| {score.precision:.3f} | {score.recall:.3f} | {score.count_mae:.2f} |"
    )


def run(data_dir: str) -> str:
    images = list(read_frames(range(FRAMES)).values())
    labels = load_labels(PEOPLE_PATH)
    labelled = read_frames(labels)
    cv2.setNumThreads(2)
    detectors = {name: build() for name, build in builders(data_dir).items()}
    scores = {name: evaluate(detector, labelled, labels) for name, detector in detectors.items()}
    rates: dict[str, list[float]] = {name: [] for name in detectors}
    for _ in range(ROUNDS):
        for name, detector in detectors.items():
            rates[name].append(fps(detector, images))
    median = {name: statistics.median(values) for name, values in rates.items()}
    base = median[BASELINE]
    rows = "\n".join(row(name, value, base, scores[name]) for name, value in median.items())
    people = sum(len(truth["people"]) for truth in labels.values())
    best = median["ONNX Runtime int8, 2 threads"] / base
    body = (
        "## Person detector (issue 3)\n\n"
        f"YOLOv3-tiny 416x416 (our Darknet->ONNX conversion; int8 = its static QDQ quantization, "
        f"`engines.quantize`), {len(images)} vtest.avi frames (768x576), full `detect()` "
        f"(pre-processing, inference, decode, NMS), median of {ROUNDS} alternating rounds. "
        f"Accuracy on the {len(labels)} hand-labelled frames ({people} people): precision and "
        "recall at IoU >= 0.3, per-frame person-count MAE.\n\n"
        "| runner | frames/s | ms/frame | vs OpenCV DNN | precision | recall | count MAE |\n"
        "|---|---|---|---|---|---|---|\n" + rows + "\n\n"
        f"Goal: ONNX Runtime >= 1.5x OpenCV DNN on the same model and frames; int8 with 2 threads "
        f"is {best:.2f}x.\n"
    )
    write_section("person_detector", body)
    return body


if __name__ == "__main__":
    import sys

    print(run(sys.argv[1] if len(sys.argv) > 1 else "./data"))
