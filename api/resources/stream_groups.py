"""/6/groups and /6/linker: stream groups and stream membership (REST.md §20, §21).

A group is a named set of the account's streams; a stream shows its groups by name
(``groups`` of the stream object). Deleting a group unlinks its streams and keeps them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import errors
from api.errors import LunaError
from api.keys import DB
from api.resources.streams import GROUP_NAME, writable_account
from api.responses import created, iso, no_content, principal, respond
from api.storage import groups as repo
from api.storage import streams as streams_repo
from api.storage.groups import GroupFilter
from api.storage.models import StreamGroup
from api.validation import PAGINATION, UUID_RE, parse_query, q_list, q_str, q_uuid, read_json

NAME = {"type": "string", "pattern": GROUP_NAME}
DESCRIPTION = {"type": "string", "maxLength": 256}
CREATE_GROUP = {  # create_group, L18717
    "type": "object",
    "properties": {"group_name": NAME, "description": DESCRIPTION},
    "required": ["group_name"],
    "additionalProperties": False,
}
UPDATE_GROUP = {  # update_group, L18766
    "type": "object",
    "properties": {"description": DESCRIPTION},
    "required": ["description"],
    "additionalProperties": False,
}
LINKER = {  # linker, L18701
    "type": "object",
    "properties": {
        "action": {"enum": ["attach", "detach"]},
        "stream_ids": {"type": "array", "maxItems": 1000, "items": {"type": "string", "pattern": UUID_RE}},
        "group_id": {"type": "string", "pattern": UUID_RE},
    },
    "required": ["action", "stream_ids", "group_id"],
    "additionalProperties": False,
}
FILTERS = {
    "account_id": q_uuid,
    "group_ids": q_list(q_uuid),
    "group_names": q_list(q_str(1, 128, GROUP_NAME)),
}
ACCOUNT = {"account_id": q_uuid}


def not_found(group_id: str, kind: errors.ErrorKind = errors.GROUP_NOT_FOUND) -> LunaError:
    return LunaError(kind, f"Group with id {group_id} not found")


def to_json(group: StreamGroup) -> dict[str, Any]:
    return {
        "group_id": group.group_id,
        "group_name": group.group_name,
        "account_id": group.account_id,
        "description": group.description,
        "create_time": iso(group.create_time),
    }


async def post_groups(request: web.Request) -> web.Response:
    parse_query(request, {})
    body = await read_json(request, CREATE_GROUP)
    group = StreamGroup(
        group_id=str(uuid.uuid4()),
        account_id=principal(request).account_id,
        group_name=body["group_name"],
        description=body.get("description", ""),
        create_time=datetime.now(UTC),
    )
    exists = LunaError(errors.GROUP_EXISTS, f"Group named '{group.group_name}' already exists")
    async with request.app[DB].session() as session:
        if await repo.by_name(session, group.account_id, group.group_name) is not None:
            raise exists
        session.add(group)
        try:
            await session.commit()
        except IntegrityError:  # a concurrent request made the same name first
            raise exists from None
    return created(request, f"/6/groups/{group.group_id}", {"group_id": group.group_id})


def group_filter(request: web.Request, query: dict[str, Any]) -> GroupFilter:
    scope = principal(request).read_scope() or query.get("account_id")
    return GroupFilter(scope, query.get("group_ids"), query.get("group_names"))


async def get_groups(request: web.Request) -> web.Response:
    query = parse_query(request, {**FILTERS, **PAGINATION}, {"page": 1, "page_size": 10})
    async with request.app[DB].session() as session:
        rows = await repo.page(session, group_filter(request, query), query["page"], query["page_size"])
    return respond(request, {"groups": [to_json(row) for row in rows]})


async def count_groups(request: web.Request) -> web.Response:
    query = parse_query(request, FILTERS)
    async with request.app[DB].session() as session:
        total = await repo.count(session, group_filter(request, query))
    return respond(request, {"groups_count": total})


async def get_group(request: web.Request) -> web.Response:
    query = parse_query(request, ACCOUNT)
    group_id = request.match_info["group_id"]
    async with request.app[DB].session() as session:
        group = await repo.get(session, group_id, principal(request).read_scope() or query.get("account_id"))
    if group is None:
        raise not_found(group_id, errors.GROUP_NOT_FOUND_ON_GET)
    return respond(request, to_json(group))


async def _writable_group(session: AsyncSession, group_id: str, account_id: str | None) -> StreamGroup:
    """The group, if the caller may change it (else 404, as for a missing one)."""
    group = await repo.get(session, group_id, account_id) if account_id else None
    if group is None:
        raise not_found(group_id)
    return group


async def patch_group(request: web.Request) -> web.Response:
    query = parse_query(request, ACCOUNT)
    body = await read_json(request, UPDATE_GROUP)
    account_id = writable_account(request, query)
    async with request.app[DB].session() as session:
        group = await _writable_group(session, request.match_info["group_id"], account_id)
        group.description = body["description"]
        await session.commit()
    return no_content()


async def delete_group(request: web.Request) -> web.Response:
    account_id = writable_account(request, parse_query(request, ACCOUNT))
    async with request.app[DB].session() as session:
        await session.delete(await _writable_group(session, request.match_info["group_id"], account_id))
        await session.commit()
    return no_content()


async def patch_linker(request: web.Request) -> web.Response:
    """Attach or detach streams; the group and every stream must be the caller's, or nothing
    changes (400: 44004 for the group, 44001 naming the first missing stream)."""
    query = parse_query(request, ACCOUNT)
    body = await read_json(request, LINKER)
    group_id, stream_ids = body["group_id"], list(dict.fromkeys(body["stream_ids"]))
    account_id = writable_account(request, query)
    async with request.app[DB].session() as session:
        group = await repo.get(session, group_id, account_id) if account_id else None
        if group is None:
            raise not_found(group_id, errors.GROUP_IN_BODY_NOT_FOUND)
        present = await streams_repo.existing(session, stream_ids, group.account_id)
        missing = next((stream_id for stream_id in stream_ids if stream_id not in present), None)
        if missing is not None:
            raise LunaError(errors.STREAM_IN_BODY_NOT_FOUND, f"Stream with id {missing} not found")
        if body["action"] == "attach":
            await repo.attach(session, group_id, stream_ids, datetime.now(UTC))
        else:
            await repo.detach(session, group_id, stream_ids)
        await session.commit()
    return no_content()
