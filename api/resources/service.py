"""Service endpoints (CORE.md §13): health, version, metrics, docs; and the credentials verifier."""

from __future__ import annotations

import html
import json
import time
from importlib import resources
from typing import Any

from aiohttp import web

from api import __version__, errors
from api.auth import BadCredentials
from api.errors import LunaError, error_body
from api.keys import AUTH, CONFIG, DB, METRICS
from api.storage import accounts as accounts_repo
from api.validation import parse_query, q_enum, read_json

HEALTH_QUERY = {"include_luna_services": q_enum("0", "1")}


async def healthcheck(request: web.Request) -> web.Response:
    """200 with the check's duration, or 502 listing the components that failed."""
    parse_query(request, HEALTH_QUERY)
    started = time.perf_counter()
    failures: list[dict[str, Any]] = []
    try:
        await request.app[DB].ping()
    except Exception as exc:  # any driver error means the database is unhealthy
        failures.append(
            {
                "component": "database",
                "status": 0,
                "error": error_body(
                    errors.ErrorKind(10015, "Database error", 502), f"{type(exc).__name__}: {exc}"
                ),
            }
        )
    if failures:
        return web.json_response({"errors": failures}, status=502)
    return web.json_response({"execution_time": time.perf_counter() - started})


async def healthcheck_redirect(request: web.Request) -> web.Response:
    parse_query(request, HEALTH_QUERY)
    location = "/6/healthcheck" + (f"?{request.query_string}" if request.query_string else "")
    raise web.HTTPPermanentRedirect(location)


def _version_body() -> str:
    """Argus's own version stands in for every LUNA service it implements."""
    major, minor, patch = (int(part) for part in __version__.split("."))
    semver = {"major": major, "minor": minor, "patch": patch}
    api_version = {"api": 6, **semver}
    services = ("luna-api", "luna-faces", "luna-events", "luna-handlers", "luna-remote-sdk")
    return json.dumps({"LUNA PLATFORM": semver, **dict.fromkeys(services, api_version)})


VERSION_BODY = _version_body()


async def version(request: web.Request) -> web.Response:
    parse_query(request, {})
    return web.Response(text=VERSION_BODY, content_type="application/json")


async def metrics(request: web.Request) -> web.Response:
    parse_query(request, {})
    if not request.app[CONFIG].metrics.enabled:
        raise LunaError(errors.RESOURCE_DISABLED, "Resource is disabled.")
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; charset=UTF-8"})


def _accepted(request: web.Request, offered: tuple[str, ...]) -> str | None:
    """The first offered media type the Accept header names (ignoring q-values)."""
    wanted = [part.split(";")[0].strip() for part in request.headers.get("Accept", "").split(",")]
    for media in wanted:
        if media in offered:
            return media
    return None


def _spec_file(name: str) -> str:
    return resources.files("api.spec").joinpath(name).read_text(encoding="utf-8")


async def docs_spec(request: web.Request) -> web.Response:
    parse_query(request, {})
    media = _accepted(request, ("application/x-yaml", "text/html"))
    if media is None:
        raise LunaError(errors.UNSUPPORTED_MEDIA, "Bad/incomplete input data")
    if media == "application/x-yaml":
        return web.Response(text=_spec_file("openapi.yaml"), content_type="application/x-yaml")
    return web.Response(text=_spec_file("openapi.html"), content_type="text/html")


async def docs_dev(request: web.Request) -> web.Response:
    """The developer manual: Argus's README, as a page."""
    parse_query(request, {})
    manual = _spec_file("manual.md")
    page = f"<!doctype html><title>Argus developer manual</title><pre>{html.escape(manual)}</pre>"
    return web.Response(text=page, content_type="text/html")


VERIFIER_SCHEMA = {
    "oneOf": [
        {
            "type": "object",
            "required": ["login", "password"],
            "additionalProperties": False,
            "properties": {
                "login": {"type": "string", "minLength": 3, "maxLength": 128},
                "password": {"type": "string", "minLength": 3, "maxLength": 128},
            },
        },
        {
            "type": "object",
            "required": ["token"],
            "additionalProperties": False,
            "properties": {"token": {"type": "string"}},
        },
        {
            "type": "object",
            "required": ["account_id"],
            "additionalProperties": False,
            "properties": {"account_id": {"type": "string", "format": "uuid"}},
        },
    ]
}


async def credentials_verifier(request: web.Request) -> web.Response:
    parse_query(request, {})
    body = await read_json(request, VERIFIER_SCHEMA)
    auth = request.app[AUTH]
    if "account_id" in body:
        async with request.app[DB].session() as session:
            account = await accounts_repo.get(session, body["account_id"])
        if account is None:
            raise LunaError(errors.ACCOUNT_NOT_FOUND, f"Account with id '{body['account_id']}' not found")
        return web.json_response({"account_type": account.account_type})
    if "login" in body:
        try:
            account = await auth.login_owner(body["login"], body["password"])
        except BadCredentials:
            raise LunaError(errors.CREDENTIALS_WRONG, "Login and password doesn't match any user") from None
        return web.json_response({"account_id": account.account_id, "account_type": account.account_type})
    try:
        token, account = await auth.token_owner(body["token"])
    except BadCredentials as exc:
        if exc.reason == "expired":
            raise LunaError(errors.TOKEN_EXPIRED, "Token has been expired") from None
        raise LunaError(errors.JWT_NOT_FOUND, "JWT token doesn't exist") from None
    return web.json_response({"account_type": account.account_type, "permissions": token.permissions})
