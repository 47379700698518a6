"""Event generation endpoints: /6/handlers/{id}/events, /stream_events and /events/raw (§4, §5).

Inputs become drafts (``api.generation.drafts``), each draft goes through the handler's
policies in one transaction (``api.generation.process``), then saved events are published to
live subscribers and the matching index learns the faces the policies created.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import numpy as np
from aiohttp import web

from api import errors
from api.bus import EventBus, Published
from api.errors import ErrorKind, LunaError
from api.generation.callbacks import active, send_http
from api.generation.drafts import Detection, Draft, describe, detect_images, detection_of, make_drafts
from api.generation.match_adapter import face_matcher, faces_created
from api.generation.outcome import Outcome
from api.generation.process import Context, process
from api.generation.raw import raw_to_event
from api.image_input import InputImage, read_images
from api.keys import BACKGROUND, BLOBS, BUS, CONFIG, DB, REQUEST_ID
from api.resources.detector import SUCCESS, faces
from api.resources.handlers import DYNAMIC, full_policies, not_found, validate_policies
from api.responses import principal
from api.spec.schemas import schema
from api.storage import events as events_repo
from api.storage import handlers as handlers_repo
from api.storage.db import Database
from api.storage.models import Handler
from api.validation import (
    parse_query,
    q_enum,
    q_float,
    q_list,
    q_str,
    q_uuid,
    read_json,
    read_json_or_msgpack,
    validate,
)
from engines.images import ImageError, decode_image

FLAG = q_enum("0", "1")
TRACK_ID = r"^[a-zA-Z0-9_\-]{1,36}$"
EVENTS_QUERY = {
    **dict.fromkeys(("city", "area", "district", "street", "house_number"), q_str(0, 36)),
    "longitude": q_float(-180, 180),
    "latitude": q_float(-90, 90),
    "external_id": q_str(0, 36),
    "user_data": q_str(0, 128),
    "image_type": q_enum("0", "1", "2"),
    "aggregate_attributes": FLAG,
    "source": q_str(0, 128),
    "stream_id": q_uuid,
    "tags": q_list(q_str(1, 36)),
    "track_id": q_str(1, 36, TRACK_ID),
    "use_exif_info": FLAG,
}


EVENTS_NOT_ALLOWED = ErrorKind(11068, "Forbidden", 403)
HANDLER_NOT_ALLOWED = ErrorKind(11067, "Forbidden", 403)


def check_emit_events(request: web.Request, handler_id: str) -> None:
    """The token's ``emit_events`` rule: generation allowed, and this handler white/not black-listed."""
    token = principal(request).token
    if token is None:
        return
    rule = token.permissions.get("emit_events") or {}
    if not rule.get("allowed", 1):
        raise LunaError(
            EVENTS_NOT_ALLOWED, "Request denied due to token restrictions. Events generation is not allowed"
        )
    white, black = rule.get("white_list"), rule.get("black_list")
    if (white is not None and handler_id not in white) or (black is not None and handler_id in black):
        raise LunaError(
            HANDLER_NOT_ALLOWED,
            "Request denied due to token restrictions. According to `emit_events` "
            "the handler is not whitelisted or handler is blacklisted.",
        )


async def load_handler(request: web.Request) -> Handler:
    handler_id = request.match_info["handler_id"]
    check_emit_events(request, handler_id)
    async with request.app[DB].session() as session:
        handler = await handlers_repo.get(session, handler_id, principal(request).account_id)
    if handler is None:
        raise not_found(handler_id)
    return handler


def _policies(request: web.Request, handler: Handler, given: dict[str, Any] | None) -> dict[str, Any]:
    """The stored policies of a static handler; a dynamic handler's come with the request."""
    if given is not None and handler.handler_type != DYNAMIC:
        raise LunaError(errors.BAD_JSON, "Not available to send new policies to non-dynamic handler")
    if given is not None:
        validate(given, schema("createHandler")["properties"]["policies"])
    policies = full_policies(given if given is not None else handler.policies)
    validate_policies(request, policies)
    return policies


def _location(query: dict[str, Any]) -> dict[str, Any] | None:
    names = ("city", "area", "district", "street", "house_number")
    if not any(n in query for n in (*names, "longitude", "latitude")):
        return None
    geo = {"longitude": query.get("longitude"), "latitude": query.get("latitude")}
    return {**{n: query.get(n) for n in names}, "geo_position": geo}


