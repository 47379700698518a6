"""The Darknet -> ONNX converter against OpenCV's own Darknet importer."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from engines.darknet_onnx import (
    ConversionError,
    convert_darknet,
    parse_cfg,
    read_weights,
    sha256_file,
)
from engines.runners import OnnxRuntimeRunner, OpenCvDnnRunner
from engines.yolo import preprocess

YOLO_OUTPUTS = ["yolo_16", "yolo_23"]  # the names OpenCV gives YOLOv3-tiny's two yolo layers


def without_floor(cfg_text: str) -> str:
    """OpenCV zeroes class scores <= ``thresh`` (default 0.2) unless the cfg sets it; 0 = none."""
    return cfg_text.replace("[yolo]", "[yolo]\nthresh = 0")


def opencv_darknet_outputs(cfg: Path, weights: Path, blob: np.ndarray) -> list[np.ndarray]:
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    net.setInput(blob)
    return list(net.forward(YOLO_OUTPUTS))


@pytest.fixture(scope="module")
def models(person_model: Path) -> Path:
    return person_model.parent


@pytest.fixture(scope="module")
def floorless_cfg(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "yolov3-tiny-thresh0.cfg"
    path.write_text(without_floor((models / "yolov3-tiny.corrected.cfg").read_text()))
    return path


def test_parse_cfg_reads_yolov3_tiny_layout(models: Path) -> None:
    sections = parse_cfg((models / "yolov3-tiny.corrected.cfg").read_text())
    kinds = [s.kind for s in sections]
    assert kinds[0] == "net" and len(kinds) == 25
    yolos = [s for s in sections if s.kind == "yolo"]
    assert [y.get_ints("mask") for y in yolos] == [[3, 4, 5], [1, 2, 3]]
    assert sections[12].kind == "maxpool" and sections[12].get_int("stride", 2) == 1


def test_read_weights_header_and_payload(models: Path) -> None:
    header, values = read_weights(models / "yolov3-tiny.weights")
    assert (header.major, header.minor, header.revision) == (0, 2, 0)
    # v0.2 stores `seen` as int64: a 20-byte header before the float32 payload.
    assert values.size * 4 + 20 == (models / "yolov3-tiny.weights").stat().st_size


@pytest.mark.parametrize("runner_cls", [OnnxRuntimeRunner, OpenCvDnnRunner])
def test_graph_matches_opencv_darknet_on_a_real_frame(
    runner_cls: type,
    person_model: Path,
    models: Path,
    floorless_cfg: Path,
    vtest_frames: dict[int, np.ndarray],
) -> None:
    """Both runtimes of our ONNX agree with cv2.dnn.readNetFromDarknet to 1e-4.

    OpenCV gets the corrected cfg with ``thresh = 0`` so it has no score floor either; every
    value, box and score, is compared.
    """
    blob, _ = preprocess(vtest_frames[100], (416, 416))
    expected = opencv_darknet_outputs(floorless_cfg, models / "yolov3-tiny.weights", blob)
    runner = runner_cls(person_model) if runner_cls is OpenCvDnnRunner else runner_cls(person_model, 1)
    actual = runner.run(blob)
    assert list(runner.output_names) == YOLO_OUTPUTS
    for ours, theirs in zip(actual, expected, strict=True):
        assert ours.shape == theirs.shape  # (13*13*3, 85) and (26*26*3, 85)
        np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)
    assert max(float(o[:, 5].max()) for o in actual) > 0.5  # people are in the frame


def test_opencv_default_floor_is_the_only_difference(
    person_model: Path, models: Path, vtest_frames: dict[int, np.ndarray]
) -> None:
    """Without ``thresh`` OpenCV zeroes scores <= 0.2; our graph keeps them, equal elsewhere."""
    blob, _ = preprocess(vtest_frames[100], (416, 416))
    floored = opencv_darknet_outputs(
        models / "yolov3-tiny.corrected.cfg", models / "yolov3-tiny.weights", blob
    )
    ours = OnnxRuntimeRunner(person_model, 1).run(blob)
    for mine, theirs in zip(ours, floored, strict=True):
        above = theirs[:, 5:] > 0.2
        np.testing.assert_allclose(mine[:, 5:][above], theirs[:, 5:][above], atol=1e-4)
        assert np.all(theirs[:, 5:][~above] == 0)
    assert any(((m[:, 5:] > 0.01) & (m[:, 5:] <= 0.2)).any() for m in ours)


def test_non_square_input_matches_opencv(
    models: Path, floorless_cfg: Path, tmp_path: Path, vtest_frames: dict[int, np.ndarray]
) -> None:
    out = tmp_path / "yolo-512x384.onnx"
    convert_darknet(models / "yolov3-tiny.corrected.cfg", models / "yolov3-tiny.weights", out, 512, 384)
    blob, _ = preprocess(vtest_frames[100], (512, 384))
    expected = opencv_darknet_outputs(floorless_cfg, models / "yolov3-tiny.weights", blob)
    runner = OnnxRuntimeRunner(out, 1)
    assert runner.input_shape == (1, 3, 384, 512)
    actual = runner.run(blob)
    assert [a.shape for a in actual] == [(16 * 12 * 3, 85), (32 * 24 * 3, 85)]
    for ours, theirs in zip(actual, expected, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)


def test_metadata_records_sources_shape_and_correction(person_model: Path, models: Path) -> None:
    model = onnx.load(str(person_model), load_external_data=False)
    props = {p.key: p.value for p in model.metadata_props}
    assert props["source_cfg_sha256"] == sha256_file(models / "yolov3-tiny.corrected.cfg")
    assert props["source_weights_sha256"] == sha256_file(models / "yolov3-tiny.weights")
    assert props["input_shape"] == "1,3,416,416"
    assert props["mask_correction"] == "[yolo] #2 mask 0,1,2 -> 1,2,3"
    assert model.opset_import[0].version == 13
    assert [i.name for i in model.graph.input] == ["images"]


def test_rejects_input_sizes_that_are_not_multiples_of_32(models: Path, tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="multiples of 32"):
        convert_darknet(
            models / "yolov3-tiny.corrected.cfg",
            models / "yolov3-tiny.weights",
            tmp_path / "x.onnx",
            400,
            416,
        )


TINY_CFG = """[net]
width=64
height=64
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=1

