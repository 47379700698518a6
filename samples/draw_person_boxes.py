"""Draw the person detector's boxes on one vtest.avi frame and write a PNG.

    python -m engines.provision --data-dir ./data        # once: builds the 416 model
    python samples/draw_person_boxes.py --data-dir ./data --frame 300 --out person_boxes.png

``--type`` picks the runner (onnxruntime, opencv, hog); ``--tiles upper2x`` adds the 2x pass
over the upper half of the frame. The video comes from the Debian package ``opencv-doc``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

from analytics.detections import Detections
from engines.person_detector import make_person_detector
from engines.provision import ProvisionError

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def read_frame(video: Path, index: int) -> np.ndarray:
    """The ``index``-th decoded frame (0-based) as BGR uint8."""
    with av.open(str(video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="bgr24")
    raise SystemExit(f"{video} has fewer than {index + 1} frames")


def draw(frame: np.ndarray, dets: Detections, label: str) -> np.ndarray:
    canvas = frame.copy()
    for (x0, y0, x1, y1), score in zip(dets.xyxy.astype(int), dets.confidence, strict=True):
        cv2.rectangle(canvas, (x0, y0), (x1, y1), (0, 0, 255), 2)
        cv2.putText(
            canvas,
            f"{score:.2f}",
            (x0, max(y0 - 4, 10)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (0, 0, 255),
            1,
            cv2.LINE_AA,
        )
    cv2.putText(canvas, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
    return canvas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--video", type=Path, default=VTEST)
    parser.add_argument("--frame", type=int, default=300)
    parser.add_argument("--type", default="auto", help="onnxruntime | opencv | hog | auto")
    parser.add_argument("--tiles", default=None, help="full | upper2x")
    parser.add_argument("--score", type=float, default=None, help="score threshold (YOLO only)")
    parser.add_argument("--out", type=Path, default=Path("person_boxes.png"))
    args = parser.parse_args()
    opts: dict[str, object] = {}
    if args.tiles:
        opts["tiles"] = args.tiles
    if args.score is not None:
        opts["score_threshold"] = args.score
    try:
        detector = make_person_detector(args.type, args.data_dir, **opts)
    except ProvisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    frame = read_frame(args.video, args.frame)
    start = time.perf_counter()
    dets = detector.detect(frame)
    elapsed_ms = (time.perf_counter() - start) * 1000
    label = f"frame {args.frame}: {len(dets)} people, {args.type}, {elapsed_ms:.0f} ms"
    cv2.imwrite(str(args.out), draw(frame, dets, label))
    print(f"{label} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
