"""/6/analytics: the analytics streams can name (CORE.md §3).

Argus runs exactly two analytics, built in: ``people_count`` and ``human_tracking``. They are
constants, not rows: their ids are uuid5 of their names (stable across installs and
databases), their parameters schema and defaults come from ``api.analytics_schemas``, and
their create/update time is the release that introduced them. The spec defines no operation
that creates, changes or deletes an analytic, so those methods answer 405 (12021).
"""

from __future__ import annotations

import html
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from api import errors
from api.analytics_schemas import STREAM_ANALYTICS, STREAM_DEFAULTS
from api.errors import LunaError
from api.responses import respond
from api.validation import PAGINATION, parse_query, q_enum, q_list, q_str, q_time, q_uuid

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "analytics.argus")
REGISTERED = datetime(2026, 11, 27, tzinfo=UTC)
DESCRIPTIONS = {
    "people_count": "Counts people on stream frames (person detector), optionally with their coordinates "
    "and an overview image; reports an event while the count is at or above a threshold.",
    "human_tracking": "Tracks faces and/or bodies across frames and aggregates each track (best samples, "
    "attributes, descriptors) into events, handed to a handler by `luna-event` callbacks.",
}
WS_EVENTS = {
    "people_count": "people_count (int), people_coordinates ([[x, y], ...] with the `coordinates` target), "
    "event_id, track_id, event_status (started | in_progress | finished), time_offset (seconds)",
    "human_tracking": "track_id, event_id, event_status, time_offset, detections of the requested targets",
}


@dataclass(frozen=True)
class Analytic:
    name: str

    @property
    def analytic_id(self) -> str:
        return str(uuid.uuid5(NAMESPACE, self.name))

    def to_json(self) -> dict[str, Any]:
        return {
            "analytic_id": self.analytic_id,
            "analytic_name": self.name,
            "description": DESCRIPTIONS[self.name],
            "analytic_version": 1,
            "default_parameters": STREAM_DEFAULTS[self.name],
            "create_time": REGISTERED.isoformat(),
            "last_update_time": REGISTERED.isoformat(),
            "validation_schema": STREAM_ANALYTICS[self.name],
        }

    def docs(self) -> str:
        """The raw documentation: what the analytic does, its parameters and its ws events."""
        return "\n".join(
            [
                f"# {self.name} (analytic_id {self.analytic_id}, version 1)",
                "",
                DESCRIPTIONS[self.name],
                "",
                "## Stream analytic",
                "",
                f'`{{"analytic_name": "{self.name}", "parameters": {{"targets": [...], "callbacks": [...], '
                '"parameters": {...}}}` in POST/PUT /6/streams. Callbacks (at most 10): '
                '`{"type": "http", "url": ..., "authorization"?: {"type": "basic", "login", "password"}, '
                '"params"?: {"timeout", "content_type", "headers"}}`, `{"type": "luna-ws-notification"}` '
                '(results on GET /6/streams/{stream_id}/ws), `{"type": "luna-event", "handler_id": ...}` '
                "(events made by one of the account's handlers); each may carry `enable` 0/1.",
                "",
                "## Default parameters",
                "",
                json.dumps(STREAM_DEFAULTS[self.name], indent=2),
                "",
                "## Parameters validation schema (JSON Schema, draft 7)",
                "",
                json.dumps(STREAM_ANALYTICS[self.name], indent=2),
                "",
                "## Websocket event fields",
                "",
                WS_EVENTS[self.name],
                "",
            ]
        )


BUILT_IN = [Analytic(name) for name in STREAM_ANALYTICS]
BY_ID = {analytic.analytic_id: analytic for analytic in BUILT_IN}
NAME = r"^[a-zA-Z0-9_\-]{1,36}$"
FILTERS = {
    "analytic_ids": q_list(q_uuid),
    "analytic_id__gte": q_uuid,
    "analytic_id__lt": q_uuid,
    "create_time__gte": q_time,
    "create_time__lt": q_time,
    "names": q_list(q_str(1, 36, NAME)),
    "order": q_enum("asc", "desc"),
}


def _matches(analytic: Analytic, query: dict[str, Any]) -> bool:
    checks = (
        query.get("analytic_ids") is None or analytic.analytic_id in query["analytic_ids"],
        query.get("analytic_id__gte") is None or analytic.analytic_id >= query["analytic_id__gte"],
        query.get("analytic_id__lt") is None or analytic.analytic_id < query["analytic_id__lt"],
        query.get("create_time__gte") is None or query["create_time__gte"] <= REGISTERED,
        query.get("create_time__lt") is None or query["create_time__lt"] > REGISTERED,
        query.get("names") is None or analytic.name in query["names"],
    )
    return all(checks)


async def get_analytics(request: web.Request) -> web.Response:
    """Oldest first, as the operation describes (ties: by id), unless ``order=desc``."""
    query = parse_query(request, {**FILTERS, **PAGINATION}, {"page": 1, "page_size": 10, "order": "asc"})
    found = sorted((a for a in BUILT_IN if _matches(a, query)), key=lambda a: a.analytic_id)
    if query["order"] == "desc":
        found.reverse()
    start = (query["page"] - 1) * query["page_size"]
    return respond(request, {"analytics": [a.to_json() for a in found[start : start + query["page_size"]]]})


def _analytic(request: web.Request) -> Analytic:
    """Analytics belong to no account: ``account_id`` is accepted and changes nothing."""
    parse_query(request, {"account_id": q_uuid})
    analytic_id = request.match_info["analytic_id"]
    found = BY_ID.get(analytic_id)
    if found is None:
        raise LunaError(errors.ANALYTIC_NOT_FOUND, f"Analytic with id '{analytic_id}' not found")
    return found


async def get_analytic(request: web.Request) -> web.Response:
    return respond(request, _analytic(request).to_json())


async def get_analytic_docs(request: web.Request) -> web.Response:
    """A JSON string by default; an HTML page when the client accepts ``text/html``."""
    text = _analytic(request).docs()
    if "text/html" in request.headers.get("Accept", ""):
        page = f"<!DOCTYPE html><html><body><pre>{html.escape(text)}</pre></body></html>"
        return web.Response(text=page, content_type="text/html")
    return web.json_response(text)