[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear

[yolo]
mask = 1,2,3
anchors = 4,6, 8,12, 16,20, 30,40
classes=2
num=4

[route]
layers = -3

[upsample]
stride=2

[route]
layers = -1, 0

[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear

[yolo]
mask = 0,1,2
anchors = 4,6, 8,12, 16,20, 30,40
classes=2
num=4
"""


def write_random_weights(path: Path, rng: np.random.Generator) -> None:
    """Weights for TINY_CFG in Darknet order, with positive batch-norm variances."""
    layers = [(3, 8, 3, True), (8, 16, 3, True), (16, 21, 1, False), (24, 21, 1, False)]
    chunks = [np.array([0, 2, 0], np.int32).tobytes(), np.array([12345], np.int64).tobytes()]
    for in_ch, filters, size, bn in layers:
        chunks.append(rng.normal(0, 0.1, filters).astype(np.float32).tobytes())
        if bn:
            chunks.append(rng.uniform(0.5, 1.5, filters).astype(np.float32).tobytes())
            chunks.append(rng.normal(0, 0.1, filters).astype(np.float32).tobytes())
            chunks.append(rng.uniform(0.05, 2.0, filters).astype(np.float32).tobytes())
        chunks.append(rng.normal(0, 0.1, filters * in_ch * size * size).astype(np.float32).tobytes())
    path.write_bytes(b"".join(chunks))


def test_synthetic_network_matches_opencv(tmp_path: Path) -> None:
    """A small cfg exercising stride-1 maxpool, route, upsample and concat, random weights."""
    rng = np.random.default_rng(7)
    cfg, weights = tmp_path / "tiny.cfg", tmp_path / "tiny.weights"
    cfg.write_text(TINY_CFG)
    write_random_weights(weights, rng)
    convert_darknet(cfg, weights, tmp_path / "tiny.onnx", 64, 64)
    blob = rng.uniform(0, 1, (1, 3, 64, 64)).astype(np.float32)
    floorless = tmp_path / "tiny-thresh0.cfg"
    floorless.write_text(without_floor(TINY_CFG))
    net = cv2.dnn.readNetFromDarknet(str(floorless), str(weights))
    net.setInput(blob)
    expected = net.forward(list(net.getUnconnectedOutLayersNames()))
    actual = OnnxRuntimeRunner(tmp_path / "tiny.onnx", 1).run(blob)
    assert [a.shape for a in actual] == [(32 * 32 * 3, 7), (64 * 64 * 3, 7)]
    for ours, theirs in zip(actual, expected, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=1e-4)


def test_weights_that_do_not_fit_the_cfg_are_rejected(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    cfg, weights = tmp_path / "tiny.cfg", tmp_path / "tiny.weights"
    cfg.write_text(TINY_CFG)
    write_random_weights(weights, rng)
    weights.write_bytes(weights.read_bytes() + np.zeros(3, np.float32).tobytes())
    with pytest.raises(ConversionError, match="left over"):
        convert_darknet(cfg, weights, tmp_path / "x.onnx", 64, 64)
    cfg.write_text(TINY_CFG.replace("[maxpool]\nsize=2\nstride=1", "[shortcut]\nfrom=-2"))
    with pytest.raises(ConversionError, match="shortcut"):
        convert_darknet(cfg, weights, tmp_path / "x.onnx", 64, 64)
