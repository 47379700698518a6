"""ROI rectangles, DROI polygons and overview scaling against hand-computed geometry."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Point

from analytics.detections import Detections
from analytics.regions import Droi, Rect, RegionError, fit_within, roi_rect

W, H = 768, 432


def pts(*xy: tuple[float, float]) -> list[dict[str, float]]:
    return [{"x": x, "y": y} for x, y in xy]


def droi(*polygons: list[dict[str, float]], mode: str = "abs") -> Droi:
    return Droi.from_params({"area": list(polygons), "mode": mode, "form": "common"}, W, H)


# --- ROI -------------------------------------------------------------------------------------


def test_roi_none_is_full_frame() -> None:
    assert roi_rect(None, W, H) == Rect(0, 0, W, H)


def test_roi_abs() -> None:
    roi = {"x": 100, "y": 50, "width": 200, "height": 120, "mode": "abs"}
    assert roi_rect(roi, W, H) == Rect(100, 50, 200, 120)


def test_roi_exactly_the_frame() -> None:
    assert roi_rect({"x": 0, "y": 0, "width": W, "height": H, "mode": "abs"}, W, H) == Rect(0, 0, W, H)
    full = {"x": 0, "y": 0, "width": 100, "height": 100, "mode": "percent"}
    assert roi_rect(full, W, H) == Rect(0, 0, W, H)
    touching = {"x": 568, "y": 232, "width": 200, "height": 200, "mode": "abs"}
    assert roi_rect(touching, W, H) == Rect(568, 232, 200, 200)


def test_roi_percent() -> None:
    roi = {"x": 25, "y": 10, "width": 50, "height": 50, "mode": "percent"}
    assert roi_rect(roi, W, H) == Rect(192, 43, 384, 216)  # y: 43.2 -> 43, end 259.2 -> 259


def test_roi_percent_float_sum_within_tolerance() -> None:
    roi = {"x": 30.1, "y": 0.7, "width": 69.9, "height": 99.3, "mode": "percent"}
    rect = roi_rect(roi, W, H)
    assert rect.x + rect.width == W
    assert rect.y + rect.height == H


def test_roi_percent_tiny_is_at_least_one_pixel() -> None:
    roi = {"x": 100 - 0.00001, "y": 50, "width": 0.00001, "height": 0.00001, "mode": "percent"}
    assert roi_rect(roi, W, H) == Rect(W - 1, 216, 1, 1)


def roi(x: float, y: float, width: float, height: float, mode: str) -> dict[str, object]:
    return {"x": x, "y": y, "width": width, "height": height, "mode": mode}


@pytest.mark.parametrize(
    ("region", "message"),
    [
        (roi(700, 0, 200, 10, "abs"), "roi (x=700, width=200) exceeds the frame width 768"),
        (roi(0, 400, 10, 33, "abs"), "roi (y=400, height=33) exceeds the frame height 432"),
        (roi(0, 0, 769, 432, "abs"), "roi (x=0, width=769) exceeds the frame width 768"),
        (roi(10, 10, 0, 10, "abs"), "roi size 0x10 is empty"),
        (roi(10, 10, 10, 0, "abs"), "roi size 10x0 is empty"),
        (roi(50, 0, 50.1, 10, "percent"), "roi (x=50%, width=50.1%) exceeds 100% of the frame width 768"),
        (roi(0, 60, 10, 41, "percent"), "roi (y=60%, height=41%) exceeds 100% of the frame height 432"),
    ],
)
def test_roi_too_big(region: dict[str, object], message: str) -> None:
    with pytest.raises(RegionError) as error:
        roi_rect(region, W, H)
    assert str(error.value) == message


def test_roi_bad_mode_and_empty_frame() -> None:
    with pytest.raises(RegionError, match="mode"):
        roi_rect({"x": 0, "y": 0, "width": 1, "height": 1, "mode": "px"}, W, H)
    with pytest.raises(RegionError, match="0x432"):
        roi_rect(None, 0, H)


def test_crop_is_a_view_of_the_right_shape() -> None:
    image = np.zeros((H, W, 3), dtype=np.uint8)
    rect = roi_rect({"x": 100, "y": 50, "width": 200, "height": 120, "mode": "abs"}, W, H)
    crop = rect.crop(image)
    assert crop.shape == (120, 200, 3)
    assert np.shares_memory(crop, image)
    crop[0, 0] = 255
    assert image[50, 100].tolist() == [255, 255, 255]
    assert image[49, 100].tolist() == [0, 0, 0]
    assert Rect(0, 0, W, H).crop(image).shape == (H, W, 3)


def test_to_frame_moves_crop_detections() -> None:
    dets = Detections(
        np.array([[0, 0, 10, 20]], np.float32), np.array([0.9], np.float32), np.array([0], np.int32)
    )
    moved = Rect(100, 50, 200, 120).to_frame(dets)
    assert moved.xyxy.tolist() == [[100, 50, 110, 70]]
    assert moved.xyxy.dtype == np.float32
    assert Rect(0, 0, W, H).to_frame(dets) is dets


# --- DROI ------------------------------------------------------------------------------------


SQUARE = pts((100, 100), (200, 100), (200, 200), (100, 200))


def test_droi_abs_inside_outside_and_boundary() -> None:
    region = droi(SQUARE)
    points = np.array(
        [[150, 150], [100, 100], [200, 150], [150, 200], [99.9, 150], [201, 150], [150, 99], [0, 0]]
    )
    assert region.contains(points).tolist() == [True, True, True, True, False, False, False, False]


def test_droi_percent_is_percent_of_the_frame() -> None:
    region = droi(pts((0, 0), (50, 0), (50, 50), (0, 50)), mode="percent")
    assert region.geometry.bounds == (0.0, 0.0, 384.0, 216.0)
    points = np.array([[383.9, 215.9], [384, 216], [384.1, 100], [100, 216.1]])
    assert region.contains(points).tolist() == [True, True, False, False]


def test_droi_two_polygons_union() -> None:
    other = pts((300, 300), (400, 300), (400, 400))
    overlapping = pts((150, 150), (250, 150), (250, 250), (150, 250))
    region = droi(SQUARE, other, overlapping)
    points = np.array([[120, 120], [240, 240], [390, 310], [310, 390], [220, 120], [120, 220]])
    assert region.contains(points).tolist() == [True, True, True, False, False, False]
    assert region.geometry.area == pytest.approx(100 * 100 * 2 - 50 * 50 + 100 * 100 / 2)


def test_droi_concave_polygon() -> None:
    # An "L": the notch at the top right is outside.
    region = droi(pts((0, 0), (100, 0), (100, 50), (50, 50), (50, 100), (0, 100)))
    points = np.array([[25, 75], [75, 25], [75, 75], [50, 75], [60, 60]])
    assert region.contains(points).tolist() == [True, True, False, True, False]


def test_droi_self_intersecting_polygon_is_repaired() -> None:
    # A bow tie crossing at (100, 100): two triangles, left and right.
    region = droi(pts((0, 0), (200, 200), (200, 0), (0, 200)))
    assert region.geometry.is_valid
    assert region.geometry.area == pytest.approx(2 * 200 * 100 / 2)
    points = np.array([[20, 100], [180, 100], [100, 20], [100, 180], [100, 100]])
    assert region.contains(points).tolist() == [True, True, False, False, True]


@pytest.mark.parametrize(
    "polygon",
    [pts((0, 0), (100, 100), (200, 200)), pts((10, 10), (10, 10), (10, 10)), pts((0, 0), (50, 0), (0, 0))],
)
def test_droi_zero_area_polygon_raises(polygon: list[dict[str, float]]) -> None:
    with pytest.raises(RegionError, match=r"droi area\[1\] polygon has zero area"):
        droi(SQUARE, polygon)


def test_droi_is_clipped_to_the_frame() -> None:
    region = droi(pts((700, 400), (900, 400), (900, 500), (700, 500)))
    assert region.geometry.bounds == (700.0, 400.0, 768.0, 432.0)
    with pytest.raises(RegionError, match="droi lies outside the frame 768x432"):
        droi(pts((800, 0), (900, 0), (900, 100)))
    with pytest.raises(RegionError, match="droi lies outside the frame 768x432"):
        droi(pts((100, 0), (200, 0), (200, 100), (100, 100)), mode="percent")


def test_droi_bad_mode() -> None:
    with pytest.raises(RegionError, match="droi mode"):
        Droi.from_params({"area": [SQUARE], "mode": "px", "form": "common"}, W, H)


def test_droi_empty_points() -> None:
    region = droi(SQUARE)
    for empty in (np.zeros((0, 2)), np.zeros(0)):
        mask = region.contains(empty)
        assert mask.shape == (0,)
        assert mask.dtype == bool
    assert len(region.filter(Detections.empty())) == 0


def test_droi_filter_keeps_detections_by_centre() -> None:
    region = droi(SQUARE)
    boxes = np.array(
        [
            [140, 140, 160, 160],  # centre (150, 150) inside
            [0, 0, 300, 300],  # centre (150, 150) inside although the box is larger
            [190, 190, 260, 260],  # centre (225, 225) outside although overlapping
            [180, 90, 220, 110],  # centre (200, 100) on the corner
        ],
        np.float32,
    )
    dets = Detections(boxes, np.array([0.9, 0.8, 0.7, 0.6], np.float32), np.array([0, 0, 0, 2], np.int32))
    kept = region.filter(dets)
    assert kept.xyxy.tolist() == boxes[[0, 1, 3]].tolist()
    assert kept.confidence.tolist() == pytest.approx([0.9, 0.8, 0.6])
    assert kept.class_id.tolist() == [0, 0, 2]


def test_droi_vectorised_matches_scalar_geometry() -> None:
    region = droi(
        pts((0, 0), (300, 50), (200, 300), (120, 120), (40, 260)),
        pts((400, 100), (700, 100), (700, 400), (400, 400)),
    )
    rng = np.random.default_rng(0)
    points = rng.uniform([0, 0], [W, H], size=(10_000, 2))
    mask = region.contains(points)
    assert mask.shape == (10_000,)
    # The rectangle part is exact arithmetic; the rest against shapely's scalar predicate.
    in_rect = (points[:, 0] >= 400) & (points[:, 0] <= 700) & (points[:, 1] >= 100) & (points[:, 1] <= 400)
    assert np.all(mask[in_rect])
    sample = rng.choice(10_000, 500, replace=False)
    assert mask[sample].tolist() == [region.geometry.intersects(Point(*points[i])) for i in sample]
    assert 0 < mask.sum() < 10_000


# --- fit_within -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1920, 1080, 640), (640, 360, 1 / 3)),
        ((1080, 1920, 640), (360, 640, 1 / 3)),
        ((640, 480, 640), (640, 480, 1.0)),
        ((320, 240, 640), (320, 240, 1.0)),
        ((1920, 1080, 0), (1920, 1080, 1.0)),
        ((1000, 10, 100), (100, 1, 0.1)),
        ((10000, 10, 100), (100, 1, 0.01)),
        ((1000, 999, 500), (500, 500, 0.5)),
    ],
)
def test_fit_within(size: tuple[int, int, int], expected: tuple[int, int, float]) -> None:
    width, height, scale = fit_within(*size)
    assert (width, height) == expected[:2]
    assert scale == pytest.approx(expected[2])
    assert max(width, height) <= (size[2] or max(size[:2]))


def test_fit_within_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="empty"):
        fit_within(0, 10, 100)
    with pytest.raises(ValueError, match="max_size"):
        fit_within(10, 10, -1)
