"""Inputs of a generation request -> event drafts: face detections with warps and descriptors.

One draft per detected face, or one for all of them when attributes are aggregated. Images
go through the face detector; stream ``detections`` sources bring their warps already made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from api.face_service import FaceService, FoundFace
from api.image_input import InputImage


@dataclass
class Detection:
    """One face detection: its warp (the sample) and where it came from."""

    filename: str
    warp: np.ndarray
    rect: dict[str, int]
    landmarks5: list[list[int]] | None = None
    detect_time: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    detect_ts: float | None = None
    image_origin: str | None = None
    sample_id: str | None = None  # set when stored (or given as an existing sample)


@dataclass
class Draft:
    """Everything one event will be made of, before policies store anything."""

    detections: list[Detection]
    # Event fields from query parameters or stream `source_data`.
    fields: dict[str, Any] = field(default_factory=dict)
    descriptor: np.ndarray | None = None


def rect_of(box: np.ndarray, shape: tuple[int, ...]) -> dict[str, int]:
    """The spec's integer rect, clipped to the image."""
    height, width = shape[:2]
    x1, y1, x2, y2 = np.rint(box).astype(int).tolist()
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
    return {"x": x1, "y": y1, "width": max(0, x2 - x1), "height": max(0, y2 - y1)}


def detection_of(face: FoundFace, filename: str, shape: tuple[int, ...], **extra: Any) -> Detection:
    return Detection(
        filename, face.warp, rect_of(face.box, shape), np.rint(face.landmarks5).astype(int).tolist(), **extra
    )


async def detect_images(
    images: list[InputImage], faces: FaceService, multiface_policy: int
) -> list[list[Detection]]:
    """Face detections per usable image (images with errors are skipped by the caller)."""
    result = []
    for image in images:
        if image.warped:
            found = [faces.from_warp(image.pixels)]  # type: ignore[arg-type]
        else:
            boxes = None
            if image.boxes is not None:
                boxes = np.array(
                    [[b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"]] for b in image.boxes],
                    np.float32,
                )
            found = await faces.find(image.pixels, boxes, False)  # type: ignore[arg-type]
        if multiface_policy == 0 and len(found) > 1:
            found = []  # "do not process images with several detected faces"
        elif multiface_policy == 2:
            found = found[:1]
        detections = [detection_of(face, image.filename, image.pixels.shape) for face in found]  # type: ignore[union-attr]
        for detection in detections:
            detection.sample_id = image.sample_id
        result.append(detections)
    return result


def make_drafts(groups: list[list[Detection]], aggregate: bool, fields: dict[str, Any]) -> list[Draft]:
    if aggregate:
        detections = [d for group in groups for d in group]
        return [Draft(detections, dict(fields))] if detections else []
    return [Draft([d], dict(fields)) for group in groups for d in group]


async def describe(drafts: list[Draft], faces: FaceService) -> None:
    """One descriptor per draft: the mean over its detections (dlib descriptors compare by
    Euclidean distance, so the mean is the point closest to all of them)."""
    warps = [d.warp for draft in drafts for d in draft.detections]
    if not warps:
        return
    values = await faces.describe(warps)
    start = 0
    for draft in drafts:
        count = len(draft.detections)
        draft.descriptor = values[start : start + count].mean(axis=0).astype(np.float32)
        start += count
