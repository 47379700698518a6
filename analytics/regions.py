"""Frame geometry from request parameters: ROI rectangle, DROI polygons, overview scaling.

* ROI (``roi``) is the rectangle analytics run on; the spec says it must not be any bigger
  than the frame, so overflow raises :class:`RegionError` instead of being clipped.
* DROI (``droi``) filters detections by their box centre. Its coordinates are in the
  coordinate system of the whole (already rotated) frame, *not* relative to the ROI, so one
  DROI stays valid whatever ROI is chosen; detections found on an ROI crop must be moved back
  to frame coordinates (:meth:`Rect.to_frame`) before filtering. Percent mode is percent of the
  frame width/height. The union of the polygons is clipped to the frame; a DROI with nothing
  left inside the frame, or a polygon of zero area, is an error.
* A centre on a DROI boundary counts as inside (``intersects`` semantics), so a person
  standing exactly on the drawn line is not dropped.

Coordinates are pixels with the origin at the top-left corner, x to the right, y down.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from analytics.detections import Detections

# Percent values are floats from JSON: 30.1 + 69.9 may exceed 100 by an ulp.
PERCENT_TOLERANCE = 1e-6


class RegionError(ValueError):
    """Geometry that cannot apply to this frame (message names the field and sizes)."""


@dataclass(frozen=True)
class Rect:
    """Axis-aligned pixel rectangle inside a frame."""

    x: int
    y: int
    width: int
    height: int

    def crop(self, image: np.ndarray) -> np.ndarray:
        """A view (no copy) of the rectangle in an (H, W, ...) image."""
        return image[self.y : self.y + self.height, self.x : self.x + self.width]

    def to_frame(self, detections: Detections) -> Detections:
        """Detections found on :meth:`crop` moved to full-frame coordinates."""
        if self.x == 0 and self.y == 0:
            return detections
        offset = np.array([self.x, self.y, self.x, self.y], dtype=np.float32)
        return Detections(detections.xyxy + offset, detections.confidence, detections.class_id)


def _check_frame(frame_width: int, frame_height: int) -> None:
    if frame_width < 1 or frame_height < 1:
        raise RegionError(f"frame size {frame_width}x{frame_height} is empty")


def _round(value: float) -> int:
    """Half-up rounding (Python's ``round`` is half-to-even, which shifts edges unevenly)."""
    return math.floor(value + 0.5)


def _percent_span(start: float, size: float, frame_size: int) -> tuple[int, int]:
    """Pixel (offset, size) of a percent span; edges are rounded so adjacent spans tile."""
    first = min(_round(start * frame_size / 100), frame_size - 1)
    last = min(max(_round((start + size) * frame_size / 100), first + 1), frame_size)
    return first, last - first


def roi_rect(roi: Mapping[str, Any] | None, frame_width: int, frame_height: int) -> Rect:
    """The ROI in pixels of this frame; ``None`` means the full frame."""
    _check_frame(frame_width, frame_height)
    if roi is None:
        return Rect(0, 0, frame_width, frame_height)
    mode = roi.get("mode")
    if mode == "abs":
        x, y, width, height = (int(roi[k]) for k in ("x", "y", "width", "height"))
        if width < 1 or height < 1:
            raise RegionError(f"roi size {width}x{height} is empty")
        if x + width > frame_width:
            raise RegionError(f"roi (x={x}, width={width}) exceeds the frame width {frame_width}")
        if y + height > frame_height:
            raise RegionError(f"roi (y={y}, height={height}) exceeds the frame height {frame_height}")
        return Rect(x, y, width, height)
    if mode == "percent":
        px, py, pw, ph = (float(roi[k]) for k in ("x", "y", "width", "height"))
        if px + pw > 100 + PERCENT_TOLERANCE:
            raise RegionError(f"roi (x={px:g}%, width={pw:g}%) exceeds 100% of the frame width {frame_width}")
        if py + ph > 100 + PERCENT_TOLERANCE:
            raise RegionError(
                f"roi (y={py:g}%, height={ph:g}%) exceeds 100% of the frame height {frame_height}"
            )
        x, width = _percent_span(px, pw, frame_width)
        y, height = _percent_span(py, ph, frame_height)
        return Rect(x, y, width, height)
    raise RegionError(f"roi mode must be 'abs' or 'percent', got {mode!r}")


def _polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """Only the areal parts: ``make_valid`` may return lines alongside polygons."""
    if isinstance(geometry, shapely.GeometryCollection):
        parts = [g for g in geometry.geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        return shapely.unary_union(parts) if parts else Polygon()
    return geometry


class Droi:
    """Detection region of interest: union of polygons (shapely, prepared)."""

    def __init__(self, geometry: BaseGeometry) -> None:
        self.geometry = geometry
        shapely.prepare(self.geometry)

    @classmethod
    def from_params(cls, droi: Mapping[str, Any], frame_width: int, frame_height: int) -> Droi:
        """Polygons of the request's ``droi`` in pixels of the whole frame, repaired and unioned."""
        _check_frame(frame_width, frame_height)
        mode = droi.get("mode")
        if mode == "abs":
            sx = sy = 1.0
        elif mode == "percent":
            sx, sy = frame_width / 100, frame_height / 100
        else:
            raise RegionError(f"droi mode must be 'abs' or 'percent', got {mode!r}")
        polygons = []
        for i, vertices in enumerate(droi["area"]):
            polygon = Polygon([(float(v["x"]) * sx, float(v["y"]) * sy) for v in vertices])
            if not polygon.is_valid:  # self-intersecting "bow tie" and the like
                polygon = _polygonal(shapely.make_valid(polygon))
            if polygon.area <= 0:
                raise RegionError(f"droi area[{i}] polygon has zero area")
            polygons.append(polygon)
        if not polygons:
            raise RegionError("droi area has no polygons")
        union = shapely.unary_union(polygons).intersection(box(0, 0, frame_width, frame_height))
        union = _polygonal(union)
        if union.area <= 0:
            raise RegionError(f"droi lies outside the frame {frame_width}x{frame_height}")
        return cls(union)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) x, y points -> (N,) bool; points on the boundary are inside."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(points) == 0:
            return np.zeros(0, dtype=bool)
        return shapely.intersects_xy(self.geometry, points[:, 0], points[:, 1])

    def filter(self, detections: Detections) -> Detections:
        """Detections whose box centre (full-frame coordinates) lies in the region."""
        if len(detections) == 0:
            return detections
        return detections[self.contains(detections.centers)]


def fit_within(width: int, height: int, max_size: int) -> tuple[int, int, float]:
    """(new_width, new_height, scale) scaled down, never up, so no side exceeds ``max_size``.

    ``max_size`` 0 means no limit (``image_retain_policy.max_size``).
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size {width}x{height} is empty")
    if max_size < 0:
        raise ValueError(f"max_size must be >= 0, got {max_size}")
    longest = max(width, height)
    if max_size == 0 or longest <= max_size:
        return width, height, 1.0
    scale = max_size / longest
    new_width = min(max(1, _round(width * scale)), max_size)
    new_height = min(max(1, _round(height * scale)), max_size)
    return new_width, new_height, scale
