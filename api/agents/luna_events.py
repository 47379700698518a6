"""``luna-event`` callbacks: a finished analytic event -> an event generated through a handler.

As ``POST /6/handlers/{handler_id}/stream_events`` would for the stream's account, called as
functions: drafts go through the handler's policies (``api.generation.process``) inside the
delivery's transaction, and are announced like any generated event once it commits.

What each analytic brings to the handler:

* people_count: the overview image as a ``raw_image`` source: its faces (if this server
  detects faces) become the event's detections. A crowd has no face to show more often than
  not, and the event is about the count, so it is stored even with no detection (no face is
  then created: there is nothing to make it of).
* human_tracking: the track's face samples as ``detections`` sources (250x250 warps),
  aggregated into one event. Body samples have no body model to use them.

source_data: ``stream_id``, ``track_id``, the stream's location, ``event_time`` /
``event_end_time`` (the event's wall-clock end time and its video segment's length), and
``meta`` {analytic, analytic_event_id, video_segment, people_count (people_count only)}.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import LunaError
from api.generation.drafts import Detection, Draft, describe, detection_of
from api.generation.match_adapter import face_matcher
from api.generation.outcome import Outcome
from api.generation.process import Context, process
from api.keys import BLOBS, CONFIG, DB, FACES
from api.resources.handler_events import announce
from api.resources.handlers import full_policies, validate_policies
from api.storage import handlers as handlers_repo
from api.storage.models import Handler, Stream
from engines.images import ImageError, decode_image

log = logging.getLogger("argus.agents")
WARP_SIDE = 250


@dataclass(frozen=True)
class AnalyticEvent:
    """One event an agent delivered; images in ``result`` are base64 strings."""

    event_id: str
    analytic_name: str
    event_status: str  # started | finished
    time: datetime  # wall-clock time of the event (its end, when finished)
    result: dict[str, Any]


@dataclass
class Generation:
    """One luna-event callback's event, ready to go through its handler's policies."""

    handler: Handler
    policies: dict[str, Any]
    draft: Draft


class Clock:
    """Video offsets of the event -> wall-clock times: the event ended at ``event.time``."""

    def __init__(self, event: AnalyticEvent) -> None:
        segment = event.result.get("video_segment") or {}
        self.start_offset = float(segment.get("start_time_offset") or 0.0)
        end_offset = float(segment.get("end_time_offset") or self.start_offset)
        self.end = event.time
        self.start = event.time - timedelta(seconds=max(0.0, end_offset - self.start_offset))

    def at(self, offset: Any) -> str:
        if not isinstance(offset, int | float):
            return self.start.isoformat()
        return (self.start + timedelta(seconds=max(0.0, offset - self.start_offset))).isoformat()


def source_data(stream: Stream, event: AnalyticEvent, clock: Clock) -> dict[str, Any]:
    result = event.result
    meta: dict[str, Any] = {
        "analytic": event.analytic_name,
        "analytic_event_id": result.get("event_id"),
        "video_segment": result.get("video_segment"),
    }
    if event.analytic_name == "people_count":
        meta["people_count"] = result.get("people_count")
    track_id = result.get("track_id")
    location = stream.location if any(v is not None for v in stream.location.values()) else None
    return {
        "stream_id": stream.stream_id,
        "track_id": track_id if isinstance(track_id, str) and len(track_id) <= 36 else None,
        "location": location,
        "event_time": clock.start.isoformat(),
        "event_end_time": clock.end.isoformat(),
        "meta": meta,
    }


def _image(value: Any, max_pixels: int, what: str) -> Any:
    try:
        return decode_image(base64.b64decode(value), max_pixels)
    except (ImageError, ValueError, TypeError) as exc:
        log.warning("stream event: %s cannot be decoded, left out: %s", what, exc)
        return None


async def overview_faces(request: web.Request, event: AnalyticEvent, clock: Clock) -> list[Detection]:
    """Faces on a people_count overview shot (the raw_image source), when this server has faces."""
    overview = event.result.get("overview") or {}
    faces = request.app.get(FACES)
    if not overview.get("image") or faces is None:
        return []
    pixels = _image(overview["image"], request.app[CONFIG].images.max_pixels, "overview image")
    if pixels is None:
        return []
    found = await faces.find(pixels, None, False)
    when = clock.at(overview.get("time_offset"))
    return [detection_of(face, "overview", pixels.shape, detect_time=when) for face in found]


def _face_boxes(result: dict[str, Any]) -> dict[float, dict[str, int]]:
    """time_offset -> the track's face box on that frame, from the frame estimations."""
    boxes = {}
    for frame in result.get("frames_estimations") or []:
        face = ((frame.get("estimated") or {}).get("face") or {}).get("detection") or {}
        box = face.get("bbox")
        if isinstance(box, dict) and isinstance(frame.get("time_offset"), int | float):
            boxes[frame["time_offset"]] = {k: int(box.get(k, 0)) for k in ("x", "y", "width", "height")}
    return boxes


