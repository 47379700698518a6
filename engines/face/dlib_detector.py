"""dlib HOG frontal face detector with 5-point (and opt-in 68-point) landmarks and head pose.

Scores. dlib's HOG detector returns an SVM margin per box: 0 is dlib's own decision boundary,
clear frontal faces score ~1-3, look-alikes (the mission patch on scikit-image's astronaut)
~0-0.2. LUNA scores are in [0, 1], so ``score = 1 / (1 + exp(-2 * margin))``: monotone,
margin 0 -> 0.5, 1 -> 0.88, 2 -> 0.98. It is a squashing, not a calibrated probability. A score
threshold is turned back into a margin (``score_to_margin``) and handed to dlib as its
``adjust_threshold``, so the detector never computes boxes only to drop them.

Boxes are dlib's rectangles as ``x1, y1, x2, y2`` with exclusive ``x2 = right + 1``, and are
not clipped: dlib may place a face box partly outside the frame, and the landmark models need
that exact box. Callers that show boxes clip them.

68 points come from ``shape_predictor_68_face_landmarks.dat``, trained on iBUG 300-W, whose
terms exclude commercial use: off unless ``enable_68=True`` (a config opt-in).

Thread safety: dlib detector and shape-predictor objects are not safe to share between
threads, so each instance serialises its own calls with a lock. For parallel work build one
instance per thread (the models load in ~0.1 s for 5 points, ~1 s with 68). The detector scan
releases the Python GIL (measured), so it runs beside the event loop in a worker thread.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from analytics.detections import Detections
from engines.provision import ensure_face_models

SCORE_SLOPE = 2.0  # score = sigmoid(SCORE_SLOPE * margin)
FACE_CLASS = 0
LANDMARKS5_FILE = "shape_predictor_5_face_landmarks.dat"
LANDMARKS68_FILE = "shape_predictor_68_face_landmarks.dat"

# Generic 3-D head (mm-like units, x right, y up, z towards the camera, nose tip at the
# origin) for solvePnP: the six-point anthropometric model popularised by OpenCV's head-pose
# tutorials, paired with the iBUG 68 indices of the same points.
HEAD_MODEL_3D = np.array(
    [
        [0.0, 0.0, 0.0],  # 30 nose tip
        [0.0, -330.0, -65.0],  # 8 chin
        [-225.0, 170.0, -135.0],  # 36 outer corner of the eye on the image left
        [225.0, 170.0, -135.0],  # 45 outer corner of the eye on the image right
        [-150.0, -150.0, -125.0],  # 48 mouth corner on the image left
        [150.0, -150.0, -125.0],  # 54 mouth corner on the image right
    ]
)
HEAD_MODEL_INDICES = (30, 8, 36, 45, 48, 54)
# The model looks along -z with y up; the camera looks along +z with y down.
_MODEL_TO_CAMERA = np.diag([1.0, -1.0, -1.0])


def margin_to_score(margin: np.ndarray | float) -> np.ndarray:
    """dlib SVM margin -> [0, 1] score (monotone; 0 -> 0.5)."""
    return (1.0 / (1.0 + np.exp(-SCORE_SLOPE * np.asarray(margin, np.float64)))).astype(np.float32)


def score_to_margin(score: float) -> float:
    """Inverse of ``margin_to_score`` for thresholds in (0, 1)."""
    if not 0.0 < score < 1.0:
        raise ValueError(f"a score threshold must lie in (0, 1), got {score}")
    return math.log(score / (1.0 - score)) / SCORE_SLOPE


def _rectangles(boxes_xyxy: np.ndarray) -> list:
    import dlib

    boxes = np.rint(np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)).astype(int)
    return [dlib.rectangle(int(x1), int(y1), int(x2) - 1, int(y2) - 1) for x1, y1, x2, y2 in boxes]


def head_pose_from_68(points68: np.ndarray, frame_size: tuple[int, int]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from 68 landmarks of a frame of (width, height).

    ``cv2.solvePnP`` fits ``HEAD_MODEL_3D`` with a pinhole camera guessed from the frame
    (focal length = width, principal point = centre, no distortion). Signs: yaw > 0 when the
    nose points towards the image's left, pitch > 0 when it points down, roll > 0 when the face
    is turned clockwise in the image. Honest accuracy: a generic rigid head and a guessed focal
    length give errors of several degrees (typically 5-10, worse past ~45 degrees of yaw, where
    the 68-point model itself degrades). Expressions move the mouth corners and chin, which the
    rigid model reads as pitch: scikit-image's astronaut (near frontal, broad smile) reads ~25
    degrees of pitch. Roll is the most reliable (an in-plane turn of 15 degrees reads 15 +- 2.5
    on the test photos). Use it to reject clearly non-frontal faces, not as a measurement.
    """
    width, height = frame_size
    camera = np.array([[width, 0, width / 2], [0, width, height / 2], [0, 0, 1]], np.float64)
    image_points = np.asarray(points68, np.float64)[list(HEAD_MODEL_INDICES)]
    # Start from a frontal head at the distance the eye span implies: without a start the
    # iterative solver can settle on the mirrored solution for strongly turned faces.
    eye_span = max(float(np.linalg.norm(image_points[3] - image_points[2])), 1.0)
    depth = width * (HEAD_MODEL_3D[3, 0] - HEAD_MODEL_3D[2, 0]) / eye_span
    nose = image_points[0] - (width / 2, height / 2)
    rvec = np.array([[math.pi], [0.0], [0.0]])  # Rodrigues form of _MODEL_TO_CAMERA
    tvec = np.array([[nose[0] * depth / width], [nose[1] * depth / width], [depth]])
    ok, rvec, _tvec = cv2.solvePnP(
        HEAD_MODEL_3D, image_points, camera, None, rvec, tvec, True, cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        return (math.nan, math.nan, math.nan)
    rotation = cv2.Rodrigues(rvec)[0] @ _MODEL_TO_CAMERA  # identity for a frontal face
    # rotation = Rz(roll) @ Ry(yaw) @ Rx(pitch)
    yaw = math.asin(float(np.clip(-rotation[2, 0], -1.0, 1.0)))
    pitch = math.atan2(rotation[2, 1], rotation[2, 2])
    roll = math.atan2(rotation[1, 0], rotation[0, 0])
    return (math.degrees(yaw), math.degrees(pitch), math.degrees(roll))


class DlibFaceDetector:
    """``FaceDetector`` on dlib's HOG + linear SVM frontal face detector.

    Knobs:
    * ``upsample``: times dlib doubles the image before scanning. The smallest face found is
      ~80 px at 0, ~40 px at 1, ~20 px at 2; each step costs ~4x time (512x512 here: ~20, ~90,
      ~400 ms; 1280x720: ~90, ~420, ~1600 ms).
    * ``score_threshold`` (see module doc): lowering it finds more turned or small faces and more
      false ones; 0.5 is dlib's own boundary (margin 0).
    * ``enable_68``: load the 68-point model (non-commercial iBUG 300-W terms).
    """

    def __init__(
        self,
        landmarks5_path: str | Path,
        upsample: int = 1,
        score_threshold: float = 0.5,
        landmarks68_path: str | Path | None = None,
    ) -> None:
        import dlib  # lazy: only face work needs it

        if upsample < 0:
            raise ValueError(f"upsample must be >= 0, got {upsample}")
        self.upsample = int(upsample)
        self.score_threshold = float(score_threshold)
        self._margin_threshold = score_to_margin(self.score_threshold)
        self._detector = dlib.get_frontal_face_detector()
        self._predictor5 = dlib.shape_predictor(str(landmarks5_path))
        self._predictor68 = dlib.shape_predictor(str(landmarks68_path)) if landmarks68_path else None
        self._lock = threading.Lock()

    @classmethod
    def from_data_dir(
        cls, data_dir: str | Path, upsample: int = 1, score_threshold: float = 0.5, enable_68: bool = False
    ) -> DlibFaceDetector:
        """Build from the provisioned face models (``engines.provision.ensure_face_models``)."""
        paths = ensure_face_models(data_dir)
        return cls(
            paths[LANDMARKS5_FILE], upsample, score_threshold, paths[LANDMARKS68_FILE] if enable_68 else None
        )

    @property
    def has_landmarks68(self) -> bool:
        return self._predictor68 is not None

    @staticmethod
    def _rgb(frame_bgr: np.ndarray) -> np.ndarray:
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 frame, got {frame_bgr.shape} {frame_bgr.dtype}")
        return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        """Face boxes (class 0), best score first."""
        rgb = self._rgb(frame_bgr)
        with self._lock:
            rects, margins, _ = self._detector.run(rgb, self.upsample, self._margin_threshold)
        if not rects:
            return Detections.empty()
        xyxy = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], np.float32)
        scores = margin_to_score(np.array(margins))
        order = np.argsort(-scores, kind="stable")
        return Detections(xyxy[order], scores[order], np.full(len(rects), FACE_CLASS, np.int32))

    def _shapes(
        self, predictor: Any, frame_bgr: np.ndarray, boxes_xyxy: np.ndarray, parts: int
    ) -> np.ndarray:
        rgb = self._rgb(frame_bgr)
        rects = _rectangles(boxes_xyxy)
        out = np.zeros((len(rects), parts, 2), np.float32)
        with self._lock:
            for i, rect in enumerate(rects):
                shape = predictor(rgb, rect)
                out[i] = [(shape.part(j).x, shape.part(j).y) for j in range(parts)]
        return out

    def landmarks5(self, frame_bgr: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        """(N, 5, 2) points in frame pixels, in ``engines.face.warp.TEMPLATE5`` order."""
        return self._shapes(self._predictor5, frame_bgr, boxes_xyxy, 5)

    def landmarks68(self, frame_bgr: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        """(N, 68, 2) iBUG points; only with ``enable_68`` (non-commercial model terms)."""
        if self._predictor68 is None:
            raise RuntimeError("68-point landmarks are disabled: the iBUG 300-W model is opt-in (enable_68)")
        return self._shapes(self._predictor68, frame_bgr, boxes_xyxy, 68)

    def head_pose(self, frame_bgr: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        """(N, 3) float32 yaw, pitch, roll in degrees (see ``head_pose_from_68``); needs 68 points."""
        points = self.landmarks68(frame_bgr, boxes_xyxy)
        size = (frame_bgr.shape[1], frame_bgr.shape[0])
        return np.array([head_pose_from_68(p, size) for p in points], np.float32).reshape(-1, 3)
