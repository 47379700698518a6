"""/6/ws: saved events pushed live to subscribers of the account (CORE.md §10).

Each socket is a bus subscription with its own bounded queue (see ``api.bus``): a slow
client loses its oldest events instead of slowing event saving. Closed with GOING_AWAY (1001)
when the server shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from analytics.json_filters import FieldFilter, FilterError, parse_filter
from api import errors
from api.bus import Published, Subscription
from api.errors import LunaError
from api.keys import BUS, DEADLINES, REQUEST_ID
from api.responses import principal
from api.validation import parse_query, q_float, q_list, q_str, q_uuid

SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("websockets")
WS_QUERY = {
    "sources": q_list(q_str(1, 128)),
    "stream_ids": q_list(q_uuid),
    "handler_ids": q_list(q_uuid),
    "matching_candidates_labels": q_list(q_str(1, 36)),
    "object_similarity__gte": q_float(0, 1),
    "object_similarity__lt": q_float(0, 1),
    "tags": q_list(q_str(1, 36)),
    "user_data": q_str(0, 128),
    "cities": q_list(q_str(1, 36)),
    "areas": q_list(q_str(1, 36)),
    "districts": q_list(q_str(1, 36)),
    "streets": q_list(q_str(1, 36)),
    "house_numbers": q_list(q_str(1, 36)),
}
LOCATION_FILTERS = {
    "cities": "city",
    "areas": "area",
    "districts": "district",
    "streets": "street",
    "house_numbers": "house_number",
}


def event_filter(query: dict[str, Any]):  # type: ignore[no-untyped-def]
    """A predicate over published events implementing the socket's query filters."""

    def accepts(item: Published) -> bool:
        event = item.event
        if "sources" in query and event.get("source") not in query["sources"]:
            return False
        if "stream_ids" in query and event.get("stream_id") not in query["stream_ids"]:
            return False
        if "handler_ids" in query and event.get("handler_id") not in query["handler_ids"]:
            return False
        if "tags" in query and not set(query["tags"]) <= set(event.get("tags") or []):
            return False
        if "user_data" in query and query["user_data"] not in (event.get("user_data") or ""):
            return False
        top = event.get("top_match") or {}
        labels = {m["label"] for m in event.get("match_result") or []}
        if "matching_candidates_labels" in query and not labels & set(query["matching_candidates_labels"]):
            return False
        similarity = top.get("similarity")
        if "object_similarity__gte" in query and (
            similarity is None or similarity < query["object_similarity__gte"]
        ):
            return False
        if "object_similarity__lt" in query and (
            similarity is None or similarity >= query["object_similarity__lt"]
        ):
            return False
        location = event.get("location") or {}
        return all(
            location.get(field) in query[name] for name, field in LOCATION_FILTERS.items() if name in query
        )

    return accepts


async def _closed(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) client messages until the socket closes; autoping answers pings."""
    async for message in ws:
        if message.type == WSMsgType.ERROR:
            break


async def ws_events(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, WS_QUERY)
    return await _serve(
        request, principal(request).read_scope(), event_filter(query), lambda item: item.message
    )


GENERAL_EVENT_FILTER = "event."
BAD_GENERAL_QUERY = errors.ErrorKind(11027, "Bad/incomplete input data", 400)


def general_filter(request: web.Request) -> tuple[str, str | None, list[FieldFilter]]:
    """(event_type, account_id, event.* field filters) of a /6/general/ws query."""
    event_type, account_id, filters = None, None, []
    for name, value in request.query.items():
        if name == "event_type":
            event_type = value
        elif name == "account_id":
            account_id = q_uuid(value) if value else None
        elif name.startswith(GENERAL_EVENT_FILTER):
            try:
                filters.append(parse_filter(name[len(GENERAL_EVENT_FILTER) :], value))
            except FilterError:
                raise errors.bad_query(name) from None
        else:
            raise errors.bad_query(name)
    if not event_type:
        raise LunaError(
            BAD_GENERAL_QUERY, "Failed to validate input json. Path: 'event_type', message: 'field required'"
        )
    return event_type, account_id, filters


def general_message(item: Published) -> dict[str, Any]:
    """``message_from_general_ws`` (L15400)."""
    return {
        "event": item.event,
        "event_type": item.event_type,
        "account_id": item.account_id,
        "event-create-time": item.event.get("create_time"),
        "event-end-time": item.event.get("end_time"),
    }


async def ws_general(request: web.Request) -> web.StreamResponse:
    try:
        event_type, account_id, filters = general_filter(request)
    except ValueError:
        raise errors.bad_query("account_id") from None
    scope = principal(request).read_scope() or account_id

    def accepts(item: Published) -> bool:
        return item.event_type == event_type and all(f.matches(item.event) for f in filters)

    return await _serve(request, scope, accepts, general_message)


async def open_socket(request: web.Request) -> web.WebSocketResponse:
    """Upgrade to a websocket exempt from the response deadline (it lives as long as its client)."""
    request.app[DEADLINES].release()
    ws = web.WebSocketResponse(heartbeat=30.0, autoping=True)
    ws.headers["Luna-Request-Id"] = request[REQUEST_ID]
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    return ws


async def pump(
    ws: web.WebSocketResponse,
    subscription: Subscription,
    render: Callable[[Published], dict[str, Any]],
    last: Callable[[dict[str, Any]], bool] = lambda body: False,
) -> None:
    """Send each subscribed item, rendered, until the client leaves or ``last(body)`` says the
    sent message ends the conversation (then the socket is closed)."""
    reader = asyncio.create_task(_closed(ws))
    try:
        while not ws.closed:
            getter = asyncio.create_task(subscription.queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            body = render(getter.result())
            await ws.send_json(body)
            if last(body):
                await ws.close()
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _serve(request: web.Request, scope: str | None, accepts, render) -> web.StreamResponse:  # type: ignore[no-untyped-def]
    """Stream the bus items ``accepts`` admits, rendered by ``render``, until the client leaves."""
    ws = await open_socket(request)
    subscription = request.app[BUS].subscribe(scope, accepts)
    try:
        await pump(ws, subscription, render)
    finally:
        request.app[BUS].unsubscribe(subscription)
    return ws


async def close_all(app: web.Application) -> None:
    """on_shutdown: tell every client the server is going away."""
    for ws in list(app[SOCKETS]):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
