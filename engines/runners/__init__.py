"""Tensor runners: load a model file, take an NCHW blob, return the output arrays.

They know nothing about YOLO; pre/post-processing lives in ``engines.yolo``.
"""

from engines.runners.onnxruntime_runner import OnnxRuntimeRunner
from engines.runners.opencv_runner import OpenCvDnnRunner

__all__ = ["OnnxRuntimeRunner", "OpenCvDnnRunner"]
