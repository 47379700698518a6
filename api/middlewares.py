"""The middleware stack: one request frame (request id, CORS, metrics, errors, timeout, auth).

Errors are translated to LUNA bodies in exactly one place (:func:`frame_middleware`); no
handler exception reaches the client as a traceback or a non-LUNA body. The frame is one
middleware rather than five on purpose: each aiohttp middleware layer costs a coroutine
frame per request, and the stack's overhead is budgeted (see bench/http_stack.py).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from api import errors
from api.errors import LunaError, error_body
from api.keys import AUTH, CONFIG, DEADLINES, METRICS, OPERATION, OPERATIONS, PRINCIPAL, REQUEST_ID

log = logging.getLogger("argus.api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID_RE = re.compile(r"^[0-9]{10},[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")


def error_response(
    kind: errors.ErrorKind, detail: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(error_body(kind, detail), status=kind.status, headers=headers)


def new_request_id() -> str:
    """``{unix time},{uuid4}``; built from 16 random bytes directly, ~3x cheaper than uuid.uuid4()."""
    h = os.urandom(16).hex()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{int(time.time())},{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def _http_error(exc: web.HTTPException) -> web.Response:
    if exc.status == 404:
        return error_response(errors.PAGE_NOT_FOUND, "Page not found")
    if exc.status == 405:
        allow = exc.headers.get("Allow", "")
        return error_response(errors.METHOD_NOT_ALLOWED, "Method not allowed", {"Allow": allow})
    if exc.status == 413:
        return error_response(errors.PAYLOAD_TOO_LARGE, "Request payload is too large")
    kind = errors.ErrorKind(exc.status, exc.reason, exc.status)
    return error_response(kind, exc.text or exc.reason)


async def _answer(request: web.Request, handler: Handler, canonical: str | None) -> web.StreamResponse:
    """Authenticate and run the handler under the response timeout; every failure becomes a
    LUNA error response."""
    deadlines = request.app[DEADLINES]
    try:
        return await deadlines.run(lambda: _authorised(request, handler, canonical))
    except LunaError as exc:
        return error_response(exc.kind, exc.detail, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            return _redirect(exc)
        return _http_error(exc)
    except IntegrityError:
        log.warning("integrity conflict in %s %s", request.method, request.path, exc_info=True)
        return error_response(errors.CONFLICT, "The request conflicts with a concurrent change; retry it")
    except TimeoutError:
        detail = f"Service did not process a request within {deadlines.timeout:g} seconds"
        return error_response(errors.RESPONSE_TIMEOUT, detail)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(errors.INTERNAL, "Internal server error")


async def _authorised(request: web.Request, handler: Handler, canonical: str | None) -> web.StreamResponse:
    """Authenticate per the operation's declared schemes; reject early oversized bodies."""
    length = request.content_length
    if length is not None and length > request.app[CONFIG].server.client_max_size:
        raise LunaError(errors.PAYLOAD_TOO_LARGE, "Request payload is too large")
    op = request.app[OPERATIONS].get((request.method, canonical)) if canonical is not None else None
    request[OPERATION] = op
    request[PRINCIPAL] = None
    if op is not None and op.security:
        request[PRINCIPAL] = await request.app[AUTH].authenticate(request, op)
    return await handler(request)


def _redirect(exc: web.HTTPException) -> web.Response:
    return web.Response(status=exc.status, headers=exc.headers)


@web.middleware
async def frame_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Accept a valid ``Luna-Request-Id`` or make one, answer, then stamp and count the response."""
    started = time.perf_counter()
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else None
    given = request.headers.get("Luna-Request-Id")
    if given is not None and not REQUEST_ID_RE.match(given):
        request_id = new_request_id()
        response: web.StreamResponse = error_response(
            errors.BAD_REQUEST_ID, "Bad query parameters 'Luna-Request-Id'"
        )
    else:
        request_id = given or new_request_id()
        request[REQUEST_ID] = request_id
        response = await _answer(request, handler, canonical)
    if not response.prepared:  # websockets and streams set their headers themselves
        headers = response.headers
        headers["Luna-Request-Id"] = request_id
        headers["Access-Control-Allow-Origin"] = "*"
    request.app[METRICS].observe(
        f"{request.method}:{canonical or 'unknown'}", response.status, time.perf_counter() - started
    )
    return response


MIDDLEWARES = [frame_middleware]
