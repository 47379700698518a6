"""dlib HOG face detection, landmarks and head pose on real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engines.face.dlib_detector import DlibFaceDetector, margin_to_score, score_to_margin
from engines.protocols import FaceDetector
from tests.media import PEOPLE


def _inside(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = box
    return (points[:, 0] >= x1) & (points[:, 0] < x2) & (points[:, 1] >= y1) & (points[:, 1] < y2)


def test_implements_the_protocol(detector: DlibFaceDetector) -> None:
    assert isinstance(detector, FaceDetector)


@pytest.mark.parametrize("person", PEOPLE)
def test_finds_a_face_on_each_photo(detector: DlibFaceDetector, photos: dict, person: str) -> None:
    dets = detector.detect(photos[person])
    assert len(dets) >= 1
    assert dets.xyxy.dtype == np.float32 and dets.confidence.dtype == np.float32
    assert np.all(dets.class_id == 0)
    assert np.all((dets.confidence >= 0.5) & (dets.confidence <= 1.0))
    assert np.all(np.diff(dets.confidence) <= 0), "best face first"
    x1, y1, x2, y2 = dets.xyxy[0]
    assert 30 <= x2 - x1 <= 260 and 30 <= y2 - y1 <= 260


@pytest.mark.parametrize("person", PEOPLE)
def test_landmarks_lie_inside_the_box(detector: DlibFaceDetector, photos: dict, person: str) -> None:
    image = photos[person]
    box = detector.detect(image).xyxy[:1]
    points5 = detector.landmarks5(image, box)
    assert points5.shape == (1, 5, 2) and points5.dtype == np.float32
    assert _inside(points5[0], box[0]).all()
    # 68 points: the jaw line may leave dlib's tight box, eyes, brows and nose may not
    points68 = detector.landmarks68(image, box)
    assert points68.shape == (1, 68, 2)
    assert _inside(points68[0, 17:48], box[0]).all()


def test_threshold_is_a_score_in_0_1(detector: DlibFaceDetector, photos: dict, data_dir) -> None:  # type: ignore[no-untyped-def]
    # at dlib's own boundary (0.5) the astronaut's round mission patch passes as a face
    assert len(detector.detect(photos["astronaut"])) == 2
    strict = DlibFaceDetector.from_data_dir(data_dir, upsample=1, score_threshold=0.7)
    dets = strict.detect(photos["astronaut"])
    assert len(dets) == 1 and dets.xyxy[0][1] < 200, "only the real face (top of the photo) is left"


def test_score_mapping_is_monotone_and_invertible() -> None:
    margins = np.linspace(-3, 3, 61)
    scores = margin_to_score(margins)
    assert np.all(np.diff(scores) > 0) and scores.min() > 0 and scores.max() < 1
    assert margin_to_score(0.0) == pytest.approx(0.5)
    for score in (0.1, 0.5, 0.9):
        assert margin_to_score(score_to_margin(score)) == pytest.approx(score, abs=1e-6)
    with pytest.raises(ValueError):
        score_to_margin(1.0)


@pytest.mark.parametrize(
    "image",
    [
        np.full((360, 480, 3), 128, np.uint8),
        np.dstack([np.tile(((np.sin(np.arange(480) / 7.0) + 1) * 127).astype(np.uint8), (360, 1))] * 3),
        cv2.GaussianBlur(np.random.default_rng(7).integers(0, 256, (360, 480, 3), dtype=np.uint8), (9, 9), 3),
    ],
    ids=["grey", "stripes", "blurred_noise"],
)
def test_no_face_yields_zero_detections(detector: DlibFaceDetector, pipeline, image: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    assert len(detector.detect(image)) == 0
    assert pipeline.process(image) == []


def test_68_points_are_opt_in(data_dir, face_models) -> None:  # type: ignore[no-untyped-def]
    plain = DlibFaceDetector.from_data_dir(data_dir)
    assert not plain.has_landmarks68
    with pytest.raises(RuntimeError, match="opt-in"):
        plain.landmarks68(np.zeros((100, 100, 3), np.uint8), np.array([[10, 10, 60, 60]], np.float32))


def test_rejects_non_bgr_input(detector: DlibFaceDetector) -> None:
    with pytest.raises(ValueError):
        detector.detect(np.zeros((100, 100), np.uint8))


def test_head_pose_is_plausible_and_symmetric(detector: DlibFaceDetector, photos: dict) -> None:
    image = photos["grace_hopper"]
    yaw, pitch, roll = detector.head_pose(image, detector.detect(image).xyxy[:1])[0]
    assert abs(yaw) < 15 and abs(pitch) < 15 and abs(roll) < 10, "a frontal portrait"
    flipped = cv2.flip(image, 1)
    f_yaw, f_pitch, f_roll = detector.head_pose(flipped, detector.detect(flipped).xyxy[:1])[0]
    # a mirror image negates yaw and roll; landmarks on the mirror are not exactly mirrored
    assert f_yaw == pytest.approx(-yaw, abs=5) and f_roll == pytest.approx(-roll, abs=5)
    assert f_pitch == pytest.approx(pitch, abs=6)


def test_head_pose_roll_follows_an_in_plane_rotation(detector: DlibFaceDetector, photos: dict) -> None:
    image = photos["grace_hopper"]
    roll0 = detector.head_pose(image, detector.detect(image).xyxy[:1])[0, 2]
    h, w = image.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), -15, 1.0)  # negative angle = clockwise on screen
    rotated = cv2.warpAffine(image, turn, (w, h))
    roll = detector.head_pose(rotated, detector.detect(rotated).xyxy[:1])[0, 2]
    assert roll - roll0 == pytest.approx(15, abs=4)


def test_turned_face_has_a_large_yaw(detector: DlibFaceDetector, photos: dict) -> None:
    image = photos["messi"]  # looking to the side of the frame
    yaw = detector.head_pose(image, detector.detect(image).xyxy[:1])[0, 0]
    assert abs(yaw) > 25
