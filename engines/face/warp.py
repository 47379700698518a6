"""250x250 face warps (LUNA "samples") from 5 dlib landmarks, in dlib's chip geometry.

Geometry. dlib aligns a face by a least-squares similarity transform (rotation + uniform
scale + shift, no shear) from the 5 landmarks to a fixed template ``TEMPLATE5`` given in
face units (``get_face_chip_details``). A chip of ``size`` pixels with padding ``p`` puts
template point ``u`` at pixel ``(p + u) / (1 + 2p) * size``. dlib's ResNet chip is 150 px with
p = 0.25, i.e. ``(0.25 + u) * 100``: 100 px per face unit.

Our warp is 250 px with ``PADDING`` = 0.75: ``(0.75 + u) * 100``, the same 100 px per face
unit shifted by 50 px. So the ResNet chip is exactly ``warp[50:200, 50:200]``: a fixed crop with
an identity resize, the same sampling grid pixel for pixel (no second interpolation). The
face (template width 1.0) spans the middle 100 px; the rest is context (hair, chin, neck).
Eye centres land at ``EYES_IN_WARP`` ~ (97.2, 96.6) and (149.8, 96.6), the nose base at
~(123.5, 137.3).

dlib maps chip pixels with two quirks that we keep, so the crop equals ``dlib.get_face_chip(img,
shape, 150, 0.25)`` to bilinear rounding (mean |difference| ~0.5 grey level; descriptors within
~0.01): the template centre goes to pixel ``(size - 1) / 2`` (not ``size / 2``), and the pixel
spacing is ``(150 * scale - 1) / 149`` frame pixels. The warp uses the 150 px chip's spacing
throughout, which is what makes the crop exact.

Large faces are first reduced by a Gaussian pyramid (``cv2.pyrDown``, as dlib does with its
``pyramid_down<2>``) until at most 2 source pixels fall on one warp pixel, so bilinear
sampling does not alias. The two pyramids differ in filter and grid, so for faces over ~2x chip
resolution (> ~300 px wide) descriptors move ~0.03-0.05 from dlib's own chip (tested), still
an order of magnitude under the 0.6 threshold. Pure numpy/OpenCV, thread-safe.
"""

from __future__ import annotations

import cv2
import numpy as np

WARP_SIZE = 250
PADDING = 0.75
PIXELS_PER_UNIT = WARP_SIZE / (1 + 2 * PADDING)  # 100, the same as dlib's 150 px chip
CHIP_SIZE = 150
CHIP_OFFSET = 50  # (PADDING - 0.25) * PIXELS_PER_UNIT: where the ResNet chip starts in the warp

# dlib's 5-point template in face units (x right, y down), in shape_predictor_5 order:
# 0/1 outer/inner corner of the eye on the image right, 2/3 outer/inner corner of the eye on the
# image left, 4 bottom of the nose. Copied from dlib's get_face_chip_details.
TEMPLATE5 = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)
TEMPLATE5_IDEAL = (PADDING + TEMPLATE5) * PIXELS_PER_UNIT  # before dlib's half-pixel convention
# Where the landmarks land in the warp (dlib puts the template centre on pixel 124.5, not 125;
# exact for a face at chip resolution, within 0.3 px for faces 40-1000 px wide).
TEMPLATE5_IN_WARP = TEMPLATE5_IDEAL - 0.5
# (image-left eye centre, image-right eye centre) in warp pixels
EYES_IN_WARP = np.stack([TEMPLATE5_IN_WARP[2:4].mean(axis=0), TEMPLATE5_IN_WARP[0:2].mean(axis=0)])


