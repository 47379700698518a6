"""/6/tokens, /6/tokens/{token_id} and /6/login (CORE.md §12)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from api import errors
from api.auth import Principal
from api.errors import LunaError
from api.keys import AUTH, CONFIG, DB
from api.responses import created, iso, no_content, principal
from api.storage import tokens as repo
from api.storage.models import Token
from api.validation import PAGINATION, parse_query, q_enum, q_time, q_uuid, read_json

CRUD = ["creation", "view", "modification", "deletion"]
CVD = ["creation", "view", "deletion"]
# Permission key -> actions it may hold (spec `permissions_custom_only`, L16651).
ACTIONS: dict[str, list[str]] = {
    "account": ["view"],
    "face": [*CRUD, "matching"],
    "list": CRUD,
    "event": ["creation", "view", "matching"],
    "attribute": [*CRUD, "matching"],
    "handler": CRUD,
    "verifier": CRUD,
    "task": CRUD,
    "face_sample": CVD,
    "body_sample": CVD,
    "image": CVD,
    "object": CVD,
    "token": CRUD,
    "resources": ["iso", "sdk", "liveness"],
    "lambdas": CRUD,
    "video_stream": CRUD,
    "video_group": CRUD,
    "video_analytic": ["view"],
}
ALLOW_LISTS = ("emit_events", "verify")
_ID_LIST = {
    "type": ["array", "null"],
    "items": {"type": "string", "format": "uuid"},
    "minItems": 1,
    "maxItems": 100,
}
_ALLOW_LIST_SCHEMA = {
    "type": "object",
    "properties": {"allowed": {"enum": [0, 1]}, "white_list": _ID_LIST, "black_list": _ID_LIST},
    "additionalProperties": False,
}
PERMISSIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **{
            key: {"type": "array", "items": {"enum": actions}, "uniqueItems": True}
            for key, actions in ACTIONS.items()
        },
        **{key: _ALLOW_LIST_SCHEMA for key in ALLOW_LISTS},
    },
    # Custom keys: 3-16 lowercase letters/underscores holding CRUD actions.
    "propertyNames": {"pattern": "^[a-z_]{3,16}$"},
    "additionalProperties": {"type": "array", "items": {"enum": CRUD}, "uniqueItems": True},
}


def token_schema(grant_all: bool) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "description": {"type": "string", "maxLength": 128},
            "expiration_time": {"type": ["string", "null"], "format": "date-time"},
            "visibility_area": {"enum": ["account", "all"]},
            "permissions": PERMISSIONS_SCHEMA if not grant_all else {"type": "object"},
        },
        "required": ["expiration_time"] if grant_all else ["expiration_time", "permissions"],
        "additionalProperties": False,
    }


def normalise_permissions(given: dict[str, Any] | None, grant_all: bool) -> dict[str, Any]:
    """Fill every key with the spec's default (token: ["view"], lists: allowed) or everything."""
    given = given or {}
    result: dict[str, Any] = {}
    for key, actions in ACTIONS.items():
        default = ["view"] if key == "token" else []
        result[key] = list(actions) if grant_all else list(given.get(key, default))
    for key in ALLOW_LISTS:
        base = {"allowed": 1, "white_list": None, "black_list": None}
        result[key] = base if grant_all else {**base, **given.get(key, {})}
    for key, actions in given.items():
        if key not in result:
            result[key] = list(actions)
    return result


def check_not_escalating(caller: Principal, wanted: dict[str, Any]) -> None:
    """A token may only mint tokens with rights it holds itself."""
    if caller.token is None:
        return
    held = caller.token.permissions
    for key, actions in wanted.items():
        if isinstance(actions, list) and not set(actions) <= set(held.get(key, [])):
            missing = sorted(set(actions) - set(held.get(key, [])))
            raise LunaError(
                errors.TOKEN_PERMISSION_DENIED,
                f"Request denied due to token restrictions, required '{missing[0]}' permission for '{key}'",
            )


def _visibility(caller: Principal, requested: str | None) -> str:
    if caller.account_type == "user":
        return "account"  # "This option does not work for user account."
    return requested or "all"


def _expiration(value: str | None) -> datetime | None:
    return q_time(value) if value is not None else None


def to_json(request: web.Request, token: Token) -> dict[str, Any]:
    return {
        "token_id": token.token_id,
        "token": request.app[AUTH].issue(token.token_id, token.account_id, token.create_time),
        "account_id": token.account_id,
        "description": token.description,
        "expiration_time": iso(token.expiration_time),
        "visibility_area": token.visibility_area,
        "permissions": token.permissions,
        "create_time": iso(token.create_time),
        "last_update_time": iso(token.last_update_time),
    }


