"""YOLO pre/post-processing, written once and shared by every runner.

The graph from ``engines.darknet_onnx`` expects ``images``: float32 NCHW, RGB, scaled to 0..1,
exactly what ``cv2.dnn.blobFromImage(frame, 1/255, size, swapRB=True, crop=False)`` gives
(a plain, aspect-distorting resize). Letterboxing is an option here; the person-detector
default and the accuracy tests use the plain resize, which is also what the OpenCV numbers in
ARCHITECTURE.md were measured with.

Tiles: a detector can run the network on several crops of the frame (``Tile`` = fractions of
the frame) and merge the results. A crop reaches the network at a larger scale than the full
frame, so small, far-away people get enough pixels; the merge drops the half-people cut at
tile borders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

# Box geometry lives in analytics.boxes; ``engines.yolo.iou_matrix`` etc. keep working.
from analytics.boxes import box_area as box_area
from analytics.boxes import intersection as intersection
from analytics.boxes import iou_matrix as iou_matrix
from analytics.detections import Detections

Tile = tuple[float, float, float, float]  # (x0, y0, x1, y1) as fractions of the frame
FULL_FRAME: tuple[Tile, ...] = ((0.0, 0.0, 1.0, 1.0),)
LETTERBOX_FILL = 0.5  # Darknet's own letterbox grey; the network saw it in training


def upper_band_tiles(band: float = 0.5, overlap: float = 0.1) -> tuple[Tile, ...]:
    """Full frame plus the upper ``band`` cut into two overlapping halves.

    Each half reaches the network at about 2x the full pass's scale, which is where a fixed
    camera looking down a scene has its smallest people. Raising ``overlap`` lets a person
    cut by the middle border be seen whole in the other half (more compute per pixel).
    """
    half = overlap / 2
    return (*FULL_FRAME, (0.0, 0.0, 0.5 + half, band), (0.5 - half, 0.0, 1.0, band))


TILE_PRESETS: dict[str, tuple[Tile, ...]] = {"full": FULL_FRAME, "upper2x": upper_band_tiles()}


def parse_tiles(spec: str | Sequence[Sequence[float]] | None) -> tuple[Tile, ...]:
    """Accept a preset name (``full``, ``upper2x``) or a list of 4-number fraction tuples."""
    if spec is None:
        return FULL_FRAME
    if isinstance(spec, str):
        if spec not in TILE_PRESETS:
            raise ValueError(f"unknown tile preset {spec!r}; choose from {sorted(TILE_PRESETS)}")
        return TILE_PRESETS[spec]
    tiles = tuple((float(a), float(b), float(c), float(d)) for a, b, c, d in spec)
    for x0, y0, x1, y1 in tiles:
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise ValueError(f"tile {(x0, y0, x1, y1)} is not inside the unit square")
    return tiles or FULL_FRAME


def tile_rect(tile: Tile, frame_w: int, frame_h: int) -> tuple[int, int, int, int]:
    """Tile fractions -> integer pixel rectangle (x0, y0, x1, y1) of the frame."""
    x0, y0, x1, y1 = tile
    return (round(x0 * frame_w), round(y0 * frame_h), round(x1 * frame_w), round(y1 * frame_h))


@dataclass(frozen=True)
class InputTransform:
    """Maps network-input pixels to frame pixels: ``frame = (net - pad) / scale + offset``.

    ``offset`` is the crop origin when the input came from a tile.
    """

    scale_x: float
    scale_y: float
    pad_x: float = 0.0
    pad_y: float = 0.0
    offset_x: float = 0.0
    offset_y: float = 0.0

    def to_frame(self, xyxy: np.ndarray) -> np.ndarray:
        scale = np.array([self.scale_x, self.scale_y] * 2, np.float32)
        pad = np.array([self.pad_x, self.pad_y] * 2, np.float32)
        offset = np.array([self.offset_x, self.offset_y] * 2, np.float32)
        return ((xyxy - pad) / scale + offset).astype(np.float32)

    def to_input(self, xyxy: np.ndarray) -> np.ndarray:
        scale = np.array([self.scale_x, self.scale_y] * 2, np.float32)
        pad = np.array([self.pad_x, self.pad_y] * 2, np.float32)
        offset = np.array([self.offset_x, self.offset_y] * 2, np.float32)
        return ((xyxy - offset) * scale + pad).astype(np.float32)


def letterbox_transform(frame_w: int, frame_h: int, in_w: int, in_h: int) -> InputTransform:
    """Keep the aspect ratio, centre the image, pad the rest (Darknet's letterbox)."""
    scale = min(in_w / frame_w, in_h / frame_h)
    new_w, new_h = round(frame_w * scale), round(frame_h * scale)
    return InputTransform(new_w / frame_w, new_h / frame_h, (in_w - new_w) // 2, (in_h - new_h) // 2)


def preprocess(
    frame_bgr: np.ndarray, input_size: tuple[int, int], letterbox: bool = False
) -> tuple[np.ndarray, InputTransform]:
    """BGR uint8 frame -> (1, 3, H, W) float32 RGB 0..1 blob and the transform back to the frame.

    ``input_size`` is (width, height). Plain resize is OpenCV's blobFromImage default;
    letterbox keeps people's proportions at the cost of grey bars (fewer useful pixels).
    """
    in_w, in_h = input_size
    frame_h, frame_w = frame_bgr.shape[:2]
    if not letterbox:
        blob = cv2.dnn.blobFromImage(frame_bgr, 1 / 255.0, (in_w, in_h), swapRB=True, crop=False)
        return blob, InputTransform(in_w / frame_w, in_h / frame_h)
    tf = letterbox_transform(frame_w, frame_h, in_w, in_h)
    new_w, new_h = round(frame_w * tf.scale_x), round(frame_h * tf.scale_y)
    resized = cv2.resize(frame_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    blob = np.full((1, 3, in_h, in_w), LETTERBOX_FILL, np.float32)
    px, py = int(tf.pad_x), int(tf.pad_y)
    blob[0, :, py : py + new_h, px : px + new_w] = resized[..., ::-1].transpose(2, 0, 1) / 255.0
    return blob, tf


def decode(
    outputs: Sequence[np.ndarray],
    input_size: tuple[int, int],
    transform: InputTransform,
    score_threshold: float,
    class_ids: Sequence[int] = (0,),
) -> Detections:
    """Graph rows -> Detections in frame pixels, before NMS.

    Score is objectness x class probability (the graph already multiplied them). A row makes
    one detection per wanted class whose score reaches ``score_threshold``.
    """
    rows = np.concatenate([np.asarray(o).reshape(-1, o.shape[-1]) for o in outputs])
    wanted = np.asarray(class_ids, np.int64)
    scores = rows[:, 5 + wanted]
    row_idx, col_idx = np.nonzero(scores >= score_threshold)
    if len(row_idx) == 0:
        return Detections.empty()
    in_w, in_h = input_size
    cx, cy, w, h = (rows[row_idx, k] for k in range(4))
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    xyxy *= np.array([in_w, in_h, in_w, in_h], np.float32)
    return Detections(
        transform.to_frame(xyxy),
        scores[row_idx, col_idx].astype(np.float32),
        wanted[col_idx].astype(np.int32),
    )


def nms(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS via cv2.dnn.NMSBoxes; returns kept indices, best score first.

    OpenCV over numpy because it measured ~25x faster here on YOLOv3-tiny's 10-40 candidates
    (0.01 ms vs 0.1-0.3 ms); ``nms_numpy`` is the reference the tests hold it to.
    """
    if len(xyxy) == 0:
        return np.zeros(0, np.int64)
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1).astype(np.float64)
    kept = cv2.dnn.NMSBoxes(xywh.tolist(), scores.astype(np.float64).tolist(), 0.0, iou_threshold)
    return np.asarray(kept, np.int64).reshape(-1)


def nms_numpy(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Vectorised greedy NMS with the same contract as ``nms`` (reference implementation)."""
    order = np.argsort(-scores, kind="stable")
    areas = box_area(xyxy)
    keep: list[int] = []
    while len(order):
        best, rest = order[0], order[1:]
        keep.append(int(best))
        lt = np.maximum(xyxy[best, :2], xyxy[rest, :2])
        rb = np.minimum(xyxy[best, 2:], xyxy[rest, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, np.int64)


def batched_nms(dets: Detections, iou_threshold: float) -> Detections:
    """Class-aware NMS: shifting each class by a large offset keeps classes apart."""
    if len(dets) == 0:
        return dets
    span = float(np.abs(dets.xyxy).max()) + 1.0
    shifted = dets.xyxy + (dets.class_id.astype(np.float32) * 2 * span)[:, None]
    return dets[nms(shifted, dets.confidence, iou_threshold)]


def border_cut_mask(
    xyxy: np.ndarray, origins: np.ndarray, frame_size: tuple[int, int], margin: float
) -> np.ndarray:
    """True where a box touches (or crosses) an edge of its tile that lies inside the frame.

    Such boxes are likely a person cut in two by the tile; edges on the frame border don't
    count because a person leaving the picture is cut the same way in every pass.
    """
    frame_w, frame_h = frame_size
    x0, y0, x1, y1 = (origins[:, k] for k in range(4))
    left = (x0 > 0) & (xyxy[:, 0] <= x0 + margin)
    top = (y0 > 0) & (xyxy[:, 1] <= y0 + margin)
    right = (x1 < frame_w) & (xyxy[:, 2] >= x1 - margin)
    bottom = (y1 < frame_h) & (xyxy[:, 3] >= y1 - margin)
    return left | top | right | bottom


def merge_tiles(
    parts: Sequence[tuple[Detections, tuple[int, int, int, int]]],
    frame_size: tuple[int, int],
    iou_threshold: float,
    border_margin: float = 4.0,
    contain_ratio: float = 0.6,
) -> Detections:
    """Merge per-tile detections (each with its tile's pixel rect) into one set.

    1. A box cut at an interior tile border is dropped when a bigger box (from any tile)
       covers at least ``contain_ratio`` of it: that bigger box is the whole person.
       Lowering ``contain_ratio`` drops more partial boxes, also next to real neighbours.
    2. Class-aware NMS across all tiles removes the plain duplicates.
    """
    dets = Detections.merge([d for d, _ in parts])
    if len(dets) == 0:
        return dets
    origins = np.concatenate([np.tile(np.asarray(r, np.float32), (len(d), 1)) for d, r in parts])
    cut = border_cut_mask(dets.xyxy, origins, frame_size, border_margin)
    if cut.any():
        areas = box_area(dets.xyxy)
        covered = intersection(dets.xyxy, dets.xyxy) / np.maximum(areas[:, None], 1e-9)
        bigger = (areas[None, :] > areas[:, None]) & (dets.class_id[None, :] == dets.class_id[:, None])
        contained = ((covered >= contain_ratio) & bigger).any(axis=1)
        dets = dets[~(cut & contained)]
    return batched_nms(dets, iou_threshold)


def clip_to_frame(dets: Detections, frame_size: tuple[int, int]) -> Detections:
    """Clip boxes to the frame; YOLO boxes of people at the edge overshoot it."""
    frame_w, frame_h = frame_size
    xyxy = dets.xyxy.copy()
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, frame_w)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, frame_h)
    return Detections(xyxy, dets.confidence, dets.class_id)
