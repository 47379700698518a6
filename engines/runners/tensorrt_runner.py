"""TensorRT runner (TensorRT 10 + pycuda): same ``run(blob)`` contract as the CPU runners.

Imported lazily and only when config asks for ``tensorrt``. It refuses an engine built from
another model, TensorRT version or GPU (see ``engines.trt_engine_file``). Uses the TensorRT 10
name-based I/O API (``num_io_tensors``, ``get_tensor_name``, ``set_tensor_address``,
``execute_async_v3``) with page-locked host buffers and one CUDA stream per runner.

Not verified on these CPU-only machines: TensorRT cannot be installed here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engines.build_trt import gpu_name, import_tensorrt
from engines.darknet_onnx import sha256_file
from engines.trt_engine_file import check_engine, read_engine_file


class TensorRtRunner:
    def __init__(self, engine_path: str | Path, onnx_path: str | Path) -> None:
        trt, cuda = import_tensorrt()
        meta, engine_bytes = read_engine_file(Path(engine_path))
        check_engine(
            meta,
            model_sha256=sha256_file(Path(onnx_path)),
            tensorrt_version=str(trt.__version__),
            gpu_name=gpu_name(cuda),
            path=engine_path,
        )
        self._cuda = cuda
        self._context_owner = cuda.Device(0).retain_primary_context()
        self._context_owner.push()
        try:
            runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
            self._engine = runtime.deserialize_cuda_engine(engine_bytes)
            self._context = self._engine.create_execution_context()
            self._stream = cuda.Stream()
            self._allocate(trt)
        finally:
            self._context_owner.pop()
        self.model_path = str(onnx_path)
        self.model_sha256 = meta.model_sha256
        self.input_shape = meta.input_shape

    def _allocate(self, trt) -> None:  # type: ignore[no-untyped-def]
        self._inputs: list[tuple[str, np.ndarray, object]] = []
        self._outputs: list[tuple[str, np.ndarray, object]] = []
        for index in range(self._engine.num_io_tensors):
            name = self._engine.get_tensor_name(index)
            shape = tuple(self._engine.get_tensor_shape(name))
            dtype = trt.nptype(self._engine.get_tensor_dtype(name))
            host = self._cuda.pagelocked_empty(shape, dtype)
            device = self._cuda.mem_alloc(host.nbytes)
            self._context.set_tensor_address(name, int(device))
            is_input = self._engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (self._inputs if is_input else self._outputs).append((name, host, device))
        self.output_names = tuple(name for name, _, _ in self._outputs)

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        if tuple(blob.shape) != self.input_shape:
            raise ValueError(f"blob shape {blob.shape} != engine input {self.input_shape}")
        ((_, host_in, device_in),) = self._inputs
        self._context_owner.push()
        try:
            np.copyto(host_in, blob)
            self._cuda.memcpy_htod_async(device_in, host_in, self._stream)
            if not self._context.execute_async_v3(stream_handle=self._stream.handle):
                raise RuntimeError("TensorRT execution failed")
            for _, host, device in self._outputs:
                self._cuda.memcpy_dtoh_async(host, device, self._stream)
            self._stream.synchronize()
        finally:
            self._context_owner.pop()
        return [host.copy() for _, host, _ in self._outputs]
