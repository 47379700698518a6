"""/6/images and /6/samples: stored images and face/body samples (CORE.md §11)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api import errors
from api.errors import LunaError
from api.keys import BLOBS, CONFIG
from api.responses import created, no_content, principal
from api.storage.models import Blob
from api.validation import parse_query, q_enum
from engines.images import IMAGE_TYPES, ImageError, storable

TTL_DAYS = ("1", "2", "3", "4", "5", "6", "7", "14", "30", "60", "90", "180", "365", "-1")
META_PREFIX = "X-Luna-Meta-"
SAMPLE_KINDS = {"faces": "face_sample", "bodies": "body_sample"}
# Sample sizes (width, height): LUNA face warps are 250x250; body warps 128x256.
SAMPLE_SIZES = {"face_sample": (250, 250), "body_sample": (128, 256)}


async def read_image_body(request: web.Request) -> tuple[bytes, str, Any]:
    """The uploaded image validated and ready to store: (bytes, content type, pixels)."""
    if request.content_type not in IMAGE_TYPES:
        raise LunaError(errors.BAD_CONTENT_TYPE, "Bad content type")
    data = await request.read()
    try:
        return storable(data, request.content_type, request.app[CONFIG].images.max_pixels)
    except ImageError as exc:
        raise LunaError(errors.BAD_IMAGE, f"Bad/incomplete input data: {exc}") from None


def _not_found(blob_id: str) -> LunaError:
    return LunaError(errors.IMAGE_NOT_FOUND, f"Image with id '{blob_id}' not found")


def _object_headers(row: Blob, with_meta: bool) -> dict[str, str]:
    headers = {"X-Luna-Expiry-Date": row.expire_time.date().isoformat() if row.expire_time else "null"}
    if with_meta:
        headers.update({f"{META_PREFIX}{key}": value for key, value in row.meta.items()})
    return headers


async def _get(request: web.Request, kind: str, blob_id: str, with_meta: bool = False) -> web.Response:
    stored = await request.app[BLOBS].get(kind, blob_id, principal(request).read_scope())
    if stored is None:
        raise _not_found(blob_id)
    headers = _object_headers(stored.row, with_meta)
    return web.Response(body=stored.data, content_type=stored.row.content_type, headers=headers)


async def _head(request: web.Request, kind: str, blob_id: str, with_meta: bool = False) -> web.Response:
    row = await request.app[BLOBS].head(kind, blob_id, principal(request).read_scope())
    if row is None:
        raise _not_found(blob_id)
    return web.Response(headers={**_object_headers(row, with_meta), "Content-Type": row.content_type})


async def _delete(request: web.Request, kind: str, blob_id: str) -> web.Response:
    if not await request.app[BLOBS].delete(kind, blob_id, principal(request).account_id):
        raise _not_found(blob_id)
    return no_content()


# -- images ---------------------------------------------------------------------------------
async def post_image(request: web.Request) -> web.Response:
    query = parse_query(request, {"ttl": q_enum(*TTL_DAYS)})
    data, content_type, _ = await read_image_body(request)
    meta = {
        key[len(META_PREFIX) :]: value
        for key, value in request.headers.items()
        if key.lower().startswith(META_PREFIX.lower())
    }
    ttl = int(query["ttl"]) if "ttl" in query else None
    row = await request.app[BLOBS].put(principal(request).account_id, "image", data, content_type, ttl, meta)
    return created(request, f"/6/images/{row.blob_id}", {"image_id": row.blob_id})


WITH_META = {"with_meta": q_enum("0", "1")}


async def get_image(request: web.Request) -> web.Response:
    query = parse_query(request, WITH_META)
    return await _get(request, "image", request.match_info["image_id"], query.get("with_meta") == "1")


async def head_image(request: web.Request) -> web.Response:
    query = parse_query(request, WITH_META)
    return await _head(request, "image", request.match_info["image_id"], query.get("with_meta") == "1")


async def delete_image(request: web.Request) -> web.Response:
    parse_query(request, {})
    return await _delete(request, "image", request.match_info["image_id"])


# -- samples --------------------------------------------------------------------------------
def _sample_kind(request: web.Request) -> str:
    return SAMPLE_KINDS[request.match_info.get("samples_type", "faces")]


async def post_sample(request: web.Request) -> web.Response:
    query = parse_query(request, {"ttl": q_enum(*TTL_DAYS)})
    kind = _sample_kind(request)
    data, content_type, pixels = await read_image_body(request)
    width, height = SAMPLE_SIZES[kind]
    if pixels.shape[:2] != (height, width):
        raise LunaError(errors.BAD_SAMPLE_SIZE, f"Image size is not equal to {width}x{height}")
    ttl = int(query["ttl"]) if "ttl" in query else None
    row = await request.app[BLOBS].put(principal(request).account_id, kind, data, content_type, ttl)
    url = f"/6/samples/{request.match_info['samples_type']}/{row.blob_id}"
    return web.json_response({"sample_id": row.blob_id, "url": url}, status=201, headers={"Location": url})


async def get_sample(request: web.Request) -> web.Response:
    parse_query(request, {})
    return await _get(request, _sample_kind(request), request.match_info["sample_id"])


async def head_sample(request: web.Request) -> web.Response:
    parse_query(request, {})
    return await _head(request, _sample_kind(request), request.match_info["sample_id"])


async def delete_sample(request: web.Request) -> web.Response:
    parse_query(request, {})
    return await _delete(request, _sample_kind(request), request.match_info["sample_id"])
