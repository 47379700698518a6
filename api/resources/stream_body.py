"""Stream bodies: reading create/replace requests and writing the stream object (CORE.md §2).

A body passes the spec's schema (``createStream``/``putStream``), then each analytic's own
parameter schema (``STREAM_ANALYTICS_BODY``: 12022 at the bad field's full path), then the
reference gate every video reference passes (``api.video.check_reference``), then the checks
that need the database: the group it names and the handlers its ``luna-event`` callbacks name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from api import errors
from api.analytics_schemas import STREAM_ANALYTICS_BODY
from api.errors import LunaError
from api.keys import CONFIG
from api.responses import iso
from api.spec.schemas import schema
from api.storage import groups as groups_repo
from api.storage import handlers as handlers_repo
from api.storage.models import Stream, StreamGroup
from api.validation import read_json, validate
from api.video import check_reference

DATA_DEFAULTS: dict[str, Any] = {
    "downloadable": False,
    "timestamp_source": "auto",
    "rotation": 0,
    "pts": {"start_time": 0},
}
AUTORESTART_DEFAULTS: dict[str, Any] = {"restart": 0, "attempt_count": 10, "delay": 60}
LOCATION_FIELDS = ("city", "area", "district", "street", "house_number", "geo_position")


@dataclass(frozen=True)
class StreamInput:
    """A validated create/replace body with the spec's defaults filled."""

    name: str
    description: str
    data: dict[str, Any]
    location: dict[str, Any]
    autorestart: dict[str, Any]
    analytics: list[dict[str, Any]]
    group_name: str | None
    group_id: str | None


async def read_stream(request: web.Request, operation_id: str) -> StreamInput:
    body = await read_json(request, schema(operation_id))
    validate(body, STREAM_ANALYTICS_BODY)
    check_reference(body["data"]["reference"], request.app[CONFIG])
    location = body.get("location") or {}
    return StreamInput(
        name=body.get("name", ""),
        description=body.get("description", ""),
        data={**DATA_DEFAULTS, **body["data"]},
        location={field: location.get(field) for field in LOCATION_FIELDS},
        autorestart={**AUTORESTART_DEFAULTS, **body.get("autorestart", {})},
        analytics=[
            {"analytic_name": item["analytic_name"], "parameters": item.get("parameters", {})}
            for item in body["analytics"]
        ],
        group_name=body.get("group_name"),
        group_id=body.get("group_id"),
    )


async def check_references(session: AsyncSession, given: StreamInput, account_id: str) -> StreamGroup | None:
    """The group the body names (None if it names none); every ``luna-event`` handler must be the
    account's. Both are named in the body, so a missing one answers 400."""
    for item in given.analytics:
        for callback in item["parameters"].get("callbacks", []):
            handler_id = callback.get("handler_id")
            if (
                callback["type"] == "luna-event"
                and await handlers_repo.get(session, handler_id, account_id) is None
            ):
                raise LunaError(
                    errors.CALLBACK_HANDLER_NOT_FOUND, f"Handler with id '{handler_id}' not found"
                )
    if given.group_id is not None:
        group = await groups_repo.get(session, given.group_id, account_id)
        if group is None:
            raise LunaError(errors.GROUP_IN_BODY_NOT_FOUND, f"Group with id {given.group_id} not found")
        return group
    if given.group_name is not None:
        group = await groups_repo.by_name(session, account_id, given.group_name)
        if group is None:
            raise LunaError(
                errors.GROUP_NAME_IN_BODY_NOT_FOUND, f"Group named '{given.group_name}' not found"
            )
        return group
    return None


def apply(stream: Stream, given: StreamInput, now: datetime) -> None:
    """Set the stream's user-given fields; autorestart starts afresh (no attempt made yet)."""
    stream.name, stream.description = given.name, given.description
    stream.stream_type, stream.reference = given.data["type"], given.data["reference"]
    stream.data, stream.location, stream.analytics = given.data, given.location, given.analytics
    stream.autorestart = given.autorestart
    enabled = given.autorestart["restart"] == 1
    stream.autorestart_status = "enabled" if enabled else "disabled"
    stream.current_attempt = 0 if enabled else None
    stream.last_attempt_time = None
    stream.last_update_time = now


def to_json(stream: Stream, groups: list[str]) -> dict[str, Any]:
    """`stream_response` (L18617): every field, data and location complete."""
    return {
        "stream_id": stream.stream_id,
        "account_id": stream.account_id,
        "name": stream.name,
        "description": stream.description,
        "data": {**DATA_DEFAULTS, **stream.data},
        "location": {field: stream.location.get(field) for field in LOCATION_FIELDS},
        "autorestart": {
            **AUTORESTART_DEFAULTS,
            **stream.autorestart,
            "current_attempt": stream.current_attempt,
            "last_attempt_time": iso(stream.last_attempt_time),
            "status": stream.autorestart_status,
        },
        "version": stream.version,
        "create_time": iso(stream.create_time),
        "status": stream.status,
        "last_error": stream.last_error,
        "groups": groups,
        "analytics": stream.analytics,
    }