async def generate(
    request: web.Request, handler: Handler, policies: dict[str, Any], drafts: list[Draft]
) -> list[dict[str, Any]]:
    """Run drafts through the policies in one transaction; publish what was saved."""
    if policies["extract_policy"].get("extract_face_descriptor", 1):
        await describe(drafts, faces(request))
    account_id = principal(request).account_id
    ctx = Context(account_id, handler.handler_id, policies, request.app[BLOBS], face_matcher(request))
    try:
        async with request.app[DB].session() as session:
            outcomes = [await process(session, ctx, draft) for draft in drafts]
            await session.commit()
    except BaseException:
        for path in ctx.written:  # nothing half-written: no sample file without its row
            path.unlink(missing_ok=True)
        raise
    await announce(request, account_id, handler, policies, outcomes)
    return [o.reply for o in outcomes]


async def announce(
    request: web.Request, account_id: str, handler: Handler, policies: dict[str, Any], outcomes: list[Outcome]
) -> None:
    """After the commit: the matching index learns the new faces, saved (or notified) events go
    to live subscribers, http callbacks run in the background. Also used by stream agents'
    deliveries (api/agents), which generate events in their own transaction."""
    await faces_created(request, [face_id for o in outcomes for face_id in o.new_face_ids])
    for outcome in outcomes:
        notify = active(policies, "luna-ws-notification", outcome.best)
        if outcome.event is not None or notify:
            message = ws_message(request, handler, outcome.reply, outcome.body)
            request.app[BUS].publish(Published(account_id, message, outcome.body))
        for callback in active(policies, "http", outcome.best):
            request.app[BACKGROUND].spawn(send_http(callback, outcome.reply, request.app[CONFIG].fetch))


def ws_message(
    request: web.Request, handler: Handler, reply: dict[str, Any], event: dict[str, Any]
) -> dict[str, Any]:
    """``message_from_ws`` (L15376), hyphenated keys and all."""
    return {
        "event": reply,
        "handler_id": handler.handler_id,
        "event-create-time": event["create_time"],
        "event-end-time": event["end_time"],
        "Luna-Request-id": request[REQUEST_ID],
    }


def _image_reply(image: InputImage) -> dict[str, Any]:
    if image.error is not None:
        return {"filename": image.filename, "status": 0, "error": image.error.body()}
    return {"filename": image.filename, "status": 1, "error": SUCCESS}


async def post_events(request: web.Request) -> web.Response:
    query = parse_query(request, EVENTS_QUERY)
    handler = await load_handler(request)
    if request.content_type.startswith("application/x-vl-xpk"):
        raise LunaError(
            errors.BAD_XPK, "Failed to parse xpk file: XPK (VisionLabs) files are not supported by Argus"
        )
    parsed = await read_images(request, accept_policies=True)
    policies = _policies(request, handler, parsed.policies)
    if query.get("image_type") == "2":
        raise errors.bad_query("image_type")  # human body warps need a body model Argus lacks
    for image in parsed.images:
        image.warped = image.warped or query.get("image_type") == "1"
    usable = [image for image in parsed.images if image.error is None]
    if not usable and len(parsed.images) == 1:
        raise parsed.images[0].error  # type: ignore[misc]
    fields = {
        "external_id": query.get("external_id"),
        "user_data": query.get("user_data"),
        "source": query.get("source"),
        "stream_id": query.get("stream_id"),
        "tags": query.get("tags"),
        "track_id": query.get("track_id"),
        "location": _location(query),
        "event_time": request.headers.get("Luna-Event-Time"),
        "event_end_time": request.headers.get("Luna-Event-End-Time"),
    }
    multiface = policies["detect_policy"].get("multiface_policy", 1)
    groups = await detect_images(usable, faces(request), multiface)
    drafts = make_drafts(groups, query.get("aggregate_attributes") == "1", fields)
    events = await generate(request, handler, policies, drafts)
    reply = {
        "events": events,
        "images": [_image_reply(i) for i in parsed.images],
        "filtered_detections": {"face_detections": []},
    }
    return web.json_response(reply, status=201)


# -- stream events --------------------------------------------------------------------------
def _source_fields(data: dict[str, Any] | None) -> dict[str, Any]:
    return dict(data or {})


def _warp(b64: str, where: str) -> Any:
    try:
        return decode_image(base64.b64decode(b64), 250 * 250)
    except (ImageError, ValueError) as exc:
        raise errors.bad_json(where, f"warp cannot be decoded: {exc}") from None


def _detections_source(item: dict[str, Any], index: int) -> list[Detection]:
    out = []
    for k, part in enumerate(item["source"]):
        face = part.get("face") or {}
        if not face.get("warp"):
            continue  # body-only detections: no body model to use them
        warp = _warp(face["warp"], f"sources.{index}.source.{k}.face.warp")
        if warp.shape[:2] != (250, 250):
            raise LunaError(errors.BAD_SAMPLE_SIZE, "Image size is not equal to 250x250")
        rect = face.get("origin_bounding_box") or {"x": 0, "y": 0, "width": 250, "height": 250}
        out.append(
            Detection(
                item.get("filename") or f"source {index}",
                warp,
                rect,
                detect_time=item.get("detect_time") or datetime.now(UTC).isoformat(),
                detect_ts=item.get("detect_ts"),
                image_origin=_origin(item.get("image_origin")),
            )
        )
    return out


