"""/6/accounts and /6/account (CORE.md §12)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from api import errors
from api.errors import LunaError
from api.keys import CONFIG, DB, PRINCIPAL
from api.passwords import hash_password
from api.responses import created, iso, no_content, principal, select_targets
from api.storage import accounts as repo
from api.storage.accounts import AccountFilter
from api.storage.models import Account
from api.validation import PAGINATION, parse_query, q_enum, q_list, q_str, q_time, q_uuid, read_json

LOGIN_PATTERN = r"^[a-z0-9_\-\.]+@[a-z]+\.[a-z]{2,}$"
TARGETS = ["account_id", "login", "account_type", "description", "create_time", "last_update_time"]
_FIELDS: dict[str, Any] = {
    "login": {"type": "string", "minLength": 3, "maxLength": 128, "pattern": LOGIN_PATTERN},
    "password": {"type": "string", "minLength": 3, "maxLength": 128, "pattern": "^.{3,128}$"},
    "account_type": {"type": "string", "enum": ["advanced_user", "user"]},
    "description": {"type": "string", "maxLength": 128},
}
CREATE_SCHEMA = {
    "type": "object",
    "properties": _FIELDS,
    "required": ["login", "password", "account_type"],
    "additionalProperties": False,
}
PATCH_SCHEMA = {"type": "object", "properties": _FIELDS, "minProperties": 1, "additionalProperties": False}
LIST_QUERY = {
    **PAGINATION,
    "login": q_str(3, 128, LOGIN_PATTERN),
    "account_type": q_enum("advanced_user", "user", "admin"),
    "create_time__lt": q_time,
    "create_time__gte": q_time,
    "targets": q_list(str, TARGETS),
}
TARGETS_QUERY = {"targets": q_list(str, TARGETS)}


def to_json(account: Account) -> dict[str, Any]:
    return {
        "account_id": account.account_id,
        "login": account.login,
        "account_type": account.account_type,
        "description": account.description,
        "create_time": iso(account.create_time),
        "last_update_time": iso(account.last_update_time),
    }


async def create_account(
    request: web.Request, login: str, password: str, account_type: str, description: str, account_id: str
) -> Account:
    """Insert an account; 409 with 41001/41002 when the login or id is taken."""
    now = datetime.now(UTC)
    password_hash = await asyncio.to_thread(hash_password, password)
    account = Account(
        account_id=account_id,
        login=login,
        password_hash=password_hash,
        account_type=account_type,
        description=description,
        create_time=now,
        last_update_time=now,
    )
    async with request.app[DB].session() as session:
        if await repo.get(session, account_id) is not None:
            raise LunaError(
                errors.ACCOUNT_ID_EXISTS, f"Account with account_id '{account_id}' already exists"
            )
        if await repo.by_login(session, login) is not None:
            raise LunaError(errors.LOGIN_EXISTS, f"Account with login '{login}' already exists")
        session.add(account)
        try:
            await session.commit()
        except IntegrityError:
            raise LunaError(errors.LOGIN_EXISTS, f"Account with login '{login}' already exists") from None
    return account


async def post_accounts(request: web.Request) -> web.Response:
    caller = request[PRINCIPAL]
    open_registration = request.app[CONFIG].auth.open_registration
    if not open_registration and (caller is None or not caller.is_admin):
        raise LunaError(errors.ACCOUNT_CREATION_DENIED, "Only an admin account can create accounts")
    parse_query(request, {})
    body = await read_json(request, CREATE_SCHEMA)
    try:
        account_id = q_uuid(request.headers.get("Luna-Account-Id") or str(uuid.uuid4()))
    except ValueError:
        raise errors.bad_query("Luna-Account-Id") from None
    account = await create_account(
        request,
        body["login"],
        body["password"],
        body["account_type"],
        body.get("description", ""),
        account_id,
    )
    return created(request, f"/6/accounts/{account.account_id}", {"account_id": account.account_id})


async def get_accounts(request: web.Request) -> web.Response:
    query = parse_query(request, LIST_QUERY, {"page": 1, "page_size": 10, "targets": None})
    flt = AccountFilter(
        login=query.get("login"),
        account_type=query.get("account_type"),
        create_time__gte=query.get("create_time__gte"),
        create_time__lt=query.get("create_time__lt"),
        only_account_id=principal(request).read_scope(),
    )
    async with request.app[DB].session() as session:
        rows, total = await repo.page(session, flt, query["page"], query["page_size"])
    accounts = [select_targets(to_json(row), query["targets"]) for row in rows]
    return web.json_response({"accounts": accounts, "total_count": total})


async def _own_account(request: web.Request) -> Account:
    account_id = principal(request).account_id
    async with request.app[DB].session() as session:
        account = await repo.get(session, account_id)
    if account is None:
        raise LunaError(errors.ACCOUNT_NOT_FOUND, f"Account with id '{account_id}' not found")
    return account


async def get_account(request: web.Request) -> web.Response:
    query = parse_query(request, TARGETS_QUERY, {"targets": None})
    return web.json_response(select_targets(to_json(await _own_account(request)), query["targets"]))


async def patch_account(request: web.Request) -> web.Response:
    parse_query(request, {})
    body = await read_json(request, PATCH_SCHEMA)
    account_id = principal(request).account_id
    if "password" in body:
        body["password_hash"] = await asyncio.to_thread(hash_password, body.pop("password"))
    async with request.app[DB].session() as session:
        account = await repo.get(session, account_id)
        if account is None:
            raise LunaError(errors.ACCOUNT_NOT_FOUND, f"Account with id '{account_id}' not found")
        if account.account_type == "admin" and body.get("account_type", "admin") != "admin":
            raise LunaError(
                errors.ADMIN_TYPE_LOCKED,
                f"Account with account_id '{account_id}' has admin type and its type can't be changed",
            )
        login = body.get("login")
        if login is not None and login != account.login and await repo.by_login(session, login) is not None:
            raise LunaError(errors.LOGIN_EXISTS, f"Account with login '{login}' already exists")
        for key, value in body.items():
            setattr(account, key, value)
        account.last_update_time = datetime.now(UTC)
        await session.commit()
    return no_content()