def similarity_to_image(landmarks5: np.ndarray) -> tuple[complex, complex]:
    """``frame_point = a * warp_point + b`` (points as complex numbers), in dlib's convention.

    First the least-squares similarity from the template to the landmarks (the problem dlib's
    ``find_similarity_transform`` solves; a similarity is a complex multiply-add, so this is a
    linear regression over C). Then dlib's chip convention: the template centre lands on pixel
    ``(size - 1) / 2`` and the chip spans ``size * scale - 1`` frame pixels over ``size - 1``
    chip pixels. Using the 150 px chip's spacing in the 250 px warp keeps the chip an exact crop.
    """
    pts = np.asarray(landmarks5, np.float64).reshape(5, 2)
    src = TEMPLATE5_IDEAL[:, 0] + 1j * TEMPLATE5_IDEAL[:, 1]
    dst = pts[:, 0] + 1j * pts[:, 1]
    src_c, dst_c = src - src.mean(), dst - dst.mean()
    a = complex(np.sum(dst_c * np.conj(src_c)) / np.sum(np.abs(src_c) ** 2))
    centre = a * complex(WARP_SIZE / 2, WARP_SIZE / 2) + (dst.mean() - a * src.mean())
    scale = abs(a)
    a_dlib = a * (CHIP_SIZE * scale - 1) / ((CHIP_SIZE - 1) * scale) if scale > 0 else a
    pivot = (WARP_SIZE - 1) / 2
    return a_dlib, complex(centre - a_dlib * complex(pivot, pivot))


def warp_matrix(landmarks5: np.ndarray) -> np.ndarray:
    """2x3 affine matrix mapping warp pixels to frame pixels (``cv2.WARP_INVERSE_MAP`` form)."""
    a, b = similarity_to_image(landmarks5)
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def landmarks_in_warp(landmarks5: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map frame-pixel ``points`` (M, 2) into the warp of the face given by ``landmarks5``."""
    a, b = similarity_to_image(landmarks5)
    z = (np.asarray(points, np.float64)[:, 0] + 1j * np.asarray(points, np.float64)[:, 1] - b) / a
    return np.stack([z.real, z.imag], axis=1).astype(np.float32)


def _pyramid_levels(scale: float) -> int:
    """Halvings needed so that at most 2 source pixels map onto one warp pixel."""
    levels = 0
    while scale / 2 ** (levels + 1) > 1:
        levels += 1
    return levels


def warp_face(frame_bgr: np.ndarray, landmarks5: np.ndarray) -> np.ndarray:
    """One 250x250x3 uint8 warp (same channel order as the frame); outside the frame is black."""
    matrix = warp_matrix(landmarks5)
    levels = _pyramid_levels(float(np.hypot(matrix[0, 0], matrix[1, 0])))
    source = frame_bgr
    if levels:
        corners = np.array([[0, 0, 1], [WARP_SIZE, 0, 1], [0, WARP_SIZE, 1], [WARP_SIZE, WARP_SIZE, 1]])
        mapped = corners @ matrix.T
        margin = 2 ** (levels + 2)  # the pyramid filter's reach at the deepest level
        h, w = frame_bgr.shape[:2]
        x0, y0 = (max(0, int(np.floor(v)) - margin) for v in mapped.min(axis=0))
        x1 = min(w, int(np.ceil(mapped[:, 0].max())) + margin)
        y1 = min(h, int(np.ceil(mapped[:, 1].max())) + margin)
        if x1 <= x0 or y1 <= y0:
            return np.zeros((WARP_SIZE, WARP_SIZE, 3), np.uint8)
        source = frame_bgr[y0:y1, x0:x1]
        for _ in range(levels):
            source = cv2.pyrDown(source)  # output pixel i samples input pixel 2i
        matrix = matrix.copy()
        matrix[:, 2] -= (x0, y0)
        matrix /= 2**levels
    return cv2.warpAffine(
        source,
        matrix,
        (WARP_SIZE, WARP_SIZE),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def warp_faces(frame_bgr: np.ndarray, landmarks: np.ndarray) -> list[np.ndarray]:
    """250x250x3 warps for (N, 5, 2) landmark sets in frame pixels."""
    if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 frame, got {frame_bgr.shape} {frame_bgr.dtype}")
    points = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    return [warp_face(frame_bgr, p) for p in points]


def chip_from_warp(warp: np.ndarray) -> np.ndarray:
    """The 150x150 ResNet chip inside a warp: a fixed crop, nothing resampled."""
    if warp.shape != (WARP_SIZE, WARP_SIZE, 3) or warp.dtype != np.uint8:
        raise ValueError(f"a warp must be {WARP_SIZE}x{WARP_SIZE}x3 uint8, got {warp.shape} {warp.dtype}")
    end = CHIP_OFFSET + CHIP_SIZE
    return warp[CHIP_OFFSET:end, CHIP_OFFSET:end]