async def _body(request: web.Request) -> tuple[dict[str, Any], bool]:
    query = parse_query(request, {"grant_all_permissions": q_enum("0", "1")}, {"grant_all_permissions": "0"})
    grant_all = query["grant_all_permissions"] == "1"
    body = await read_json(request, token_schema(grant_all))
    body["permissions"] = normalise_permissions(body.get("permissions"), grant_all)
    check_not_escalating(principal(request), body["permissions"])
    return body, grant_all


async def post_tokens(request: web.Request) -> web.Response:
    caller = principal(request)
    body, _ = await _body(request)
    now = datetime.now(UTC)
    token = Token(
        token_id=str(uuid.uuid4()),
        account_id=caller.account_id,
        description=body.get("description", ""),
        expiration_time=_expiration(body["expiration_time"]),
        visibility_area=_visibility(caller, body.get("visibility_area")),
        permissions=body["permissions"],
        create_time=now,
        last_update_time=now,
    )
    async with request.app[DB].session() as session:
        session.add(token)
        await session.commit()
    jwt_token = request.app[AUTH].issue(token.token_id, token.account_id, token.create_time)
    return created(request, f"/6/tokens/{token.token_id}", {"token": jwt_token, "token_id": token.token_id})


def _owner_scope(caller: Principal) -> str | None:
    """Tokens are secrets: only admins may see other accounts' tokens."""
    return None if caller.is_admin and caller.token is None else caller.account_id


async def get_tokens(request: web.Request) -> web.Response:
    caller = principal(request)
    query = parse_query(
        request,
        {**PAGINATION, "account_id": q_uuid, "create_time__lt": q_time, "create_time__gte": q_time},
        {"page": 1, "page_size": 10},
    )
    account_id = _owner_scope(caller) or query.get("account_id")
    async with request.app[DB].session() as session:
        rows, _ = await repo.page(
            session,
            account_id=account_id,
            create_time__gte=query.get("create_time__gte"),
            create_time__lt=query.get("create_time__lt"),
            page=query["page"],
            page_size=query["page_size"],
        )
    return web.json_response({"tokens": [to_json(request, row) for row in rows]})


def _not_found(token_id: str) -> LunaError:
    return LunaError(errors.TOKEN_NOT_FOUND, f"Token with id '{token_id}' not found")


async def get_token(request: web.Request) -> web.Response:
    parse_query(request, {})
    token_id = request.match_info["token_id"]
    async with request.app[DB].session() as session:
        token = await repo.get(session, token_id, _owner_scope(principal(request)))
    if token is None:
        raise _not_found(token_id)
    return web.json_response(to_json(request, token))


async def put_token(request: web.Request) -> web.Response:
    caller = principal(request)
    token_id = request.match_info["token_id"]
    body, _ = await _body(request)
    async with request.app[DB].session() as session:
        token = await repo.get(session, token_id, _owner_scope(caller))
        if token is None:
            raise _not_found(token_id)
        token.description = body.get("description", "")
        token.expiration_time = _expiration(body["expiration_time"])
        token.visibility_area = _visibility(caller, body.get("visibility_area"))
        token.permissions = body["permissions"]
        token.last_update_time = datetime.now(UTC)
        await session.commit()
    jwt_token = request.app[AUTH].issue(token.token_id, token.account_id, token.create_time)
    return created(request, f"/6/tokens/{token_id}", {"token": jwt_token, "token_id": token_id})


async def delete_token(request: web.Request) -> web.Response:
    parse_query(request, {})
    token_id = request.match_info["token_id"]
    async with request.app[DB].session() as session:
        token = await repo.get(session, token_id, _owner_scope(principal(request)))
        if token is None:
            raise _not_found(token_id)
        await session.delete(token)
        await session.commit()
    return no_content()


async def post_login(request: web.Request) -> web.Response:
    """Put the bearer token in a cookie so a browser dashboard can authenticate with it."""
    header = request.headers.get("Authorization", "")
    token = header.partition(" ")[2].strip() or request.cookies.get(request.app[CONFIG].auth.cookie_name, "")
    response = no_content()
    response.set_cookie(
        request.app[CONFIG].auth.cookie_name,
        token,
        httponly=True,
        samesite="Strict",
        path="/",
        secure=request.secure,
    )
    return response


async def delete_login(request: web.Request) -> web.Response:
    response = no_content()
    response.del_cookie(request.app[CONFIG].auth.cookie_name, path="/")
    return response
