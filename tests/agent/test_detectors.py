"""Config picks the person detector runner by ``type``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.detectors import person_detector
from engines.person_detector import HogPersonDetector, YoloPersonDetector
from engines.runners.onnxruntime_runner import OnnxRuntimeRunner
from engines.runners.opencv_runner import OpenCvDnnRunner
from tests.conftest import make_config


@pytest.mark.parametrize(
    ("section", "kind", "runner"),
    [
        ({}, YoloPersonDetector, OnnxRuntimeRunner),  # auto on a machine without TensorRT
        ({"type": "onnxruntime", "precision": "fp32"}, YoloPersonDetector, OnnxRuntimeRunner),
        ({"type": "opencv"}, YoloPersonDetector, OpenCvDnnRunner),
        ({"type": "hog"}, HogPersonDetector, None),
    ],
)
def test_type_picks_the_runner(tmp_path: Path, section: dict, kind: type, runner: type | None) -> None:
    detector = person_detector(make_config(tmp_path, person_detector=section))
    assert isinstance(detector, kind)
    if runner is not None:
        assert isinstance(detector.runner, runner)
    assert len(detector.detect(np.zeros((240, 320, 3), np.uint8))) == 0


def test_tensorrt_without_gpu_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="TensorRT"):
        person_detector(make_config(tmp_path, person_detector={"type": "tensorrt"}))
