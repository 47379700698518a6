"""Face pipeline throughput: descriptor extraction faces/s (ONNX Runtime vs dlib) and detection.

Same warps, same process, alternating runners. Warps come from the three test photos and their
altered copies (mirror, scale, brightness), so the extractor sees real aligned faces.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from bench.results import write_section
from engines.face.descriptor import DlibDescriptorExtractor, OnnxDescriptorExtractor
from engines.face.pipeline import FacePipeline

PHOTOS = {
    "grace_hopper": Path("/usr/share/doc/facedetect/examples/grace_hopper_512x512.jpg"),
    "messi": Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg"),
}
ROUNDS = 3


def _photos() -> list[np.ndarray]:
    images = [cv2.imread(str(p)) for p in PHOTOS.values() if p.is_file()]
    try:
        from skimage import data as skdata

        images.append(cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    except ImportError:
        pass
    variants = []
    for image in images:
        variants += [
            image,
            cv2.flip(image, 1),
            cv2.resize(image, None, fx=0.8, fy=0.8),
            np.clip(image.astype(np.int16) + 25, 0, 255).astype(np.uint8),
        ]
    return variants


def _rate(count: int, func) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    func()
    return count / (time.perf_counter() - started)


def run(data_dir: str) -> str:
    photos = _photos()
    if not photos:
        return "faces: no test photos installed (apt-get install facedetect opencv-doc)"
    onnx1 = OnnxDescriptorExtractor.from_data_dir(data_dir, 1)
    onnx2 = OnnxDescriptorExtractor.from_data_dir(data_dir, 2)
    reference = DlibDescriptorExtractor.from_data_dir(data_dir)
    pipeline = FacePipeline.from_data_dir(data_dir, "onnxruntime", upsample=1)
    warps = [face.warp for photo in photos for face in pipeline.detect(photo)]
    batch = warps * max(1, 32 // len(warps))
    rates: dict[str, list[float]] = {
        "ONNX Runtime, 1 thread": [],
        "ONNX Runtime, 2 threads": [],
        "dlib (reference)": [],
        "detection + landmarks + warp (dlib HOG, upsample 1)": [],
    }
    for _ in range(ROUNDS):
        rates["ONNX Runtime, 1 thread"].append(_rate(len(batch), lambda: onnx1.extract_warps(batch)))
        rates["ONNX Runtime, 2 threads"].append(_rate(len(batch), lambda: onnx2.extract_warps(batch)))
        rates["dlib (reference)"].append(_rate(len(warps), lambda: reference.extract_warps(warps)))
        rates["detection + landmarks + warp (dlib HOG, upsample 1)"].append(
            _rate(len(photos), lambda: [pipeline.detect(p) for p in photos])
        )
    median = {name: statistics.median(values) for name, values in rates.items()}
    base = median["dlib (reference)"]
    rows = []
    for name, value in median.items():
        unit = "photos/s" if name.startswith("detection") else "faces/s"
        ratio = f"{value / base:.1f}x" if unit == "faces/s" else "-"
        rows.append(f"| {name} | {value:.1f} {unit} | {1000 / value:.1f} ms | {ratio} |")
    body = (
        "## Face pipeline (issue 3)\n\n"
        f"{len(warps)} real 250x250 warps from {len(photos)} photos (3 people, altered copies); "
        f"ONNX batches of {len(batch)}; median of {ROUNDS} rounds. Descriptor: dlib ResNet v1 (128-d), "
        "ONNX converted by our own dlib->ONNX converter.\n\n"
        "| stage | rate | per item | vs dlib |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    write_section("faces", body)
    return body


if __name__ == "__main__":
    import sys

    print(run(sys.argv[1] if len(sys.argv) > 1 else "./data"))
