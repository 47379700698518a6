"""The interfaces between engines and their callers (agent, api).

Callers depend on these Protocols, never on a runtime: swapping ONNX Runtime for TensorRT or
HOG is a config ``type`` change, not a code change.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from analytics.detections import Detections


@runtime_checkable
class TensorRunner(Protocol):
    """Moves one NCHW float32 blob through a model; knows nothing about what it means.

    ``model_sha256`` and ``input_shape`` are recorded so a result can be traced to the exact
    model file and so pre-processing can check it builds blobs of the right size.
    """

    model_path: str
    model_sha256: str
    input_shape: tuple[int, ...]
    output_names: tuple[str, ...]

    def run(self, blob: np.ndarray) -> list[np.ndarray]: ...


@runtime_checkable
class Detector(Protocol):
    """Finds objects (people, for the person detectors) in one frame."""

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        """``frame_bgr``: HxWx3 uint8 BGR. Returns boxes in that frame's pixels."""
        ...


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces and their landmarks (signatures only; implemented by the face work)."""

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        """Face boxes in frame pixels; ``class_id`` is 0 for every face."""
        ...

    def landmarks5(self, frame_bgr: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        """(N, 5, 2) float32 landmark points in frame pixels, one set per box."""
        ...


@runtime_checkable
class DescriptorExtractor(Protocol):
    """Turns aligned faces into descriptors that compare by Euclidean distance / dot product."""

    model_version: str
    descriptor_size: int

    def extract(self, frame_bgr: np.ndarray, landmarks5: np.ndarray) -> np.ndarray:
        """(N, descriptor_size) float32 descriptors for the N faces given by their landmarks."""
        ...
