"""ONNX Runtime CPU runner; ``onnxruntime`` is imported only when one is built."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engines.darknet_onnx import sha256_file


class OnnxRuntimeRunner:
    """Runs an ONNX model with ONNX Runtime on the CPU.

    ``intra_op_threads``: threads one inference may use. Raising it cuts latency of a single
    stream until it reaches the core count; with several streams in parallel keep it at 1 so
    streams don't fight over cores (throughput scales by running streams side by side).
    """

    def __init__(self, model_path: str | Path, intra_op_threads: int = 1) -> None:
        import onnxruntime as ort  # lazy: the runtime is heavy and optional for HOG-only setups

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(intra_op_threads))
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.model_path = str(model_path)
        self.model_sha256 = sha256_file(Path(model_path))
        self._session = ort.InferenceSession(
            self.model_path, sess_options=options, providers=["CPUExecutionProvider"]
        )
        (model_input,) = self._session.get_inputs()
        self._input_name = model_input.name
        self.input_shape = tuple(int(d) for d in model_input.shape)
        self.output_names = tuple(o.name for o in self._session.get_outputs())
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        if tuple(blob.shape) != self.input_shape:
            raise ValueError(f"blob shape {blob.shape} != model input {self.input_shape}")
        return self._session.run(list(self.output_names), {self._input_name: blob})
