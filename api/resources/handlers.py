"""/6/handlers: handler CRUD, count and policy validation (CORE.md §5)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from api import errors
from api.errors import ErrorKind, LunaError
from api.generation.capabilities import check_policies
from api.keys import DB, FACES
from api.responses import created, iso, no_content, principal
from api.spec.schemas import schema, with_defaults
from api.storage import handlers as repo
from api.storage import lists as lists_repo
from api.storage.handlers import HandlerFilter
from api.storage.models import Handler
from api.validation import PAGINATION, parse_query, q_enum, q_str, q_uuid, read_json

HANDLER_NOT_FOUND = ErrorKind(11033, "Object not found", 404)
LIST_IN_POLICY_NOT_FOUND = ErrorKind(22003, "Object not found", 400)
STATIC, DYNAMIC, LAMBDA = 0, 1, 2
FILTER_QUERY = {
    "account_id": q_uuid,
    "handler_type": q_enum("0", "1", "2"),
    "is_dynamic": q_enum("0", "1"),
    "description": q_str(0, 128),
}


def not_found(handler_id: str) -> LunaError:
    return LunaError(HANDLER_NOT_FOUND, f"Handler with id '{handler_id}' not found")


def full_policies(policies: dict[str, Any] | None) -> dict[str, Any]:
    """Policies with every default filled, as responses and event generation use them."""
    return with_defaults(schema("createHandler")["properties"]["policies"], policies or {}, materialize=True)


def policy_list_ids(policies: dict[str, Any]) -> list[str]:
    """Lists a handler's policies name: match candidates and face linking."""
    ids = [m.get("candidates", {}).get("list_id") for m in policies.get("match_policy") or []]
    face_policy = (policies.get("storage_policy") or {}).get("face_policy") or {}
    ids += [link.get("list_id") for link in face_policy.get("link_to_lists_policy") or []]
    return [i for i in dict.fromkeys(ids) if i]


async def check_policy_lists(session: AsyncSession, policies: dict[str, Any], account_id: str) -> None:
    wanted = policy_list_ids(policies)
    found = await lists_repo.existing(session, wanted, account_id) if wanted else set()
    for list_id in wanted:
        if list_id not in found:
            raise LunaError(LIST_IN_POLICY_NOT_FOUND, f"List with id '{list_id}' not found")


def validate_policies(request: web.Request, policies: dict[str, Any]) -> None:
    faces = request.app.get(FACES)
    check_policies(policies, bool(faces and faces.has_landmarks68))


async def _read_handler(request: web.Request) -> tuple[str, int, dict[str, Any] | None]:
    body = await read_json(request, schema("createHandler"))
    handler_type = body.get("handler_type", DYNAMIC if body.get("is_dynamic") else STATIC)
    if handler_type == LAMBDA or "lambda_id" in body:
        raise errors.bad_json(
            "handler_type", "lambda handlers are not supported by Argus (no lambda service)"
        )
    policies = body.get("policies")
    if policies is not None:
        validate_policies(request, full_policies(policies))
    return body.get("description", ""), handler_type, policies


def to_json(handler: Handler) -> dict[str, Any]:
    return {
        "handler_id": handler.handler_id,
        "account_id": handler.account_id,
        "description": handler.description,
        "create_time": iso(handler.create_time),
        "last_update_time": iso(handler.last_update_time),
        "policies": full_policies(handler.policies),
        "handler_type": handler.handler_type,
        "is_dynamic": handler.handler_type == DYNAMIC,
    }


async def post_handlers(request: web.Request) -> web.Response:
    parse_query(request, {})
    description, handler_type, policies = await _read_handler(request)
    account_id = principal(request).account_id
    now = datetime.now(UTC)
    handler = Handler(
        handler_id=str(uuid.uuid4()),
        account_id=account_id,
        description=description,
        handler_type=handler_type,
        policies=policies or {},
        create_time=now,
        last_update_time=now,
    )
    async with request.app[DB].session() as session:
        await check_policy_lists(session, full_policies(policies), account_id)
        session.add(handler)
        await session.commit()
    return created(request, f"/6/handlers/{handler.handler_id}", {"handler_id": handler.handler_id})


def _filter(request: web.Request, query: dict[str, Any]) -> HandlerFilter:
    handler_type = query.get("handler_type")
    if handler_type is None and "is_dynamic" in query:
        handler_type = str(DYNAMIC) if query["is_dynamic"] == "1" else str(STATIC)
    scope = principal(request).read_scope() or query.get("account_id")
    return HandlerFilter(
        scope, int(handler_type) if handler_type is not None else None, query.get("description")
    )


async def get_handlers(request: web.Request) -> web.Response:
    query = parse_query(request, {**FILTER_QUERY, **PAGINATION}, {"page": 1, "page_size": 10})
    async with request.app[DB].session() as session:
        rows = await repo.page(session, _filter(request, query), query["page"], query["page_size"])
    return web.json_response([to_json(row) for row in rows])


async def count_handlers(request: web.Request) -> web.Response:
    query = parse_query(request, FILTER_QUERY)
    async with request.app[DB].session() as session:
        total = await repo.count(session, _filter(request, query))
    return web.json_response({"handlers_count": total})


async def validate_handler(request: web.Request) -> web.Response:
    parse_query(request, {})
    body = await read_json(request, schema("validatePolicies"))
    policies = full_policies(body.get("policies"))
    validate_policies(request, policies)
    async with request.app[DB].session() as session:
        await check_policy_lists(session, policies, principal(request).account_id)
    return no_content()


async def _readable(request: web.Request) -> Handler:
    handler_id = request.match_info["handler_id"]
    async with request.app[DB].session() as session:
        handler = await repo.get(session, handler_id, principal(request).read_scope())
    if handler is None:
        raise not_found(handler_id)
    return handler


async def get_handler(request: web.Request) -> web.Response:
    parse_query(request, {})
    return web.json_response(to_json(await _readable(request)))


async def head_handler(request: web.Request) -> web.Response:
    parse_query(request, {})
    await _readable(request)
    return web.Response()


async def put_handler(request: web.Request) -> web.Response:
    parse_query(request, {})
    description, handler_type, policies = await _read_handler(request)
    handler_id, account_id = request.match_info["handler_id"], principal(request).account_id
    async with request.app[DB].session() as session:
        handler = await repo.get(session, handler_id, account_id)
        if handler is None:
            raise not_found(handler_id)
        await check_policy_lists(session, full_policies(policies), account_id)
        handler.description, handler.handler_type, handler.policies = (
            description,
            handler_type,
            policies or {},
        )
        handler.last_update_time = datetime.now(UTC)
        await session.commit()
    return no_content()


async def delete_handler(request: web.Request) -> web.Response:
    parse_query(request, {})
    handler_id = request.match_info["handler_id"]
    async with request.app[DB].session() as session:
        handler = await repo.get(session, handler_id, principal(request).account_id)
        if handler is None:
            raise not_found(handler_id)
        await session.delete(handler)
        await session.commit()
    return no_content()
