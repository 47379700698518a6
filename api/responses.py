"""Response helpers shared by the resource modules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from api.auth import Principal
from api.keys import CONFIG, PRINCIPAL


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def principal(request: web.Request) -> Principal:
    """The authenticated caller; the auth middleware guarantees one on secured operations."""
    found = request[PRINCIPAL]
    if found is None:
        raise RuntimeError(f"{request.method} {request.path} is served without authentication")
    return found


def external_url(request: web.Request, path: str) -> str:
    base = request.app[CONFIG].server.external_url.rstrip("/")
    if not base:
        base = f"{request.scheme}://{request.host}"
    return f"{base}{path}"


def created(request: web.Request, path: str, body: dict[str, Any]) -> web.Response:
    """201 with ``url``/``external_url`` in the body and a ``Location`` header, as LUNA does."""
    body = {**body, "url": path, "external_url": external_url(request, path)}
    return web.json_response(body, status=201, headers={"Location": path})


def no_content() -> web.Response:
    return web.Response(status=204)


def select_targets(row: dict[str, Any], targets: list[str] | None) -> dict[str, Any]:
    if targets is None:
        return row
    return {key: row[key] for key in targets if key in row}
