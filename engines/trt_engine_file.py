"""The Argus TensorRT engine file: metadata that pins an engine to its model, TensorRT and GPU.

A serialized TensorRT engine only works with the TensorRT version and GPU it was built for,
and silently belongs to whatever ONNX it came from. Argus wraps it:
``b"ARGUSTRT"`` + uint32 LE metadata length + metadata JSON + engine bytes, and refuses to
load an engine whose recorded model hash, TensorRT version or GPU differ from what is asked for.
Pure Python: testable without TensorRT.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

MAGIC = b"ARGUSTRT"
_LEN = struct.Struct("<I")


class EngineMismatch(RuntimeError):
    """The engine file does not fit this model, TensorRT or GPU; the message says how to rebuild."""


@dataclass(frozen=True)
class EngineMeta:
    model_sha256: str  # sha256 of the ONNX the engine was built from
    input_shape: tuple[int, ...]
    tensorrt_version: str
    gpu_name: str
    fp16: bool

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> EngineMeta:
        data = json.loads(raw)
        data["input_shape"] = tuple(data["input_shape"])
        return cls(**data)


def write_engine_file(path: Path, meta: EngineMeta, engine: bytes) -> None:
    header = meta.to_json()
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(MAGIC + _LEN.pack(len(header)) + header + engine)
    tmp.replace(path)


def read_engine_file(path: Path) -> tuple[EngineMeta, bytes]:
    blob = path.read_bytes()
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + _LEN.size:
        raise EngineMismatch(
            f"{path} is not an Argus TensorRT engine file; rebuild it with engines.build_trt"
        )
    (length,) = _LEN.unpack_from(blob, len(MAGIC))
    start = len(MAGIC) + _LEN.size
    try:
        meta = EngineMeta.from_json(blob[start : start + length])
    except (ValueError, TypeError, KeyError) as exc:
        raise EngineMismatch(f"{path} has unreadable metadata ({exc}); rebuild it") from None
    return meta, blob[start + length :]


def check_engine(
    meta: EngineMeta, *, model_sha256: str, tensorrt_version: str, gpu_name: str, path: Path | str = "engine"
) -> None:
    """Raise :class:`EngineMismatch` naming every difference; a stale engine never runs."""
    problems = []
    if meta.model_sha256 != model_sha256:
        problems.append(f"built from model {meta.model_sha256[:12]}, config asks for {model_sha256[:12]}")
    if meta.tensorrt_version != tensorrt_version:
        problems.append(f"built with TensorRT {meta.tensorrt_version}, this is TensorRT {tensorrt_version}")
    if meta.gpu_name != gpu_name:
        problems.append(f"built on GPU '{meta.gpu_name}', this GPU is '{gpu_name}'")
    if problems:
        raise EngineMismatch(
            f"TensorRT engine {path} does not fit: {'; '.join(problems)}. "
            "Rebuild it: python -m engines.build_trt --onnx MODEL.onnx --out ENGINE"
        )
