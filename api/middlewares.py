"""The middleware stack, outermost first: request id + CORS headers, metrics, errors, auth.

Errors are translated to LUNA bodies in exactly one place (:func:`error_middleware`); no
handler exception reaches the client as a traceback or a non-LUNA body.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from api import errors
from api.auth import METHOD_ACTIONS
from api.errors import LunaError, error_body
from api.keys import AUTH, CONFIG, METRICS, OPERATION, OPERATIONS, PRINCIPAL, REQUEST_ID

log = logging.getLogger("argus.api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID_RE = re.compile(r"^[0-9]{10},[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")
CORS_HEADERS = {"Access-Control-Allow-Origin": "*"}


def error_response(
    kind: errors.ErrorKind, detail: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(error_body(kind, detail), status=kind.status, headers=headers)


def new_request_id() -> str:
    return f"{int(time.time())},{uuid.uuid4()}"


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Accept a valid ``Luna-Request-Id`` or make one; put it (and CORS) on every response."""
    given = request.headers.get("Luna-Request-Id")
    if given is not None and not REQUEST_ID_RE.match(given):
        request_id = new_request_id()
        response: web.StreamResponse = error_response(
            errors.BAD_REQUEST_ID, "Bad query parameters 'Luna-Request-Id'"
        )
    else:
        request_id = given or new_request_id()
        request[REQUEST_ID] = request_id
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # redirects: the error middleware lets them through
            exc.headers["Luna-Request-Id"] = request_id
            exc.headers.update(CORS_HEADERS)
            raise
    if not response.prepared:
        response.headers["Luna-Request-Id"] = request_id
        response.headers.update(CORS_HEADERS)
    return response


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else "unknown"
        request.app[METRICS].observe(f"{request.method}:{path}", status, time.perf_counter() - started)


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


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    timeout = request.app[CONFIG].server.response_timeout
    try:
        async with asyncio.timeout(timeout):
            return await handler(request)
    except LunaError as exc:
        return error_response(exc.kind, exc.detail, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects are answers, not errors
        return _http_error(exc)
    except TimeoutError:
        detail = f"Service did not process a request within {timeout:g} seconds"
        return error_response(errors.RESPONSE_TIMEOUT, detail)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(errors.INTERNAL, "Internal server error")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate per the operation's declared schemes; reject early oversized bodies."""
    max_size = request.app[CONFIG].server.client_max_size
    if request.content_length is not None and request.content_length > max_size:
        raise LunaError(errors.PAYLOAD_TOO_LARGE, "Request payload is too large")
    resource = request.match_info.route.resource
    op = None
    if resource is not None:
        op = request.app[OPERATIONS].get((request.method, resource.canonical))
    request[OPERATION] = op
    request[PRINCIPAL] = None
    if op is not None and op.security:
        request[PRINCIPAL] = await request.app[AUTH].authenticate(request, op)
    return await handler(request)


MIDDLEWARES = [request_id_middleware, metrics_middleware, error_middleware, auth_middleware]
__all__ = ["METHOD_ACTIONS", "MIDDLEWARES", "error_response", "new_request_id"]
