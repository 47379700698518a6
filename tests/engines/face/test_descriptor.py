"""dlib ResNet descriptors: ONNX conversion equals dlib, caching, and fidelity to dlib's pipeline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from engines.darknet_onnx import ConversionError, sha256_file
from engines.face.descriptor import (
    DESCRIPTOR_SIZE,
    DlibDescriptorExtractor,
    OnnxDescriptorExtractor,
    WarpDescriptorExtractor,
    ensure_descriptor_onnx,
    make_descriptor_extractor,
)
from engines.face.dlib_resnet_onnx import CONVERTER_ID, ONNX_NAME, SOURCE_NAME, parse_dlib_resnet
from engines.face.warp import warp_faces
from engines.protocols import DescriptorExtractor


@pytest.fixture(scope="session")
def real_warps(pipeline, photos: dict, altered: dict) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """Warps of every face found on the originals and on all their altered copies."""
    warps = []
    for image in [*photos.values(), *altered.values()]:
        warps.extend(face.warp for face in pipeline.detect(image))
    assert len(warps) == len(photos) + len(altered)
    return warps


def test_onnx_equals_dlib_on_real_warps(
    dlib_extractor: DlibDescriptorExtractor, onnx_extractor: OnnxDescriptorExtractor, real_warps: list
) -> None:
    reference = dlib_extractor.extract_warps(real_warps)
    converted = onnx_extractor.extract_warps(real_warps)
    assert reference.shape == converted.shape == (len(real_warps), DESCRIPTOR_SIZE)
    assert np.abs(reference - converted).max() < 1e-4


@pytest.mark.parametrize("kind", ["dlib", "onnxruntime"])
def test_extractor_contract(data_dir: Path, face_models: dict, real_warps: list, kind: str) -> None:
    extractor = make_descriptor_extractor(data_dir, kind)
    assert isinstance(extractor, DescriptorExtractor) and isinstance(extractor, WarpDescriptorExtractor)
    assert extractor.model_version == "100" and extractor.descriptor_size == 128
    assert len(extractor.model_sha256) == 64
    out = extractor.extract_warps(real_warps[:2])
    assert out.dtype == np.float32 and out.shape == (2, 128)
    assert np.all(np.isfinite(out)) and np.all(np.linalg.norm(out, axis=1) > 0.5)
    assert extractor.extract_warps([]).shape == (0, 128)


def test_unknown_runner_type_is_an_error(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="not one of"):
        make_descriptor_extractor(data_dir, "tensorflow")


def test_extract_from_frame_equals_extract_from_warps(
    detector,
    onnx_extractor: OnnxDescriptorExtractor,
    photos: dict,  # type: ignore[no-untyped-def]
) -> None:
    image = photos["grace_hopper"]
    landmarks = detector.landmarks5(image, detector.detect(image).xyxy)
    direct = onnx_extractor.extract(image, landmarks)
    np.testing.assert_array_equal(direct, onnx_extractor.extract_warps(warp_faces(image, landmarks)))


def _dlib_native(image: np.ndarray, box: np.ndarray, landmarks: np.ndarray, model_path: Path) -> np.ndarray:
    """dlib's own path: its chip extraction + network, straight from the photo."""
    import dlib

    x1, y1, x2, y2 = (int(v) for v in box)
    parts = dlib.points([dlib.point(int(x), int(y)) for x, y in landmarks])
    shape = dlib.full_object_detection(dlib.rectangle(x1, y1, x2 - 1, y2 - 1), parts)
    model = dlib.face_recognition_model_v1(str(model_path))
    return np.array(model.compute_face_descriptor(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), shape))


@pytest.mark.parametrize(
    ("person", "zoom", "limit"),
    [("astronaut", 1, 0.02), ("grace_hopper", 1, 0.02), ("messi", 1, 0.02), ("grace_hopper", 3, 0.08)],
)
def test_descriptors_match_dlibs_own_pipeline(
    detector,
    onnx_extractor,
    face_models: dict,
    photos: dict,
    person: str,
    zoom: int,
    limit: float,  # type: ignore[no-untyped-def]
) -> None:
    """Our warp-then-crop path vs ``compute_face_descriptor(img, shape)``; at 3x the two
    anti-aliasing pyramids differ, hence the looser limit (still far below 0.6)."""
    image = cv2.resize(photos[person], None, fx=zoom, fy=zoom) if zoom != 1 else photos[person]
    box = detector.detect(image).xyxy[0]
    landmarks = detector.landmarks5(image, box[None])
    ours = onnx_extractor.extract(image, landmarks)[0]
    reference = _dlib_native(image, box, landmarks[0], face_models[SOURCE_NAME])
    assert np.linalg.norm(ours - reference) < limit


def test_ensure_descriptor_onnx_converts_once_and_repairs(tmp_path: Path, face_models: dict) -> None:
    data = tmp_path / "data"
    path = ensure_descriptor_onnx(data)
    assert path == data / "models" / ONNX_NAME
    record = json.loads((data / "models" / (ONNX_NAME + ".json")).read_text())
    assert record["converter"] == CONVERTER_ID and record["sha256"] == sha256_file(path)
    assert record["source_sha256"] == sha256_file(face_models[SOURCE_NAME])
    meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    assert meta["source_sha256"] == record["source_sha256"]
    stamp = path.stat().st_mtime_ns
    assert ensure_descriptor_onnx(data) == path and path.stat().st_mtime_ns == stamp, "cached"
    with open(path, "r+b") as fh:  # damage one byte of the weights
        fh.seek(path.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    ensure_descriptor_onnx(data)
    assert sha256_file(path) == record["sha256"], "a damaged model is converted again"


def test_converter_refuses_what_it_does_not_know(tmp_path: Path, face_models: dict) -> None:
    with pytest.raises(ConversionError):
        parse_dlib_resnet(face_models["shape_predictor_5_face_landmarks.dat"])
    source = face_models[SOURCE_NAME]
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(source.read_bytes()[:5_000_000])
    with pytest.raises(ConversionError, match="truncated"):
        parse_dlib_resnet(truncated)
    padded = tmp_path / "padded.dat"
    shutil.copy(source, padded)
    with open(padded, "ab") as fh:
        fh.write(b"\x00")
    with pytest.raises(ConversionError, match="trailing"):
        parse_dlib_resnet(padded)


def test_parsed_network_is_dlibs_face_resnet(face_models: dict) -> None:
    net = parse_dlib_resnet(face_models[SOURCE_NAME])
    kinds = [layer.kind for layer in net.layers]
    assert kinds.count("con_4") == 29 and kinds.count("add_prev_") == 14 and kinds[-1] == "fc_2"
    assert net.input_size == (150, 150)
    np.testing.assert_allclose(net.means_rgb, (122.782, 117.001, 104.298), atol=1e-3)
    assert net.loss["distance_threshold"] == pytest.approx(0.6)
