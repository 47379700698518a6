"""/6/streams/{stream_id}/ws: a stream's status changes and analytics results, live (CORE.md §2).

Messages are ``stream_message_from_ws`` (L18845): ``in_progress`` when the agent reports the
stream running, ``error`` on a final failure and ``finished`` when done (both then close the
socket), and ``analytics_results`` from the analytics' ``luna-ws-notification`` callbacks.
They travel on the event bus's "stream" channel, which PostgreSQL LISTEN/NOTIFY carries
between ``argus serve`` processes, so the heartbeat or delivery can reach any of them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api import errors
from api.bus import EventBus, Published
from api.errors import LunaError
from api.keys import BUS, DB
from api.resources.streams import not_found
from api.resources.websockets import open_socket, pump
from api.responses import principal
from api.storage import streams as repo
from api.storage.streams import STATUSES
from api.validation import parse_query

CHANNEL = "stream"
# Statuses of a stream being processed (or about to be): pending, in_progress, restart.
WATCHABLE = (STATUSES["pending"], STATUSES["in_progress"], STATUSES["restart"])
CLOSING = ("error", "finished")


def message(stream_status: str, error: str | None, results: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"stream_status": stream_status, "error": error}
    if results is not None:
        body["analytics_results"] = results
    return body


def publish(bus: EventBus, account_id: str, stream_id: str, body: dict[str, Any]) -> None:
    kind = "stream_results" if "analytics_results" in body else "stream_status"
    bus.publish(Published(account_id, body, {"stream_id": stream_id}, kind, CHANNEL))


def publish_status(
    bus: EventBus, account_id: str, stream_id: str, stream_status: str, error: str | None
) -> None:
    publish(bus, account_id, stream_id, message(stream_status, error))


def publish_result(
    bus: EventBus, account_id: str, stream_id: str, analytic: str, event: dict[str, Any]
) -> None:
    """An analytic event (images already base64) as the stream's sockets receive it."""
    publish(bus, account_id, stream_id, message("in_progress", None, {analytic: event}))


async def _watchable(request: web.Request, stream_id: str) -> None:
    async with request.app[DB].session() as session:
        stream = await repo.get(session, stream_id, principal(request).read_scope())
    if stream is None:
        raise not_found(stream_id)
    if stream.status not in WATCHABLE:
        raise LunaError(
            errors.STREAM_NOT_PROCESSED, f"Stream with id '{stream_id}' is not currently being processed"
        )


async def ws_stream(request: web.Request) -> web.StreamResponse:
    parse_query(request, {})
    stream_id = request.match_info["stream_id"]
    bus = request.app[BUS]
    # Subscribed before the status check, so a change right after it is not missed.
    subscription = bus.subscribe(
        principal(request).read_scope(), lambda item: item.event.get("stream_id") == stream_id, CHANNEL
    )
    try:
        await _watchable(request, stream_id)
        ws = await open_socket(request)
        await pump(ws, subscription, lambda item: item.message, lambda body: body["stream_status"] in CLOSING)
    finally:
        bus.unsubscribe(subscription)
    return ws
