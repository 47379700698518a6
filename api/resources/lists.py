"""/6/lists: lists of faces and attaching faces to them (CORE.md §8)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from api import errors
from api.errors import LunaError
from api.keys import DB, MATCHING
from api.resources.faces import UNIQUE_IDS
from api.responses import created, iso, no_content, principal, respond
from api.storage import faces as faces_repo
from api.storage import lists as repo
from api.storage.lists import ListFilter
from api.storage.models import FaceList
from api.validation import PAGINATION, parse_query, q_enum, q_list, q_time, q_uuid, read_json

USER_DATA = {
    "type": "object",
    "properties": {"user_data": {"type": "string", "maxLength": 128}},
    "additionalProperties": False,
}
LISTS_TO_DELETE = {
    "type": "object",
    "properties": {"list_ids": UNIQUE_IDS},
    "required": ["list_ids"],
    "additionalProperties": False,
}
# `Link` (L8318): 1..1000 face ids ("preferable to use up to 100").
LINK = {
    "type": "object",
    "properties": {
        "action": {"enum": ["attach", "detach"]},
        "face_ids": {**UNIQUE_IDS, "maxItems": 1000},
    },
    "required": ["action", "face_ids"],
    "additionalProperties": False,
}
FILTERS = {
    "account_id": q_uuid,
    "create_time__lt": q_time,
    "create_time__gte": q_time,
    "last_update_time__lt": q_time,
    "last_update_time__gte": q_time,
    "user_data": str,
    "user_data__eq": str,
    "list_ids": q_list(q_uuid),
    "list_id__lt": q_uuid,
    "list_id__gte": q_uuid,
}
WITH_FACES = {"with_faces": q_enum("0", "1")}


def not_found(list_id: str) -> LunaError:
    return LunaError(errors.LIST_NOT_FOUND, f"List with id '{list_id}' not found")


def to_json(found: FaceList) -> dict[str, Any]:
    return {
        "list_id": found.list_id,
        "user_data": found.user_data,
        "account_id": found.account_id,
        "create_time": iso(found.create_time),
        "last_update_time": iso(found.last_update_time),
    }


async def post_lists(request: web.Request) -> web.Response:
    """The body is optional: no body makes a list with empty user data."""
    parse_query(request, {})
    body = await read_json(request, USER_DATA) if (await request.read()).strip() else {}
    now = datetime.now(UTC)
    found = FaceList(
        list_id=str(uuid.uuid4()),
        account_id=principal(request).account_id,
        user_data=body.get("user_data", ""),
        create_time=now,
        last_update_time=now,
    )
    async with request.app[DB].session() as session:
        session.add(found)
        await session.commit()
    return created(request, f"/6/lists/{found.list_id}", {"list_id": found.list_id})


def list_filter(request: web.Request, query: dict[str, Any]) -> ListFilter:
    scope = principal(request).read_scope() or query.get("account_id")
    return ListFilter(account_id=scope, **{name: query.get(name) for name in FILTERS if name != "account_id"})


async def get_lists(request: web.Request) -> web.Response:
    query = parse_query(request, {**FILTERS, **PAGINATION}, {"page": 1, "page_size": 10})
    async with request.app[DB].session() as session:
        rows = await repo.page(session, list_filter(request, query), query["page"], query["page_size"])
    return respond(request, {"lists": [to_json(row) for row in rows]})


async def count_lists(request: web.Request) -> web.Response:
    query = parse_query(request, FILTERS)
    async with request.app[DB].session() as session:
        total = await repo.count(session, list_filter(request, query))
    return respond(request, {"lists_count": total})


async def _readable(request: web.Request) -> FaceList:
    parse_query(request, {})
    list_id = request.match_info["list_id"]
    async with request.app[DB].session() as session:
        found = await repo.get(session, list_id, principal(request).read_scope())
    if found is None:
        raise not_found(list_id)
    return found


async def get_list(request: web.Request) -> web.Response:
    return respond(request, to_json(await _readable(request)))


async def head_list(request: web.Request) -> web.Response:
    await _readable(request)
    return web.Response()


async def patch_list(request: web.Request) -> web.Response:
    parse_query(request, {})
    body = await read_json(request, USER_DATA)
    list_id = request.match_info["list_id"]
    async with request.app[DB].session() as session:
        found = await repo.get(session, list_id, principal(request).account_id)
        if found is None:
            raise not_found(list_id)
        if "user_data" in body:
            found.user_data = body["user_data"]
            found.last_update_time = datetime.now(UTC)
        await session.commit()
    return no_content()


async def _remove(
    session: AsyncSession, list_ids: list[str], account_id: str, with_faces: bool
) -> tuple[int, list[str]]:
    """Delete the account's lists among ``list_ids``, and their faces when asked; returns
    (lists removed, faces removed) so the caller can update the matching index after commit.

    The spec answers 202 for ``with_faces=1`` because LUNA removes the faces in the background;
    Argus removes them in the request's transaction, so a 202 here means they are already gone.
    """
    face_ids: list[str] = []
    if with_faces:
        face_ids = await repo.face_ids_of(session, list_ids, account_id)
        await faces_repo.remove(session, face_ids, account_id, datetime.now(UTC))
    return await repo.remove(session, list_ids, account_id), face_ids


def _deleted(with_faces: bool) -> web.Response:
    return web.Response(status=202) if with_faces else no_content()


async def delete_list(request: web.Request) -> web.Response:
    query = parse_query(request, WITH_FACES, {"with_faces": "0"})
    with_faces = query["with_faces"] == "1"
    list_id = request.match_info["list_id"]
    account_id = principal(request).account_id
    async with request.app[DB].session() as session:
        removed, face_ids = await _remove(session, [list_id], account_id, with_faces)
        if not removed:
            raise not_found(list_id)  # leaving the block unclosed rolls the face removal back
        await session.commit()
    await request.app[MATCHING].faces_removed(account_id, face_ids)
    return _deleted(with_faces)


async def delete_lists(request: web.Request) -> web.Response:
    """Lists that do not exist (or belong to another account) are skipped: the spec declares no 404."""
    query = parse_query(request, WITH_FACES, {"with_faces": "0"})
    with_faces = query["with_faces"] == "1"
    list_ids: list[str] = (await read_json(request, LISTS_TO_DELETE))["list_ids"]
    account_id = principal(request).account_id
    async with request.app[DB].session() as session:
        _, face_ids = await _remove(session, list_ids, account_id, with_faces)
        await session.commit()
    await request.app[MATCHING].faces_removed(account_id, face_ids)
    return _deleted(with_faces)


async def patch_list_faces(request: web.Request) -> web.Response:
    """Attach or detach faces; every face must be the caller's, or nothing changes (400, 22004)."""
    parse_query(request, {})
    body = await read_json(request, LINK)
    list_id = request.match_info["list_id"]
    account_id = principal(request).account_id
    face_ids: list[str] = body["face_ids"]
    async with request.app[DB].session() as session:
        found = await repo.get(session, list_id, account_id)
        if found is None:
            raise not_found(list_id)
        present = await faces_repo.existing(session, face_ids, account_id)
        missing = next((face_id for face_id in face_ids if face_id not in present), None)
        if missing is not None:
            raise LunaError(
                errors.FACES_NOT_FOUND,
                f"One or more faces not found, including face with id '{missing}'",
            )
        now = datetime.now(UTC)
        if body["action"] == "attach":
            await repo.attach(session, list_id, face_ids, now)
        else:
            await repo.detach(session, list_id, face_ids)
        found.last_update_time = now
        await session.commit()
    return no_content()
