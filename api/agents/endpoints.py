"""HTTP handlers of the internal agent API (contract: ``api.agents.protocol``).

Not spec operations: the route table lists them apart (``api.routes.INTERNAL``), the request
frame (request id, errors, metrics) applies, and each handler checks ``Argus-Agent-Key``
itself, since the auth middleware only knows the spec's schemes.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from aiohttp import web

from api import errors
from api.agents import leases
from api.agents.deliveries import analytic_events, deliver
from api.agents.protocol import EVENTS, HEARTBEAT, REGISTER, heartbeat_seconds, lease, reports
from api.errors import ErrorKind, LunaError
from api.keys import AGENT_KEY, BUS, CONFIG, DB
from api.resources import stream_ws
from api.responses import respond
from api.validation import parse_query, read_json, read_json_or_msgpack

HEADER = "Argus-Agent-Key"
# Argus's own code (994xx, as errors.py's video codes): the agent re-registers on it.
AGENT_NOT_FOUND = ErrorKind(99404, "Object not found", 404)


def check_key(request: web.Request) -> None:
    given = request.headers.get(HEADER, "")
    if not given or not secrets.compare_digest(given.encode(), request.app[AGENT_KEY].encode()):
        raise LunaError(
            errors.AUTH_FAILED,
            f"The internal agent API needs the server's agent key in the '{HEADER}' header "
            "(config agent.key, or the generated <data_dir>/agent_key)",
        )


def _lease_seconds(request: web.Request) -> float:
    return request.app[CONFIG].agent.lease_seconds


async def register(request: web.Request) -> web.Response:
    check_key(request)
    parse_query(request, {})
    body = await read_json(request, REGISTER)
    seconds = _lease_seconds(request)
    async with request.app[DB].session() as session:
        agent = await leases.register(
            session, body["name"], body["max_stream_count"], datetime.now(UTC), seconds
        )
        await session.commit()
    reply = {
        "agent_id": agent.agent_id,
        "lease_seconds": seconds,
        "heartbeat_seconds": heartbeat_seconds(seconds),
    }
    return web.json_response(reply, status=201)


async def heartbeat(request: web.Request) -> web.Response:
    check_key(request)
    parse_query(request, {})
    agent_id = request.match_info["agent_id"]
    body = await read_json(request, HEARTBEAT)
    given = reports(body)
    async with request.app[DB].session() as session:
        beat = await leases.heartbeat(
            session, agent_id, given, body["free"], datetime.now(UTC), _lease_seconds(request)
        )
        await session.commit()  # the reclaim runs (and commits) even for an unknown agent
    if beat is None:
        raise LunaError(AGENT_NOT_FOUND, f"Agent with id '{agent_id}' not found (or its lease expired)")
    for news in beat.news:
        stream_ws.publish_status(
            request.app[BUS], news.account_id, news.stream_id, news.stream_status, news.error
        )
    assign = [lease(stream, request.app[CONFIG]) for stream in beat.assign]
    return web.json_response({"assign": assign, "release": beat.release})


async def events(request: web.Request) -> web.Response:
    """msgpack (images as bytes) or JSON (base64); answered in the format ``Accept`` asks for."""
    check_key(request)
    parse_query(request, {})
    body = await read_json_or_msgpack(request, EVENTS)
    done = await deliver(request, request.match_info["stream_id"], analytic_events(body))
    return respond(request, {"accepted": done.accepted, "duplicates": done.duplicates})
