"""OpenCV DNN runner for ONNX models: no extra dependency beyond opencv-python-headless."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engines.darknet_onnx import sha256_file


def onnx_signature(path: Path) -> tuple[tuple[int, ...], tuple[str, ...], dict[str, str]]:
    """(input shape, output names, metadata props) read from the ONNX file itself.

    OpenCV does not expose the graph's declared input shape, and the runner must refuse blobs
    the model was not converted for.
    """
    import onnx  # only needed here; keeps importing the runners package light

    model = onnx.load(str(path), load_external_data=False)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    shape = tuple(int(d.dim_value) for d in dims)
    outputs = tuple(o.name for o in model.graph.output)
    return shape, outputs, {p.key: p.value for p in model.metadata_props}


class OpenCvDnnRunner:
    """Runs an ONNX model with ``cv2.dnn`` on the CPU (OpenCV's own thread pool)."""

    def __init__(self, model_path: str | Path) -> None:
        self.model_path = str(model_path)
        self.model_sha256 = sha256_file(Path(model_path))
        self.input_shape, self.output_names, self.metadata = onnx_signature(Path(model_path))
        self._net = cv2.dnn.readNetFromONNX(self.model_path)
        self._net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self._net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        if tuple(blob.shape) != self.input_shape:
            raise ValueError(f"blob shape {blob.shape} != model input {self.input_shape}")
        self._net.setInput(blob)
        # Copies: OpenCV may hand out views of buffers the next forward() overwrites.
        return [np.array(o, copy=True) for o in self._net.forward(list(self.output_names))]
