"""YOLO pre/post-processing: coordinates, decoding, NMS and the tile merge."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from analytics.detections import Detections
from engines.yolo import (
    FULL_FRAME,
    InputTransform,
    batched_nms,
    border_cut_mask,
    clip_to_frame,
    decode,
    letterbox_transform,
    merge_tiles,
    nms,
    nms_numpy,
    parse_tiles,
    preprocess,
    tile_rect,
    upper_band_tiles,
)


def dets(boxes: list[list[float]], scores: list[float], classes: list[int] | None = None) -> Detections:
    return Detections(
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(scores, np.float32),
        np.asarray(classes if classes is not None else [0] * len(scores), np.int32),
    )


def test_letterbox_geometry_for_vtest_size() -> None:
    tf = letterbox_transform(768, 576, 416, 416)
    # 768x576 scales by 416/768 to 416x312, centred with 52 px bars above and below.
    assert (tf.pad_x, tf.pad_y) == (0, 52)
    frame = np.array([[0, 0, 768, 576]], np.float32)
    np.testing.assert_allclose(tf.to_input(frame), [[0, 52, 416, 364]], atol=1e-4)


@pytest.mark.parametrize(
    "transform",
    [
        letterbox_transform(768, 576, 416, 416),
        letterbox_transform(640, 1280, 416, 416),
        InputTransform(416 / 768, 416 / 576),
        InputTransform(416 / 384, 416 / 288, offset_x=384, offset_y=0),
    ],
)
def test_coordinate_round_trip(transform: InputTransform) -> None:
    boxes = np.random.default_rng(0).uniform(0, 700, (50, 4)).astype(np.float32)
    np.testing.assert_allclose(transform.to_frame(transform.to_input(boxes)), boxes, atol=1e-3)


def test_plain_preprocess_is_opencv_blob_from_image() -> None:
    frame = np.random.default_rng(1).integers(0, 256, (576, 768, 3), dtype=np.uint8)
    blob, tf = preprocess(frame, (416, 320))
    expected = cv2.dnn.blobFromImage(frame, 1 / 255.0, (416, 320), swapRB=True, crop=False)
    assert blob.shape == (1, 3, 320, 416) and blob.dtype == np.float32
    np.testing.assert_array_equal(blob, expected)
    assert (tf.scale_x, tf.scale_y) == (416 / 768, 320 / 576)


def test_letterbox_preprocess_pads_grey_and_keeps_rgb_order() -> None:
    frame = np.zeros((576, 768, 3), np.uint8)
    frame[..., 2] = 255  # pure red in BGR
    blob, tf = preprocess(frame, (416, 416), letterbox=True)
    assert tf.pad_y == 52
    np.testing.assert_allclose(blob[0, :, :52, :], 0.5)  # bar above
    np.testing.assert_allclose(blob[0, :, 364:, :], 0.5)  # bar below
    np.testing.assert_allclose(blob[0, :, 52:364, :].mean(axis=(1, 2)), [1.0, 0.0, 0.0])


def yolo_rows(rows: list[list[float]]) -> np.ndarray:
    """Graph-style rows with 3 classes: cx, cy, w, h, objectness, 3 scores."""
    return np.asarray(rows, np.float32).reshape(-1, 8)


def test_decode_maps_rows_to_frame_pixels_and_filters_class() -> None:
    out = yolo_rows(
        [
            [0.5, 0.5, 0.25, 0.5, 0.9, 0.8, 0.05, 0.0],  # person, kept
            [0.2, 0.2, 0.1, 0.1, 0.9, 0.05, 0.85, 0.0],  # class 1 only, dropped for persons
            [0.8, 0.8, 0.1, 0.1, 0.3, 0.09, 0.0, 0.0],  # person below threshold
        ]
    )
    got = decode([out], (416, 416), InputTransform(416 / 800, 416 / 600), 0.1)
    assert len(got) == 1 and got.class_id.tolist() == [0]
    np.testing.assert_allclose(got.xyxy, [[300, 150, 500, 450]], atol=1e-3)
    np.testing.assert_allclose(got.confidence, [0.8])
    both = decode([out], (416, 416), InputTransform(1, 1), 0.1, class_ids=(0, 1))
    assert sorted(both.class_id.tolist()) == [0, 1]


def test_nms_keeps_best_of_overlapping_and_separate_boxes() -> None:
    boxes = np.array([[0, 0, 10, 20], [1, 1, 11, 21], [50, 50, 60, 70], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.6, 0.9, 0.5, 0.7], np.float32)
    # box 3 overlaps box 1 with IoU 81/219 = 0.37: below 0.45, so it stays.
    assert nms(boxes, scores, 0.45).tolist() == [1, 3, 2]
    assert nms(boxes, scores, 0.3).tolist() == [1, 2]
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.45).tolist() == []


def test_opencv_nms_matches_numpy_reference() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        xy = rng.uniform(0, 300, (60, 2))
        wh = rng.uniform(10, 80, (60, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
        scores = rng.permutation(np.linspace(0.05, 0.99, 60)).astype(np.float32)
        assert nms(boxes, scores, 0.45).tolist() == nms_numpy(boxes, scores, 0.45).tolist()


def test_batched_nms_keeps_overlapping_boxes_of_other_classes() -> None:
    d = dets([[0, 0, 10, 20], [0, 0, 10, 20], [1, 0, 10, 20]], [0.9, 0.8, 0.7], [0, 1, 0])
    kept = batched_nms(d, 0.45)
    assert sorted(kept.class_id.tolist()) == [0, 1]
    np.testing.assert_allclose(np.sort(kept.confidence), [0.8, 0.9])


def test_tiles_presets_and_validation() -> None:
    assert parse_tiles(None) == FULL_FRAME == parse_tiles("full")
    assert parse_tiles("upper2x") == upper_band_tiles()
    assert len(upper_band_tiles()) == 3
    assert tile_rect((0.45, 0.0, 1.0, 0.5), 768, 576) == (346, 0, 768, 288)
    with pytest.raises(ValueError, match="unit square"):
        parse_tiles([(0.5, 0.0, 0.4, 1.0)])
    with pytest.raises(ValueError, match="preset"):
        parse_tiles("everything")


def test_border_cut_mask_ignores_frame_edges() -> None:
    origins = np.array([[0, 0, 422, 288]] * 3, np.float32)  # left half of the upper band
    boxes = np.array(
        [
            [400, 100, 424, 180],  # crosses the tile's right edge (inside the frame): cut
            [0, 100, 20, 180],  # at the frame's left edge: not a tile cut
            [100, 240, 130, 287],  # touches the tile's bottom edge (inside the frame): cut
        ],
        np.float32,
    )
    assert border_cut_mask(boxes, origins, (768, 576), 4.0).tolist() == [True, False, True]


def test_merge_drops_half_person_cut_at_a_tile_border() -> None:
    frame = (768, 576)
    full_pass = (dets([[380, 200, 420, 320], [100, 100, 130, 180]], [0.8, 0.7]), (0, 0, 768, 576))
    band_left = (
        dets([[381, 199, 421, 288], [101, 101, 129, 181]], [0.9, 0.75]),  # person cut by band bottom
        (0, 0, 422, 288),
    )
    merged = merge_tiles([full_pass, band_left], frame, iou_threshold=0.45)
    order = np.argsort(merged.xyxy[:, 0])
    np.testing.assert_allclose(merged.xyxy[order], [[101, 101, 129, 181], [380, 200, 420, 320]])
    # Without the border rule, NMS alone (the boxes' IoU is 0.70) keeps the higher-scored
    # half box and drops the whole person.
    nms_only = merge_tiles([full_pass, band_left], frame, 0.45, contain_ratio=2.0)
    assert [380, 200, 420, 320] not in nms_only.xyxy.tolist()


def test_merge_keeps_a_small_person_next_to_a_border() -> None:
    """A border-touching box that no bigger box covers is a real person, not a cut."""
    full_pass = (dets([[300, 150, 340, 260]], [0.8]), (0, 0, 768, 576))
    band_right = (dets([[346, 40, 360, 80]], [0.6]), (346, 0, 768, 288))
    merged = merge_tiles([full_pass, band_right], (768, 576), 0.45)
    assert len(merged) == 2


def test_clip_to_frame() -> None:
    clipped = clip_to_frame(dets([[-5, -3, 800, 600]], [0.5]), (768, 576))
    np.testing.assert_array_equal(clipped.xyxy, [[0, 0, 768, 576]])
