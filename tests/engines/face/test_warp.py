"""250x250 warps: size, where the eyes land, and the exact-crop relation to dlib's 150 px chip."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engines.face.dlib_detector import DlibFaceDetector
from engines.face.warp import (
    CHIP_OFFSET,
    CHIP_SIZE,
    EYES_IN_WARP,
    TEMPLATE5_IN_WARP,
    WARP_SIZE,
    chip_from_warp,
    landmarks_in_warp,
    warp_faces,
    warp_matrix,
)
from tests.media import PEOPLE

FRONTAL = ("astronaut", "grace_hopper")  # messi5.jpg's face is turned ~45 degrees


def _best_landmarks(detector: DlibFaceDetector, image: np.ndarray) -> np.ndarray:
    return detector.landmarks5(image, detector.detect(image).xyxy[:1])


def _eyes(points5: np.ndarray) -> np.ndarray:
    """(image-left eye centre, image-right eye centre) from 5 dlib points."""
    return np.stack([points5[2:4].mean(axis=0), points5[0:2].mean(axis=0)])


@pytest.mark.parametrize("person", PEOPLE)
def test_warps_are_250_square_with_eyes_where_documented(
    detector: DlibFaceDetector, photos: dict, person: str
) -> None:
    image = photos[person]
    landmarks = _best_landmarks(detector, image)
    (warp,) = warp_faces(image, landmarks)
    assert warp.shape == (WARP_SIZE, WARP_SIZE, 3) and warp.dtype == np.uint8
    # the transform puts the photo's own landmarks on the template (least squares: a turned
    # face cannot fit all five points)
    tolerance = 3.0 if person in FRONTAL else 9.0
    mapped = landmarks_in_warp(landmarks[0], landmarks[0])
    assert np.abs(_eyes(mapped) - EYES_IN_WARP).max() < tolerance
    # and the pixels agree: detecting the face again *in the warp* finds the eyes there
    again = _best_landmarks(detector, warp)
    assert again.shape == (1, 5, 2)
    assert np.abs(_eyes(again[0]) - EYES_IN_WARP).max() < tolerance + 1


@pytest.mark.parametrize("person", PEOPLE)
def test_resnet_chip_is_a_fixed_crop_equal_to_dlibs_chip(
    detector: DlibFaceDetector, photos: dict, person: str
) -> None:
    import dlib

    image = photos[person]
    box = detector.detect(image).xyxy[0].astype(int)
    landmarks = detector.landmarks5(image, box[None])
    chip = chip_from_warp(warp_faces(image, landmarks)[0])
    assert chip.shape == (CHIP_SIZE, CHIP_SIZE, 3)
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    parts = dlib.points([dlib.point(int(x), int(y)) for x, y in landmarks[0]])
    shape = dlib.full_object_detection(dlib.rectangle(box[0], box[1], box[2] - 1, box[3] - 1), parts)
    reference = dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=0.25)
    diff = np.abs(cv2.cvtColor(chip, cv2.COLOR_BGR2RGB).astype(int) - reference.astype(int))
    assert diff.mean() < 1.0 and diff.max() <= 6, "same geometry; only bilinear rounding differs"


def test_warp_and_crop_share_one_sampling_grid(detector: DlibFaceDetector, photos: dict) -> None:
    image = photos["grace_hopper"]
    landmarks = _best_landmarks(detector, image)[0]
    matrix = warp_matrix(landmarks)
    corner = np.array([CHIP_OFFSET, CHIP_OFFSET, 1.0])
    far = np.array([CHIP_OFFSET + CHIP_SIZE - 1, CHIP_OFFSET, 1.0])
    # dlib's chip spans 150 * scale - 1 frame pixels over its 149 pixel steps
    scale = np.hypot(matrix[0, 0], matrix[1, 0])
    span = np.linalg.norm(matrix @ far - matrix @ corner)
    assert span == pytest.approx(149 * scale, rel=1e-9)
    assert TEMPLATE5_IN_WARP.shape == (5, 2)


def test_landmarks_round_trip(detector: DlibFaceDetector, photos: dict) -> None:
    image = photos["astronaut"]
    landmarks = _best_landmarks(detector, image)[0]
    inside = landmarks_in_warp(landmarks, landmarks)
    back = np.c_[inside, np.ones(5)] @ warp_matrix(landmarks).T
    np.testing.assert_allclose(back, landmarks, atol=1e-3)


def test_face_at_the_frame_edge_is_padded_black(detector: DlibFaceDetector, photos: dict) -> None:
    image = photos["grace_hopper"]
    landmarks = _best_landmarks(detector, image)
    left = int(landmarks[0, :, 0].min()) + 5  # cut through the image-left eye
    (warp,) = warp_faces(np.ascontiguousarray(image[:, left:]), landmarks - [left, 0])
    assert warp.shape == (WARP_SIZE, WARP_SIZE, 3)
    assert warp[:, :60].max() == 0, "outside the frame is black"
    assert warp[:, 150:].mean() > 40


def test_large_faces_go_through_the_pyramid(detector: DlibFaceDetector, photos: dict) -> None:
    big = cv2.resize(photos["grace_hopper"], None, fx=3, fy=3, interpolation=cv2.INTER_LINEAR)
    landmarks = _best_landmarks(detector, photos["grace_hopper"])
    (small,) = warp_faces(photos["grace_hopper"], landmarks)
    (warp,) = warp_faces(big, landmarks * 3 + 1)  # cv2.resize maps pixel x to 3x + 1
    # the same face at 3x lands on the same warp, not an aliased one
    assert np.abs(warp.astype(int) - small.astype(int)).mean() < 8


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        chip_from_warp(np.zeros((150, 150, 3), np.uint8))
    with pytest.raises(ValueError):
        warp_faces(np.zeros((100, 100), np.uint8), np.zeros((1, 5, 2)))
    assert warp_faces(np.zeros((100, 100, 3), np.uint8), np.zeros((0, 5, 2))) == []
