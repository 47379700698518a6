"""Analytic events from agents: each delivered once, then its analytic's callbacks run.

Idempotency: an event's id goes into ``stream_deliveries`` in the same transaction as the
events its ``luna-event`` callbacks store, so a crash leaves either both or neither, and the
agent's retry of a delivered event is answered as a duplicate that does nothing. A handler
that is gone or an image that cannot be decoded only skips that part (logged): refusing the
event would make the agent retry it forever. Anything unexpected fails the request (500) with
nothing stored, and the agent retries later.

Callbacks, for the analytics the stream was created with: ``luna-event`` (finished events),
``http`` (finished events, in the background, failures logged) and ``luna-ws-notification``
(started and finished events, to the stream's websocket).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from api.agents import luna_events
from api.agents.luna_events import AnalyticEvent
from api.agents.protocol import parse_time
from api.analytics_schemas import with_stream_analytic_defaults
from api.generation.callbacks import send_http
from api.generation.outcome import Outcome
from api.keys import BACKGROUND, BUS, CONFIG, DB
from api.resources import stream_ws
from api.resources.streams import not_found
from api.storage.models import Stream, StreamDelivery


@dataclass
class Delivered:
    accepted: list[str]
    duplicates: list[str]


def analytic_events(body: dict[str, Any]) -> list[AnalyticEvent]:
    return [
        AnalyticEvent(
            item["event_id"],
            item["analytic_name"],
            item["event_status"],
            parse_time(item["time"], f"events.{index}.time"),
            item["result"],
        )
        for index, item in enumerate(body["events"])
    ]


def enabled_callbacks(stream: Stream) -> dict[str, list[dict[str, Any]]]:
    """analytic name -> its enabled callbacks (spec defaults filled)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for analytic in stream.analytics:
        job = with_stream_analytic_defaults(analytic)
        found.setdefault(job["name"], []).extend(c for c in job["callbacks"] if c.get("enable", 1))
    return found


async def _known(request: web.Request, event_id: str) -> bool:
    async with request.app[DB].session() as session:
        return await session.get(StreamDelivery, event_id) is not None


async def _commit(
    request: web.Request, stream: Stream, event: AnalyticEvent, generations: list[luna_events.Generation]
) -> list[Outcome] | None:
    """Record the delivery and store its events together; None for a duplicate."""
    written: list[Path] = []
    try:
        async with request.app[DB].session() as session:
            session.add(
                StreamDelivery(
                    event_id=event.event_id, stream_id=stream.stream_id, received_at=datetime.now(UTC)
                )
            )
            try:
                await session.flush()  # a concurrent delivery of the same event fails here
            except IntegrityError:
                await session.rollback()
                if await _known(request, event.event_id):
                    return None
                raise not_found(stream.stream_id) from None  # the stream was deleted meanwhile
            outcomes = await luna_events.store(session, request, stream.account_id, generations, written)
            await session.commit()
    except BaseException:
        for path in written:  # nothing half-written: no sample file without its row
            path.unlink(missing_ok=True)
        raise
    return outcomes


def _run_callbacks(request: web.Request, stream: Stream, event: AnalyticEvent, callbacks: list[dict]) -> None:
    """The http and websocket callbacks; never raise (the event is already delivered)."""
    if any(c["type"] == "luna-ws-notification" for c in callbacks):
        result = {**event.result, "event_status": event.event_status}
        stream_ws.publish_result(
            request.app[BUS], stream.account_id, stream.stream_id, event.analytic_name, result
        )
    if event.event_status != "finished":
        return
    payload = {"stream_id": stream.stream_id, "analytic_name": event.analytic_name, "event": event.result}
    for callback in callbacks:
        if callback["type"] == "http":
            request.app[BACKGROUND].spawn(send_http(callback, payload, request.app[CONFIG].fetch))


async def deliver(request: web.Request, stream_id: str, events: list[AnalyticEvent]) -> Delivered:
    async with request.app[DB].session() as session:
        stream = await session.get(Stream, stream_id)
    if stream is None:
        raise not_found(stream_id)
    callbacks = enabled_callbacks(stream)
    done = Delivered([], [])
    for event in events:
        if await _known(request, event.event_id):
            done.duplicates.append(event.event_id)
            continue
        mine = callbacks.get(event.analytic_name, [])
        finished = event.event_status == "finished"
        generations = await luna_events.prepare(request, stream, event, mine) if finished else []
        outcomes = await _commit(request, stream, event, generations)
        if outcomes is None:
            done.duplicates.append(event.event_id)
            continue
        await luna_events.announce_all(request, stream.account_id, generations, outcomes)
        _run_callbacks(request, stream, event, mine)
        done.accepted.append(event.event_id)
    return done
