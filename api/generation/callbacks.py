"""Storage-policy callbacks, run after the request's transaction commits.

* ``http``: the event (handler reply shape) POSTed as JSON or msgpack to the URL, with optional
  basic auth and headers, through the same network policy as every other outbound request;
  sent in the background so a slow receiver never delays the caller, failures logged.
* ``luna-ws-notification``: the event pushed to /6/ws subscribers even when the event policy
  did not store it (stored events are always pushed).
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import msgpack

from api.config import FetchConfig
from api.fetch import FetchError, post
from api.generation.filters import passes

log = logging.getLogger("argus.callbacks")


def active(policies: dict[str, Any], kind: str, best: dict[str, float]) -> list[dict[str, Any]]:
    callbacks = policies["storage_policy"].get("callbacks") or []
    return [
        c
        for c in callbacks
        if c.get("type") == kind and c.get("enable", 1) and passes(c.get("filters"), best)
    ]


def _request(callback: dict[str, Any], event: dict[str, Any]) -> tuple[bytes, dict[str, str], float]:
    params = callback.get("params") or {}
    content_type = params.get("content_type", "application/json")
    headers = {**(params.get("headers") or {}), "Content-Type": content_type}
    auth = callback.get("authorization")
    if auth:
        token = base64.b64encode(f"{auth['login']}:{auth['password']}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    body = (
        msgpack.packb(event, use_bin_type=True)
        if content_type == "application/msgpack"
        else json.dumps(event).encode()
    )
    return body, headers, float(params.get("timeout", 60))


async def send_http(callback: dict[str, Any], event: dict[str, Any], config: FetchConfig) -> None:
    body, headers, timeout = _request(callback, event)
    try:
        status = await post(callback["url"], body, headers, config, timeout)
    except FetchError as exc:
        log.warning("callback to %s failed: %s", callback["url"], exc)
        return
    if status >= 300:
        log.warning("callback to %s answered %d", callback["url"], status)
