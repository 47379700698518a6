"""Build a TensorRT engine from an ONNX model (TensorRT 10 Python API).

``python -m engines.build_trt --onnx data/models/yolov3-tiny-416.onnx --out data/models/yolov3-tiny-416.trt
[--fp16] [--workspace-mb 1024]``. Runs on the GPU machine that will use the engine: engines are
specific to the TensorRT version and GPU, which the file records (see ``trt_engine_file``).

Not verified on these CPU-only machines (TensorRT cannot be installed here); written against
the TensorRT 10 API: explicit-batch networks (``create_network(0)``),
``set_memory_pool_limit``, ``build_serialized_network``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from engines.darknet_onnx import sha256_file
from engines.trt_engine_file import EngineMeta, write_engine_file

log = logging.getLogger(__name__)


def import_tensorrt():  # type: ignore[no-untyped-def]
    """TensorRT and pycuda, or a clear error saying how to get them."""
    try:
        import pycuda.driver as cuda
        import tensorrt as trt
    except ImportError as exc:
        raise RuntimeError(
            f"TensorRT runner needs the 'gpu' extra (pip install 'argus[gpu]': tensorrt, pycuda) "
            f"on a machine with an NVIDIA GPU: {exc}"
        ) from None
    return trt, cuda


def gpu_name(cuda) -> str:  # type: ignore[no-untyped-def]
    cuda.init()
    return str(cuda.Device(0).name())


def build_engine(
    onnx_path: Path, out_path: Path, *, fp16: bool = False, workspace_mb: int = 1024
) -> EngineMeta:
    trt, cuda = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if fp16:
        if not builder.platform_has_fast_fp16:
            log.warning("this GPU has no fast FP16; building anyway")
        config.set_flag(trt.BuilderFlag.FP16)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
    meta = EngineMeta(
        model_sha256=sha256_file(onnx_path),
        input_shape=tuple(int(d) for d in network.get_input(0).shape),
        tensorrt_version=str(trt.__version__),
        gpu_name=gpu_name(cuda),
        fp16=fp16,
    )
    write_engine_file(out_path, meta, bytes(serialized))
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engines.build_trt")
    parser.add_argument("--onnx", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--fp16", action="store_true", help="allow FP16 kernels (faster, small accuracy cost)"
    )
    parser.add_argument("--workspace-mb", type=int, default=1024)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:
        meta = build_engine(args.onnx, args.out, fp16=args.fp16, workspace_mb=args.workspace_mb)
    except RuntimeError as exc:
        print(f"build_trt: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {meta}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
