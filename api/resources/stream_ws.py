"""/6/streams/{stream_id}/ws: a stream's status changes and analytics results, live (CORE.md §2).

Messages are ``stream_message_from_ws`` (L18845): ``in_progress`` when the agent reports the
stream running, ``error`` on a final failure and ``finished`` when done (both then close the
socket), and ``analytics_results`` from the analytics' ``luna-ws-notification`` callbacks.
They travel on the event bus's "stream" channel, which PostgreSQL LISTEN/NOTIFY carries
between ``argus serve`` processes, so the heartbeat or delivery can reach any of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import WSMsgType, web

from api import errors
from api.bus import EventBus, Published, Subscription
from api.errors import LunaError
from api.keys import BUS, DB, DEADLINES, REQUEST_ID
from api.resources.streams import not_found
from api.resources.websockets import SOCKETS
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
        request.app[DEADLINES].release()
        ws = web.WebSocketResponse(heartbeat=30.0, autoping=True)
        ws.headers["Luna-Request-Id"] = request[REQUEST_ID]
        await ws.prepare(request)
        request.app[SOCKETS].add(ws)
        await _pump(ws, subscription)
    finally:
        bus.unsubscribe(subscription)
    return ws


async def _pump(ws: web.WebSocketResponse, subscription: Subscription) -> None:
    """Send the subscription's messages until the client leaves or the stream ends."""
    reader = asyncio.create_task(_drain(ws))
    try:
        while not ws.closed:
            getter = asyncio.create_task(subscription.queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            body = getter.result().message
            await ws.send_json(body)
            if body["stream_status"] in CLOSING:
                await ws.close()
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) client messages until the socket closes; autoping answers pings."""
    async for received in ws:
        if received.type == WSMsgType.ERROR:
            break
