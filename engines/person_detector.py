"""Person detectors: YOLOv3-tiny on any ``TensorRunner``, and OpenCV HOG as a zero-file fallback.

``make_person_detector`` is what config code calls: its ``runner_type`` is the config ``type``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from analytics.detections import Detections
from engines.protocols import Detector, TensorRunner
from engines.provision import PRECISIONS, ProvisionError, models_dir, person_detector_filename
from engines.yolo import (
    Tile,
    batched_nms,
    clip_to_frame,
    decode,
    merge_tiles,
    parse_tiles,
    preprocess,
    tile_rect,
)

PERSON_CLASS = 0  # COCO class index of "person"
RUNNER_TYPES = ("auto", "onnxruntime", "opencv", "hog", "tensorrt")
# Model precision when the caller names none. ONNX Runtime: int8, measured 1.9x (2 threads) to
# 2.3x (1 thread) faster per frame than fp32 on an AVX512-VNNI CPU, with the same precision,
# recall and count error on the labelled vtest.avi frames (tests/engines/test_quantize.py holds
# it to that; bench/RESULTS.md). OpenCV DNN: fp32, it runs the int8 QDQ graph no faster than
# fp32 (58 vs 61 ms here) and drifts further from fp32's detections.
DEFAULT_PRECISION = {"onnxruntime": "int8", "opencv": "fp32"}


class YoloPersonDetector:
    """YOLO detector: pre/post-processing from ``engines.yolo`` around a tensor runner.

    Knobs:
    * ``score_threshold`` (objectness x class prob): lowering it finds more small or occluded
      people and more false boxes; 0.1 suits one 416 pass, 0.2 larger inputs.
    * ``nms_iou``: raising it keeps more overlapping boxes (people in groups) and more
      duplicates of one person.
    * ``tiles``: ``None``/``"full"`` = one pass; ``"upper2x"`` or fraction tuples add passes
      over crops (better recall on small people, one inference per tile).
    * ``letterbox``: keep aspect ratio with grey bars instead of the plain resize.
    * ``border_margin`` (px) / ``contain_ratio``: how the tile merge recognises a person cut at
      a tile border (see ``engines.yolo.merge_tiles``); unused with a single tile.
    """

    def __init__(
        self,
        runner: TensorRunner,
        input_size: tuple[int, int] | None = None,
        score_threshold: float = 0.1,
        nms_iou: float = 0.45,
        tiles: str | Sequence[Tile] | None = None,
        letterbox: bool = False,
        class_ids: Sequence[int] = (PERSON_CLASS,),
        border_margin: float = 4.0,
        contain_ratio: float = 0.6,
        warmup: bool = True,
    ) -> None:
        model_size = (int(runner.input_shape[3]), int(runner.input_shape[2]))
        if input_size is not None and tuple(input_size) != model_size:
            raise ValueError(f"input_size {input_size} != model input (w, h) {model_size}")
        self.runner = runner
        self.input_size = model_size
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.tiles = parse_tiles(tiles)
        self.letterbox = letterbox
        self.class_ids = tuple(class_ids)
        self.border_margin = border_margin
        self.contain_ratio = contain_ratio
        if warmup:  # first inference allocates; pay it at startup, not on the first frame
            runner.run(np.zeros(runner.input_shape, np.float32))

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        frame_h, frame_w = frame_bgr.shape[:2]
        parts = [self._detect_in(frame_bgr, tile_rect(t, frame_w, frame_h)) for t in self.tiles]
        if len(parts) == 1:
            dets = batched_nms(parts[0][0], self.nms_iou)
        else:
            dets = merge_tiles(
                parts, (frame_w, frame_h), self.nms_iou, self.border_margin, self.contain_ratio
            )
        return clip_to_frame(dets, (frame_w, frame_h))

    def _detect_in(
        self, frame_bgr: np.ndarray, rect: tuple[int, int, int, int]
    ) -> tuple[Detections, tuple[int, int, int, int]]:
        """Run on one crop; boxes come back in full-frame pixels."""
        x0, y0, x1, y1 = rect
        blob, transform = preprocess(frame_bgr[y0:y1, x0:x1], self.input_size, self.letterbox)
        transform = replace(transform, offset_x=float(x0), offset_y=float(y0))
        outputs = self.runner.run(blob)
        dets = decode(outputs, self.input_size, transform, self.score_threshold, self.class_ids)
        return dets, rect


class HogPersonDetector:
    """OpenCV's HOG + linear SVM people detector: needs no model file, slower and less accurate.

    * ``upscale``: the SVM window is 64x128 px, so people shorter than ~128 px are missed;
      upscaling finds them at quadratic cost (1.5 measured best on vtest.avi).
    * ``hit_threshold``: SVM margin a window needs; raising it trades recall for precision.
    * ``win_stride`` / ``scale_step``: smaller = denser search, slower, slightly better recall.
    * ``box_fit`` (width, height factors): the 64x128 training window holds a ~96 px tall,
      ~35 px wide person with margins around; boxes are shrunk about their centre to the
      person so they compare with YOLO's (IoU with hand labels 0.36 -> 0.77 on vtest.avi).
      (1.0, 1.0) returns the raw windows.
    Confidence is the logistic of the SVM margin, so it lies in (0, 1) like YOLO scores, but
    the two are not calibrated against each other.
    """

    def __init__(
        self,
        upscale: float = 1.5,
        hit_threshold: float = 0.0,
        win_stride: int = 8,
        scale_step: float = 1.05,
        nms_iou: float = 0.45,
        box_fit: tuple[float, float] = (0.55, 0.75),
    ) -> None:
        self.upscale = upscale
        self.box_fit = box_fit
        self.hit_threshold = hit_threshold
        self.win_stride = win_stride
        self.scale_step = scale_step
        self.nms_iou = nms_iou
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        image = frame_bgr
        if self.upscale != 1.0:
            image = cv2.resize(frame_bgr, None, fx=self.upscale, fy=self.upscale)
        rects, weights = self._hog.detectMultiScale(
            image,
            hitThreshold=self.hit_threshold,
            winStride=(self.win_stride,) * 2,
            padding=(8, 8),
            scale=self.scale_step,
        )
        if len(rects) == 0:
            return Detections.empty()
        rects = np.asarray(rects, np.float32).reshape(-1, 4) / self.upscale
        centre, size = rects[:, :2] + rects[:, 2:] / 2, rects[:, 2:] * np.float32(self.box_fit)
        xyxy = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        confidence = 1.0 / (1.0 + np.exp(-np.asarray(weights, np.float32).reshape(-1)))
        dets = Detections(xyxy, confidence.astype(np.float32), np.zeros(len(xyxy), np.int32))
        frame_h, frame_w = frame_bgr.shape[:2]
        return clip_to_frame(batched_nms(dets, self.nms_iou), (frame_w, frame_h))


def provisioned_model_path(data_dir: str | Path, width: int, height: int, precision: str = "fp32") -> Path:
    """The provisioned model for this input size and precision; never provisions it."""
    path = models_dir(data_dir) / person_detector_filename(width, height, precision)
    if not path.is_file():
        raise ProvisionError(
            f"{path} is missing: run `python -m engines.provision --data-dir {data_dir} "
            f"--size {width}x{height} --precision {precision}` (or `make models`) first"
        )
    return path


def make_person_detector(
    runner_type: str,
    data_dir: str | Path,
    *,
    input_size: tuple[int, int] = (416, 416),
    intra_op_threads: int = 1,
    precision: str | None = None,
    **opts: object,
) -> Detector:
    """Build the person detector named by config ``type``.

    ``runner_type``: ``onnxruntime`` | ``opencv`` | ``hog`` | ``tensorrt`` | ``auto``
    (= ``tensorrt`` when TensorRT, pycuda and a GPU are present, else ``onnxruntime``).
    ``opts`` go to the detector class (``YoloPersonDetector`` or ``HogPersonDetector``);
    ``intra_op_threads`` to ONNX Runtime.
    ``precision``: ``fp32`` | ``int8`` model file; ``None`` = ``DEFAULT_PRECISION`` of the
    runner (int8 for ONNX Runtime, fp32 for OpenCV DNN); HOG has no model and ignores it.
    """
    kind = ("tensorrt" if tensorrt_available() else "onnxruntime") if runner_type == "auto" else runner_type
    if kind not in RUNNER_TYPES:
        raise ValueError(f"unknown person detector type {runner_type!r}; choose from {RUNNER_TYPES}")
    if kind == "hog":
        return HogPersonDetector(**opts)  # type: ignore[arg-type]
    if kind == "tensorrt":
        return YoloPersonDetector(tensorrt_runner(data_dir, input_size), input_size, **opts)  # type: ignore[arg-type]
    precision = precision or DEFAULT_PRECISION[kind]
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {PRECISIONS}")
    path = provisioned_model_path(data_dir, *input_size, precision)
    if kind == "onnxruntime":
        from engines.runners.onnxruntime_runner import OnnxRuntimeRunner

        runner: TensorRunner = OnnxRuntimeRunner(path, intra_op_threads)
    else:
        from engines.runners.opencv_runner import OpenCvDnnRunner

        runner = OpenCvDnnRunner(path)
    return YoloPersonDetector(runner, input_size, **opts)  # type: ignore[arg-type]


def tensorrt_available() -> bool:
    """TensorRT and pycuda import, and CUDA sees a GPU."""
    try:
        from engines.build_trt import import_tensorrt

        _, cuda = import_tensorrt()
        cuda.init()
        return cuda.Device.count() > 0
    except Exception:  # ImportError, RuntimeError, or any CUDA driver error: no usable GPU
        return False


def tensorrt_runner(data_dir: str | Path, input_size: tuple[int, int]) -> TensorRunner:
    """The engine built on this GPU from the fp32 ONNX (``python -m engines.build_trt``)."""
    from engines.build_trt import import_tensorrt
    from engines.runners.tensorrt_runner import TensorRtRunner

    import_tensorrt()  # without TensorRT, say so before anything else
    onnx_path = provisioned_model_path(data_dir, *input_size, "fp32")
    engine_path = onnx_path.with_suffix(".trt")
    if not engine_path.is_file():
        raise ProvisionError(
            f"{engine_path} is missing: build it on this GPU machine with `python -m engines.build_trt "
            f"--onnx {onnx_path} --out {engine_path} [--fp16]`"
        )
    return TensorRtRunner(engine_path, onnx_path)
