"""Response helpers shared by the resource modules."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import msgpack
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


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def wants_msgpack(request: web.Request) -> bool:
    return "application/msgpack" in request.headers.get("Accept", "")


def respond(
    request: web.Request, body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """JSON, or msgpack when the client's Accept asks for it; bytes are base64 in JSON, raw in msgpack."""
    if wants_msgpack(request):
        return web.Response(
            body=msgpack.packb(body, use_bin_type=True),
            status=status,
            content_type="application/msgpack",
            headers=headers,
        )
    return web.Response(
        text=json.dumps(body, default=_json_default),
        status=status,
        content_type="application/json",
        headers=headers,
    )
