"""Photo -> faces: detect, 5 landmarks, 250x250 warps, descriptors; and descriptor similarity.

Similarity. dlib descriptors compare by Euclidean distance ``d``; dlib publishes 0.6 as its
same-person threshold (99.38% on LFW). LUNA reports a similarity in [0, 1], so::

    similarity = 1 / (1 + exp((d - 0.6) / SIMILARITY_SPREAD)),  SIMILARITY_SPREAD = 0.2 / ln(19)

Why this shape: d = 0.6 maps to ``MATCH_THRESHOLD`` = 0.5, so the match threshold sits in the
middle of the scale and "similarity >= 0.5" is exactly dlib's published rule; and dlib's working
range around it (0.4, typical for two photos of one person, to 0.8, typical for two different
people) spans 0.95 -> 0.05, so the number reads the way LUNA clients expect (same person near
1, strangers near 0) while staying monotone (1:N ranking is unchanged). It is a squashing,
not a calibrated probability. ``distance_from_similarity`` inverts it for thresholds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.face.descriptor import WarpDescriptorExtractor, make_descriptor_extractor
from engines.face.dlib_detector import DlibFaceDetector
from engines.face.warp import warp_faces
from engines.protocols import FaceDetector

MATCH_DISTANCE = 0.6  # dlib's published same-person distance threshold
MATCH_THRESHOLD = 0.5  # the similarity MATCH_DISTANCE maps to
SIMILARITY_SPREAD = 0.2 / math.log(19.0)  # ~0.068: d = 0.4 -> 0.95, d = 0.8 -> 0.05


def similarity_from_distance(distance: np.ndarray | float) -> np.ndarray:
    """Euclidean distance between dlib descriptors -> similarity in [0, 1] (float32)."""
    z = (np.asarray(distance, np.float64) - MATCH_DISTANCE) / SIMILARITY_SPREAD
    return (0.5 * (1.0 - np.tanh(z / 2.0))).astype(np.float32)  # = 1/(1+e^z), overflow-free


def distance_from_similarity(similarity: float) -> float:
    """Inverse of ``similarity_from_distance``: the distance a similarity threshold means."""
    if not 0.0 < similarity < 1.0:
        raise ValueError(f"similarity must lie in (0, 1), got {similarity}")
    return MATCH_DISTANCE + SIMILARITY_SPREAD * math.log((1.0 - similarity) / similarity)


def euclidean_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) distances between rows of ``a`` (N, D) and ``b`` (M, D), by one matrix product."""
    a = np.asarray(a, np.float32).reshape(-1, np.shape(a)[-1])
    b = np.asarray(b, np.float32).reshape(-1, np.shape(b)[-1])
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(squared, 0.0))


def similarity_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) similarities in [0, 1] between two sets of descriptors."""
    return similarity_from_distance(euclidean_distances(a, b))


@dataclass(frozen=True)
class Face:
    """One face found on a photo, with everything /6/detector and /6/extractor report."""

    box: np.ndarray  # (4,) float32 x1, y1, x2, y2 in photo pixels (not clipped, see detector)
    score: float  # detector score in [0, 1]
    landmarks5: np.ndarray  # (5, 2) float32 photo pixels
    warp: np.ndarray  # 250x250x3 uint8 BGR sample
    descriptor: np.ndarray | None  # (128,) float32, None when not extracted


class FacePipeline:
    """Detector + landmarks + warp + extractor for still photos.

    ``max_faces`` keeps the best-scoring faces only (LUNA's ``detect_multiple`` off = 1);
    None keeps all. The pipeline holds no per-call state; its detector and extractor
    serialise their own dlib calls, so one pipeline may be shared, at the cost of queuing.
    """

    def __init__(
        self,
        detector: FaceDetector,
        extractor: WarpDescriptorExtractor | None = None,
        max_faces: int | None = None,
    ) -> None:
        self.detector = detector
        self.extractor = extractor
        self.max_faces = max_faces

    @classmethod
    def from_data_dir(
        cls,
        data_dir: str | Path,
        descriptor_runner: str = "onnxruntime",
        upsample: int = 1,
        score_threshold: float = 0.5,
        max_faces: int | None = None,
    ) -> FacePipeline:
        """The default stack: dlib HOG + 5 points, descriptors on ``descriptor_runner``."""
        detector = DlibFaceDetector.from_data_dir(data_dir, upsample, score_threshold)
        return cls(detector, make_descriptor_extractor(data_dir, descriptor_runner), max_faces)

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        """Faces with boxes, scores, landmarks and warps (no descriptors), best score first."""
        dets = self.detector.detect(frame_bgr)
        order = np.argsort(-dets.confidence, kind="stable")[: self.max_faces]
        dets = dets[order]
        if not len(dets):
            return []
        landmarks = self.detector.landmarks5(frame_bgr, dets.xyxy)
        warps = warp_faces(frame_bgr, landmarks)
        return [
            Face(dets.xyxy[i], float(dets.confidence[i]), landmarks[i], warps[i], None)
            for i in range(len(dets))
        ]

    def process(self, frame_bgr: np.ndarray) -> list[Face]:
        """``detect`` plus one descriptor per face."""
        faces = self.detect(frame_bgr)
        if not faces:
            return faces
        descriptors = self.describe_warps([f.warp for f in faces])
        return [Face(f.box, f.score, f.landmarks5, f.warp, descriptors[i]) for i, f in enumerate(faces)]

    def describe_warps(self, warps: list[np.ndarray]) -> np.ndarray:
        """(N, 128) descriptors of 250x250 warps (what /6/extractor receives as samples)."""
        if self.extractor is None:
            raise RuntimeError("this pipeline has no descriptor extractor")
        return self.extractor.extract_warps(warps)
