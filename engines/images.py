"""Image decoding with limits: the one place raw uploaded bytes become pixels.

Every failure is an :class:`ImageError` with a reason a client can act on; callers map it to
the API's error codes. OpenCV decodes JPEG, PNG, BMP, TIFF and PPM (the spec's image types).
"""

from __future__ import annotations

import cv2
import numpy as np

# Content types the spec accepts for raw image bodies, and the cv2 extension to encode with.
IMAGE_TYPES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/bmp": ".bmp",
    "image/tiff": ".tiff",
    "image/x-portable-pixmap": ".ppm",
}
# Types stored as sent; others are re-encoded as JPEG (GET returns image/jpeg or image/png).
KEPT_AS_IS = {"image/jpeg", "image/png"}


class ImageError(ValueError):
    """The bytes are not a usable image; the message says why."""


def probe_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header without decoding pixels, where the format allows."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """HxWx3 uint8 BGR pixels; refuses empty, corrupt, truncated or oversized images."""
    if not data:
        raise ImageError("image is empty")
    size = probe_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageError(f"image of {size[0]}x{size[1]} pixels exceeds the limit of {max_pixels} pixels")
    pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if pixels is None or pixels.size == 0:
        raise ImageError("image cannot be decoded")
    height, width = pixels.shape[:2]
    if width * height > max_pixels:
        raise ImageError(f"image of {width}x{height} pixels exceeds the limit of {max_pixels} pixels")
    if _looks_truncated(data):
        raise ImageError("image is truncated")
    return pixels


def _looks_truncated(data: bytes) -> bool:
    """OpenCV fills a cut-off JPEG with grey instead of failing; the end marker tells."""
    return data[:2] == b"\xff\xd8" and data.rstrip(b"\x00")[-2:] != b"\xff\xd9"


def encode_image(pixels: np.ndarray, content_type: str = "image/jpeg", quality: int = 95) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if content_type == "image/jpeg" else []
    ok, buffer = cv2.imencode(IMAGE_TYPES[content_type], pixels, params)
    if not ok:
        raise ImageError(f"cannot encode image as {content_type}")
    return buffer.tobytes()


def storable(data: bytes, content_type: str, max_pixels: int) -> tuple[bytes, str, np.ndarray]:
    """Validate an upload; return the bytes to keep, their content type and the pixels."""
    pixels = decode_image(data, max_pixels)
    if content_type in KEPT_AS_IS:
        return data, content_type, pixels
    return encode_image(pixels), "image/jpeg", pixels