def track_faces(event: AnalyticEvent, clock: Clock) -> list[Detection]:
    """The track's face samples (or its thumbnail) as detections sources."""
    face = (event.result.get("aggregated_estimations") or {}).get("face") or {}
    shots = face.get("samples") or ([face["thumbnail"]] if face.get("thumbnail") else [])
    boxes = _face_boxes(event.result)
    full = {"x": 0, "y": 0, "width": WARP_SIDE, "height": WARP_SIDE}
    out = []
    for index, shot in enumerate(shots):
        warp = _image(shot.get("image"), WARP_SIDE * WARP_SIDE, f"face sample {index}")
        if warp is None or warp.shape[:2] != (WARP_SIDE, WARP_SIDE):
            continue
        offset = shot.get("time_offset")
        detect_ts = float(offset) if isinstance(offset, int | float) else None
        rect = boxes.get(offset, full) if detect_ts is not None else full
        out.append(
            Detection(f"face sample {index}", warp, rect, detect_time=clock.at(offset), detect_ts=detect_ts)
        )
    return out


def _without_faces(policies: dict[str, Any]) -> dict[str, Any]:
    """An event with no detection stores no face: there is nothing to make it of."""
    storage = policies["storage_policy"]
    face_policy = {**(storage.get("face_policy") or {}), "store_face": 0}
    return {**policies, "storage_policy": {**storage, "face_policy": face_policy}}


async def _handler(request: web.Request, handler_id: str, account_id: str) -> tuple[Handler, dict] | None:
    async with request.app[DB].session() as session:
        handler = await handlers_repo.get(session, handler_id, account_id)
    if handler is None:
        log.warning("stream luna-event callback: handler %s not found, skipped", handler_id)
        return None
    policies = full_policies(handler.policies)
    try:
        validate_policies(request, policies)
    except LunaError as exc:
        log.warning(
            "stream luna-event callback: handler %s cannot run here, skipped: %s", handler_id, exc.detail
        )
        return None
    return handler, policies


async def prepare(
    request: web.Request, stream: Stream, event: AnalyticEvent, callbacks: list[dict[str, Any]]
) -> list[Generation]:
    """Drafts (with descriptors) for each luna-event callback; the slow part, done outside
    the delivery's transaction so it never holds a SQLite write lock."""
    handler_ids = [c["handler_id"] for c in callbacks if c["type"] == "luna-event"]
    if not handler_ids:
        return []
    clock = Clock(event)
    if event.analytic_name == "people_count":
        detections = await overview_faces(request, event, clock)
    else:
        detections = track_faces(event, clock)
    fields = source_data(stream, event, clock)
    faces = request.app.get(FACES)
    out = []
    for handler_id in handler_ids:
        found = await _handler(request, handler_id, stream.account_id)
        if found is None:
            continue
        handler, policies = found
        draft = Draft([dataclasses.replace(d) for d in detections], dict(fields))
        if not draft.detections:
            policies = _without_faces(policies)
        elif faces is not None and policies["extract_policy"].get("extract_face_descriptor", 1):
            await describe([draft], faces)
        out.append(Generation(handler, policies, draft))
    return out


async def store(
    session: AsyncSession,
    request: web.Request,
    account_id: str,
    generations: list[Generation],
    written: list[Path],
) -> list[Outcome]:
    """Run the drafts through their policies in the caller's transaction."""
    outcomes = []
    for item in generations:
        ctx = Context(
            account_id,
            item.handler.handler_id,
            item.policies,
            request.app[BLOBS],
            face_matcher(request, account_id),
            written,
        )
        outcomes.append(await process(session, ctx, item.draft))
    return outcomes


async def announce_all(
    request: web.Request, account_id: str, generations: list[Generation], outcomes: list[Outcome]
) -> None:
    for item, outcome in zip(generations, outcomes, strict=True):
        await announce(request, account_id, item.handler, item.policies, [outcome])
