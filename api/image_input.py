"""Images in a detector-style request: raw, base64, multipart, JSON (base64 / URLs / samples).

Everything a request can carry becomes a list of :class:`InputImage`. A per-image problem
(undecodable, download refused) is kept on that image, so a multi-image request answers
per image as LUNA does; a malformed request as a whole raises :class:`LunaError`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import BodyPartReader, web

from api import errors
from api.errors import ErrorKind, LunaError
from api.fetch import FetchError, download
from api.keys import BLOBS, CONFIG
from api.validation import UUID_RE, validate
from engines.images import IMAGE_TYPES, ImageError, decode_image

BASE64_TYPES = {
    "image/x-jpeg-base64": "image/jpeg",
    "image/x-png-base64": "image/png",
    "image/x-bmp-base64": "image/bmp",
    "image/x-tiff-base64": "image/tiff",
    "image/x-portable-pixmap-base64": "image/x-portable-pixmap",
}
MAX_IMAGES = 8
RAW_FILENAME = "Raw Image"
RECT = {
    "type": "object",
    "required": ["x", "y", "width", "height"],
    "additionalProperties": False,
    "properties": {k: {"type": "integer", "minimum": 0} for k in ("x", "y", "width", "height")},
}
BOXES = {"type": "array", "items": RECT, "minItems": 1}
JSON_SCHEMA = {
    "oneOf": [
        {
            "type": "object",
            "required": ["image", "mimetype", "face_bounding_boxes"],
            "additionalProperties": False,
            "properties": {
                "image": {"type": "string"},
                "mimetype": {"enum": sorted(BASE64_TYPES)},
                "face_bounding_boxes": BOXES,
                "trusted_detections": {"enum": [0, 1]},
            },
        },
        {
            "type": "object",
            "required": ["urls"],
            "additionalProperties": False,
            "properties": {
                "urls": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_IMAGES,
                    "items": {
                        "type": "object",
                        "required": ["url"],
                        "additionalProperties": False,
                        "properties": {
                            "url": {"type": "string"},
                            "face_bounding_boxes": BOXES,
                            "trusted_detections": {"enum": [0, 1]},
                        },
                    },
                }
            },
        },
        {
            "type": "object",
            "required": ["samples"],
            "additionalProperties": False,
            "properties": {
                "samples": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_IMAGES,
                    "items": {"type": "string", "pattern": UUID_RE},
                }
            },
        },
    ]
}
DOWNLOAD_FAILED = ErrorKind(11027, "External request failed", 400)
BAD_IMAGE_TYPE = ErrorKind(11028, "Bad/incomplete input data", 400)
BAD_MULTIPART_IMAGE = ErrorKind(11029, "Bad/incomplete input data", 400)
UNKNOWN_PART = ErrorKind(12039, "Bad/incomplete input data", 400)
DUPLICATE_PART = ErrorKind(12040, "Bad/incomplete input data", 400)


@dataclass
class InputImage:
    filename: str
    pixels: np.ndarray | None = None
    error: LunaError | None = None
    # Boxes given by the client (x, y, width, height); None = detect.
    boxes: list[dict[str, int]] | None = None
    # A stored face sample (250x250 warp): detection is skipped.
    warped: bool = False
    sample_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _decode(request: web.Request, filename: str, data: bytes, boxes: list | None = None) -> InputImage:
    try:
        pixels = decode_image(data, request.app[CONFIG].images.max_pixels)
    except ImageError as exc:
        return InputImage(filename, error=LunaError(errors.BAD_IMAGE, f"Bad/incomplete input data: {exc}"))
    return InputImage(filename, pixels, boxes=boxes)


def _unbase64(data: bytes | str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise LunaError(errors.BAD_BASE64, "Failed convert data from base64 to bytes") from None


@dataclass
class ImageRequest:
    images: list[InputImage]
    # Dynamic handlers' policies, from a multipart "policies" part.
    policies: dict[str, Any] | None = None


async def read_images(request: web.Request, accept_policies: bool = False) -> ImageRequest:
    content_type = request.content_type
    if content_type in IMAGE_TYPES:
        return ImageRequest([_decode(request, RAW_FILENAME, await request.read())])
    if content_type in BASE64_TYPES:
        return ImageRequest([_decode(request, RAW_FILENAME, _unbase64(await request.read()))])
    if content_type == "multipart/form-data":
        return await _multipart(request, accept_policies)
    if content_type == "application/json":
        return ImageRequest(await _json(request))
    raise LunaError(errors.BAD_CONTENT_TYPE, "Bad content type")


async def _json(request: web.Request) -> list[InputImage]:
    raw = await request.read()
    if not raw.strip():
        raise LunaError(errors.NO_JSON, "Request does not contain json")
    try:
        body = validate(json.loads(raw), JSON_SCHEMA)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.bad_json("", f"invalid json: {exc}") from None
    if "image" in body:
        return [_decode(request, RAW_FILENAME, _unbase64(body["image"]), body["face_bounding_boxes"])]
    if "urls" in body:
        return [
            await _from_url(request, item["url"], item.get("face_bounding_boxes")) for item in body["urls"]
        ]
    return [await _from_sample(request, sample_id) for sample_id in body["samples"]]


async def _from_url(request: web.Request, url: str, boxes: list | None) -> InputImage:
    config = request.app[CONFIG]
    try:
        data, content_type = await download(url, config.fetch, config.server.client_max_size)
    except FetchError as exc:
        return InputImage(
            url, error=LunaError(DOWNLOAD_FAILED, f"Failed to download image by url '{url}': {exc}")
        )
    if content_type not in IMAGE_TYPES:
        return InputImage(url, error=LunaError(BAD_IMAGE_TYPE, f"Bad content type of image '{url}'"))
    return _decode(request, url, data, boxes)


async def _from_sample(request: web.Request, sample_id: str) -> InputImage:
    from api.responses import principal  # late: responses imports auth, which is heavier

    stored = await request.app[BLOBS].get("face_sample", sample_id, principal(request).read_scope())
    if stored is None:
        return InputImage(
            sample_id, error=LunaError(errors.IMAGE_NOT_FOUND, f"Image with id '{sample_id}' not found")
        )
    image = _decode(request, sample_id, stored.data)
    image.warped, image.sample_id = True, sample_id
    return image


async def _multipart(request: web.Request, accept_policies: bool) -> ImageRequest:
    images: list[InputImage] = []
    boxes: dict[str, list] = {}
    policies: dict[str, Any] | None = None
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader):
            raise LunaError(UNKNOWN_PART, "Nested multipart bodies are not supported")
        if part.name == "face_bounding_boxes":
            if boxes:
                raise LunaError(DUPLICATE_PART, "Duplicate multipart name 'face_bounding_boxes'")
            boxes = _boxes_part(await part.read())
        elif part.name == "policies" and accept_policies:
            if policies is not None:
                raise LunaError(DUPLICATE_PART, "Duplicate multipart name 'policies'")
            policies = _json_part(await part.read(), "policies")
        elif part.name == "image" or part.filename:
            images.append(await _image_part(request, part, {i.filename for i in images}))
        else:
            raise LunaError(UNKNOWN_PART, f"Unknown multipart name '{part.name}'")
        if len(images) > MAX_IMAGES:
            raise errors.bad_json("image", f"at most {MAX_IMAGES} images per request")
    if not images:
        raise errors.bad_json("image", "at least one image part is required")
    for image in images:
        image.boxes = boxes.get(image.filename)
    return ImageRequest(images, policies)


async def _image_part(request: web.Request, part: BodyPartReader, seen: set[str]) -> InputImage:
    filename = part.filename or ""
    if not filename or filename in seen:
        raise LunaError(DUPLICATE_PART, f"Image filenames must be present and unique: '{filename}'")
    content_type = part.headers.get("Content-Type", "")
    data = await part.read()
    if content_type in BASE64_TYPES:
        data = _unbase64(bytes(data))
    elif content_type not in IMAGE_TYPES:
        return InputImage(
            filename, error=LunaError(BAD_MULTIPART_IMAGE, "Bad content type of image in multipart body")
        )
    return _decode(request, filename, bytes(data))


def _json_part(raw: bytes, name: str) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.bad_json(name, f"invalid json: {exc}") from None


def _boxes_part(raw: bytes) -> dict[str, list]:
    schema = {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "required": ["filename", "face_bounding_boxes"],
            "additionalProperties": False,
            "properties": {"filename": {"type": "string"}, "face_bounding_boxes": BOXES},
        },
    }
    items = validate(_json_part(raw, "face_bounding_boxes"), schema)
    return {item["filename"]: item["face_bounding_boxes"] for item in items}
