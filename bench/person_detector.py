"""Person detector throughput: our ONNX Runtime runner vs OpenCV DNN on the same model and frames.

Both run YOLOv3-tiny 416 converted by our Darknet->ONNX converter, through the same
pre/post-processing (``YoloPersonDetector``), on the same decoded vtest.avi frames, in one
process, alternating so machine drift hits both. Goal: ours >= 1.5x OpenCV DNN.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import av
import cv2
import numpy as np

from bench.results import write_section
from engines.person_detector import make_person_detector

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
FRAMES = 40
ROUNDS = 3


def frames(count: int = FRAMES) -> list[np.ndarray]:
    with av.open(str(VTEST)) as container:
        out = []
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="bgr24"))
            if len(out) == count:
                return out
    return out


def fps(detector, images: list[np.ndarray]) -> float:  # type: ignore[no-untyped-def]
    detector.detect(images[0])  # warm-up
    started = time.perf_counter()
    for image in images:
        detector.detect(image)
    return len(images) / (time.perf_counter() - started)


def run(data_dir: str) -> str:
    images = frames()
    cv2.setNumThreads(2)
    configs = {
        "ONNX Runtime, 2 threads": lambda: make_person_detector("onnxruntime", data_dir, intra_op_threads=2),
        "ONNX Runtime, 1 thread": lambda: make_person_detector("onnxruntime", data_dir, intra_op_threads=1),
        "OpenCV DNN (same ONNX), 2 threads": lambda: make_person_detector("opencv", data_dir),
        "OpenCV HOG (no model file)": lambda: make_person_detector("hog", data_dir),
    }
    detectors = {name: build() for name, build in configs.items()}
    rates: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(ROUNDS):
        for name, detector in detectors.items():
            rates[name].append(fps(detector, images))
    median = {name: statistics.median(values) for name, values in rates.items()}
    base = median["OpenCV DNN (same ONNX), 2 threads"]
    rows = "\n".join(
        f"| {name} | {value:.1f} | {1000 / value:.0f} | {value / base:.2f} |"
        for name, value in median.items()
    )
    body = (
        "## Person detector (issue 3)\n\n"
        f"YOLOv3-tiny 416x416 (our Darknet->ONNX conversion), {len(images)} vtest.avi frames (768x576), "
        f"full `detect()` (pre-processing, inference, decode, NMS), median of {ROUNDS} rounds.\n\n"
        "| runner | frames/s | ms/frame | vs OpenCV DNN |\n|---|---|---|---|\n" + rows + "\n\n"
        "Goal: ONNX Runtime >= 1.5x OpenCV DNN on the same model and frames.\n"
    )
    write_section("person_detector", body)
    return body


if __name__ == "__main__":
    import sys

    print(run(sys.argv[1] if len(sys.argv) > 1 else "./data"))
