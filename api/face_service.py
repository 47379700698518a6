"""The face models as the API uses them: off the event loop, in a small pool of worker threads.

dlib's detector and ONNX Runtime release the GIL while they compute, so inference in worker
threads keeps the server answering other requests (dlib's own descriptor does not: keep
``faces.descriptor_runner = "onnxruntime"`` on a server). The detector serialises its dlib
calls, so more ``faces.workers`` overlap extraction and I/O, not detection.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from api.config import FacesConfig
from engines.face.descriptor import make_descriptor_extractor
from engines.face.dlib_detector import DlibFaceDetector, head_pose_from_68
from engines.face.pipeline import FacePipeline
from engines.face.warp import TEMPLATE5_IN_WARP, WARP_SIZE, warp_faces

DESCRIPTOR_SIZE = 128


@dataclass(frozen=True)
class FoundFace:
    box: np.ndarray  # (4,) x1, y1, x2, y2
    score: float
    landmarks5: np.ndarray  # (5, 2)
    warp: np.ndarray  # 250x250x3 BGR
    landmarks68: np.ndarray | None = None
    head_pose: tuple[float, float, float] | None = None  # yaw, pitch, roll degrees


class FaceService:
    def __init__(self, pipeline: FacePipeline, workers: int) -> None:
        self.pipeline = pipeline
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="argus-faces")

    @classmethod
    def from_config(cls, config: FacesConfig, data_dir: str) -> FaceService:
        detector = DlibFaceDetector.from_data_dir(
            data_dir, config.upsample, config.score_threshold, enable_68=config.landmarks68
        )
        extractor = make_descriptor_extractor(data_dir, config.descriptor_runner)
        return cls(FacePipeline(detector, extractor), config.workers)

    @property
    def has_landmarks68(self) -> bool:
        return bool(getattr(self.pipeline.detector, "has_landmarks68", False))

    async def _run(self, func, *args):  # type: ignore[no-untyped-def]
        return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)

    async def find(self, pixels: np.ndarray, boxes: np.ndarray | None, details: bool) -> list[FoundFace]:
        """Faces on a photo (detected, or at the client's ``boxes``), best score first."""
        return await self._run(self._find, pixels, boxes, details)

    def _find(self, pixels: np.ndarray, boxes: np.ndarray | None, details: bool) -> list[FoundFace]:
        detector = self.pipeline.detector
        if boxes is None:
            dets = detector.detect(pixels)
            boxes, scores = dets.xyxy, dets.confidence
        else:
            scores = np.ones(len(boxes), np.float32)  # the client vouches for its boxes
        if not len(boxes):
            return []
        landmarks = detector.landmarks5(pixels, boxes)
        warps = warp_faces(pixels, landmarks)
        points68 = detector.landmarks68(pixels, boxes) if details and self.has_landmarks68 else None
        size = (pixels.shape[1], pixels.shape[0])
        return [
            FoundFace(
                boxes[i],
                float(scores[i]),
                landmarks[i],
                warps[i],
                points68[i] if points68 is not None else None,
                head_pose_from_68(points68[i], size) if points68 is not None else None,
            )
            for i in range(len(boxes))
        ]

    @staticmethod
    def from_warp(warp: np.ndarray) -> FoundFace:
        """A stored 250x250 sample is already a face: its landmarks are the template's."""
        box = np.array([0, 0, WARP_SIZE, WARP_SIZE], np.float32)
        return FoundFace(box, 1.0, TEMPLATE5_IN_WARP.astype(np.float32), warp)

    async def describe(self, warps: list[np.ndarray]) -> np.ndarray:
        """(N, 128) float32 descriptors of 250x250 warps."""
        return await self._run(self.pipeline.describe_warps, warps)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