def _source_data(item: dict[str, Any]) -> dict[str, Any] | None:
    """A source's ``source_data``: beside ``source`` or, for raw images, inside it."""
    source = item.get("source")
    nested = source.get("source_data") if isinstance(source, dict) else None
    return item.get("source_data") or nested


def _origin(value: Any) -> str | None:
    return value if isinstance(value, str) else None


async def _raw_image_source(request: web.Request, item: dict[str, Any], index: int) -> list[Detection]:
    source = item["source"]
    try:
        pixels = decode_image(base64.b64decode(source["body"]), request.app[CONFIG].images.max_pixels)
    except (ImageError, ValueError) as exc:
        raise LunaError(errors.BAD_IMAGE, f"Bad/incomplete input data: source {index}: {exc}") from None
    boxes = None
    if source.get("face_detection_data"):
        rects = [d["bounding_box"] for d in source["face_detection_data"]]
        boxes = np.array(
            [[r["x"], r["y"], r["x"] + r["width"], r["y"] + r["height"]] for r in rects], np.float32
        )
    found = await faces(request).find(pixels, boxes, False)
    name = item.get("filename") or f"source {index}"
    return [
        detection_of(
            face,
            name,
            pixels.shape,
            detect_time=item.get("detect_time") or datetime.now(UTC).isoformat(),
            detect_ts=item.get("detect_ts"),
            image_origin=_origin(item.get("image_origin")),
        )
        for face in found
    ]


async def post_stream_events(request: web.Request) -> web.Response:
    parse_query(request, {})
    if request.content_type != "application/msgpack":
        raise LunaError(errors.BAD_CONTENT_TYPE, "Bad content type")
    handler = await load_handler(request)
    body = await read_json_or_msgpack(request, schema("generateStreamEvents", "msgpack"))
    policies = _policies(request, handler, None)
    groups: list[tuple[list[Detection], dict[str, Any]]] = []
    for index, item in enumerate(body["sources"]):
        if item["source_type"] == "detections":
            detections = _detections_source(item, index)
        else:
            detections = await _raw_image_source(request, item, index)
        groups.append((detections, _source_fields(_source_data(item))))
    if body["aggregate_attributes"] == 1:
        detections = [d for group, _ in groups for d in group]
        drafts = [Draft(detections, _source_fields(body.get("source_data")))] if detections else []
    else:
        drafts = [Draft(group, fields) for group, fields in groups if group]
    events = await generate(request, handler, policies, drafts)
    reply = {"events": events, "images": [], "filtered_detections": {"face_detections": []}}
    return web.json_response(reply, status=201)


# -- raw events -----------------------------------------------------------------------------
async def post_raw_event(request: web.Request) -> web.Response:
    query = parse_query(request, {"wait_saving": FLAG}, {"wait_saving": "1"})
    handler = await load_handler(request)
    if handler.handler_type != DYNAMIC:
        raise errors.bad_json("", "Handler ID must belong to a dynamic handler")
    body = await read_json(request, schema("saveEvent"))
    event = raw_to_event(body, principal(request).account_id, handler.handler_id)
    url = f"/6/events/{event['event_id']}"
    message = ws_message(request, handler, raw_reply(body, event, url), event)
    saving = save_raw_event(request.app[DB], request.app[BUS], Published(event["account_id"], message, event))
    if query["wait_saving"] == "0":
        request.app[BACKGROUND].spawn(saving)  # answered once buffered; saved moments later
        return web.json_response({"event_id": event["event_id"], "url": url}, status=202)
    await saving
    return web.json_response({"event_id": event["event_id"], "url": url}, status=201)


async def save_raw_event(db: Database, bus: EventBus, item: Published) -> None:
    """Save, then tell live subscribers (only saved events are pushed)."""
    async with db.session() as session:
        await events_repo.insert(session, [events_repo.event_row(item.event)])
        await session.commit()
    bus.publish(item)


def raw_reply(body: dict[str, Any], event: dict[str, Any], url: str) -> dict[str, Any]:
    """The raw event in the handler-reply shape /6/ws messages carry (``event_from_ws``)."""
    keys = (
        "source",
        "stream_id",
        "user_data",
        "external_id",
        "tags",
        "location",
        "face",
        "matches",
        "detections",
        "track_id",
        "meta",
        "face_attributes",
        "body_attributes",
        "aggregate_estimations",
    )
    return {**{key: body.get(key) for key in keys}, "event_id": event["event_id"], "url": url}
