"""/6/streams: stream CRUD, count, pause/resume (CORE.md §2).

The API only records streams and their wanted state; agents lease and process them (the
``agent_id``/``lease_expires_at`` columns) and report statuses back through the stream log.
Reads see what the principal's read scope allows; writes touch only the caller's own streams.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from api import errors
from api.errors import LunaError
from api.keys import DB
from api.resources.stream_body import apply, check_references, read_stream, to_json
from api.responses import created, no_content, principal, respond
from api.spec.schemas import schema
from api.storage import groups as groups_repo
from api.storage import streams as repo
from api.storage.models import Stream
from api.storage.streams import PENDING, STATUSES, STOP, StreamFilter
from api.validation import PAGINATION, parse_query, q_enum, q_list, q_str, q_time, q_uuid, read_json

GROUP_NAME = r"^[a-zA-Z0-9_\-]{1,128}$"


def q_status(value: str) -> int:
    """A stream status by value or by name: the spec's schema says integers, its example names."""
    status = STATUSES[value] if value in STATUSES else int(value)
    if status not in STATUSES.values():
        raise ValueError(value)
    return status


q_statuses = q_list(q_status)
COUNT_FILTERS = {
    "account_id": q_uuid,
    "stream_ids": q_list(q_uuid),
    "names": q_list(q_str(0, 128)),
    "reference": q_str(0, 512),
    "statuses": q_statuses,
    "create_time__gte": q_time,
    "create_time__lt": q_time,
}
FILTERS = {
    **COUNT_FILTERS,
    "stream_id__gte": q_uuid,
    "stream_id__lt": q_uuid,
    "agent_id": q_uuid,
    "group_name": q_str(1, 128, GROUP_NAME),
}
ACCOUNT = {"account_id": q_uuid}


def not_found(stream_id: str) -> LunaError:
    return LunaError(errors.STREAM_NOT_FOUND, f"Stream with id '{stream_id}' not found")


def writable_account(request: web.Request, query: dict[str, Any]) -> str | None:
    """The caller's account, or None when an ``account_id`` filter names another (nothing matches)."""
    own = principal(request).account_id
    return own if query.get("account_id") in (None, own) else None


async def serialise(request: web.Request, rows: list[Stream]) -> list[dict[str, Any]]:
    async with request.app[DB].session() as session:
        groups = await repo.group_names_of(session, [row.stream_id for row in rows])
    return [to_json(row, groups[row.stream_id]) for row in rows]


async def post_streams(request: web.Request) -> web.Response:
    parse_query(request, {})
    given = await read_stream(request, "createStream")
    now = datetime.now(UTC)
    stream = Stream(
        stream_id=str(uuid.uuid4()),
        account_id=principal(request).account_id,
        status=PENDING,
        last_error=None,
        version=1,
        create_time=now,
    )
    apply(stream, given, now)
    async with request.app[DB].session() as session:
        group = await check_references(session, given, stream.account_id)
        session.add(stream)
        await session.flush()
        repo.add_log(session, stream, now)
        if group is not None:
            await groups_repo.attach(session, group.group_id, [stream.stream_id], now)
        await session.commit()
    return created(request, f"/6/streams/{stream.stream_id}", {"stream_id": stream.stream_id})


def stream_filter(request: web.Request, query: dict[str, Any]) -> StreamFilter:
    scope = principal(request).read_scope() or query.get("account_id")
    names = {name: query.get(name) for name in FILTERS if name != "account_id"}
    return StreamFilter(account_id=scope, **names)


async def get_streams(request: web.Request) -> web.Response:
    """Oldest first, as the operation describes, unless ``order=desc`` asks otherwise."""
    parsers = {**FILTERS, **PAGINATION, "order": q_enum("asc", "desc")}
    query = parse_query(request, parsers, {"page": 1, "page_size": 10, "order": "asc"})
    flt = stream_filter(request, query)
    async with request.app[DB].session() as session:
        rows = await repo.page(session, flt, query["page"], query["page_size"], query["order"] == "desc")
    return respond(request, {"streams": await serialise(request, list(rows))})


async def count_streams(request: web.Request) -> web.Response:
    query = parse_query(request, COUNT_FILTERS)
    async with request.app[DB].session() as session:
        total = await repo.count(session, stream_filter(request, query))
    return respond(request, {"streams_count": total})


async def _readable(request: web.Request) -> Stream:
    query = parse_query(request, ACCOUNT)
    stream_id = request.match_info["stream_id"]
    async with request.app[DB].session() as session:
        found = await repo.get(session, stream_id, principal(request).read_scope() or query.get("account_id"))
    if found is None:
        raise not_found(stream_id)
    return found


async def get_stream(request: web.Request) -> web.Response:
    return respond(request, (await serialise(request, [await _readable(request)]))[0])


async def head_stream(request: web.Request) -> web.Response:
    await _readable(request)
    return web.Response()


async def put_stream(request: web.Request) -> web.Response:
    """Replace the stream's fields and bump its version. Processing starts over (pending) unless
    the user stopped the stream: a stopped stream stays stopped until resumed. A group in the
    body is joined; the stream's other groups are kept (the linker manages membership)."""
    parse_query(request, {})
    given = await read_stream(request, "putStream")
    stream_id, account_id = request.match_info["stream_id"], principal(request).account_id
    now = datetime.now(UTC)
    async with request.app[DB].session() as session:
        stream = await repo.get(session, stream_id, account_id)
        if stream is None:
            raise not_found(stream_id)
        group = await check_references(session, given, account_id)
        apply(stream, given, now)
        repo.set_status(session, stream, STOP if stream.status == STOP else PENDING, None, now)
        # In SQL, so concurrent replaces each get their own version.
        stream.version = Stream.version + 1  # type: ignore[assignment]
        if group is not None:
            await groups_repo.attach(session, group.group_id, [stream_id], now)
        await session.flush()
        await session.refresh(stream, ["version"])
        version = stream.version
        await session.commit()
    return respond(request, {"stream_id": stream_id, "version": version})


async def patch_stream(request: web.Request) -> web.Response:
    """``action=stop`` switches the status to stop (5), ``resume`` to pending (0)."""
    query = parse_query(request, {"action": q_enum("stop", "resume")})
    if "action" not in query:
        raise errors.bad_query("action")
    stream_id = request.match_info["stream_id"]
    now = datetime.now(UTC)
    async with request.app[DB].session() as session:
        stream = await repo.get(session, stream_id, principal(request).account_id)
        if stream is None:
            raise not_found(stream_id)
        if query["action"] == "stop":
            repo.set_status(session, stream, STOP, stream.last_error, now)
        else:
            repo.set_status(session, stream, PENDING, None, now)
        await session.commit()
    return no_content()


async def delete_stream(request: web.Request) -> web.Response:
    query = parse_query(request, ACCOUNT)
    stream_id = request.match_info["stream_id"]
    account_id = writable_account(request, query)
    async with request.app[DB].session() as session:
        if account_id is None or not await repo.remove(session, [stream_id], account_id):
            raise not_found(stream_id)
        await session.commit()
    return no_content()


async def delete_streams(request: web.Request) -> web.Response:
    """Streams that do not exist (or belong to another account) are skipped: the spec declares no 404."""
    query = parse_query(request, ACCOUNT)
    stream_ids: list[str] = (await read_json(request, schema("deleteStreams")))["stream_ids"]
    account_id = writable_account(request, query)
    if account_id is not None:
        async with request.app[DB].session() as session:
            await repo.remove(session, stream_ids, account_id)
            await session.commit()
    return no_content()
