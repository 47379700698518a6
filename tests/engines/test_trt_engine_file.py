"""The TensorRT path as far as a CPU machine can check it: engine file format and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from engines.build_trt import import_tensorrt
from engines.trt_engine_file import (
    EngineMeta,
    EngineMismatch,
    check_engine,
    read_engine_file,
    write_engine_file,
)

META = EngineMeta(
    model_sha256="a" * 64,
    input_shape=(1, 3, 416, 416),
    tensorrt_version="10.3.0",
    gpu_name="NVIDIA A10",
    fp16=True,
)


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "m.trt"
    write_engine_file(path, META, b"\x00engine-bytes\xff")
    meta, engine = read_engine_file(path)
    assert meta == META and engine == b"\x00engine-bytes\xff"


def test_matching_engine_passes() -> None:
    check_engine(META, model_sha256="a" * 64, tensorrt_version="10.3.0", gpu_name="NVIDIA A10")


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("model_sha256", "b" * 64, "built from model"),
        ("tensorrt_version", "10.4.0", "TensorRT 10.3.0"),
        ("gpu_name", "NVIDIA T4", "GPU 'NVIDIA A10'"),
    ],
)
def test_mismatch_is_refused_with_reason(field: str, value: str, named: str) -> None:
    asked = {"model_sha256": "a" * 64, "tensorrt_version": "10.3.0", "gpu_name": "NVIDIA A10", field: value}
    with pytest.raises(EngineMismatch, match=named) as info:
        check_engine(META, **asked)
    assert "engines.build_trt" in str(info.value)


def test_foreign_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.engine"
    path.write_bytes(b"a raw TensorRT plan without Argus metadata")
    with pytest.raises(EngineMismatch, match="not an Argus TensorRT engine"):
        read_engine_file(path)


def test_missing_tensorrt_is_a_clear_error() -> None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match=r"argus\[gpu\]"):
            import_tensorrt()
    else:  # on a GPU machine with TensorRT the import works
        assert import_tensorrt()
