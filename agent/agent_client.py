"""The agent's side of the server's internal API (register, heartbeat, events), over HTTP.

Blocking calls (urllib) because every caller is a thread of its own (the heartbeat loop, the
event sender); each request carries ``Argus-Agent-Key``. Environment proxies are ignored: an
agent talks to its server directly, and a stray ``http_proxy`` must not swallow its traffic.
"""

from __future__ import annotations

import enum
import http.client
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

KEY_HEADER = "Argus-Agent-Key"


class ServerUnavailable(Exception):
    """No usable answer (connection refused, timeout, 5xx, refused key): try again later."""


class AgentUnknown(Exception):
    """The server does not know this agent (never registered, or its lease expired): re-register."""


class Delivery(enum.Enum):
    """What became of one posted batch of events."""

    DELIVERED = "delivered"  # accepted or already there (duplicates): delete it
    GONE = "gone"  # 404: the stream was deleted, its events have nowhere to go
    REJECTED = "rejected"  # the server will never take this body (400, 413, 422): drop it
    RETRY = "retry"  # unreachable, 5xx, auth trouble: keep it and try again


# Client errors that say nothing about the batch itself: the same body may succeed later.
_TRANSIENT = {401, 403, 408, 409, 425, 429}


class AgentClient:
    """One server, one key; safe to share between threads (no connection state is kept)."""

    def __init__(self, server_url: str, key: str, timeout: float = 10.0) -> None:
        self.server_url = server_url.rstrip("/")
        self.key = key
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        request = urllib.request.Request(
            self.server_url + path,
            data=body,
            method="POST",
            headers={KEY_HEADER: self.key, "Content-Type": content_type, "Accept": "application/json"},
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, exc.read()
            except (OSError, http.client.HTTPException):
                return exc.code, b""
            finally:
                exc.close()
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ServerUnavailable(f"server {self.server_url} is unreachable: {reason}") from None

    def _post_json(self, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        status, raw = self._post(path, json.dumps(payload).encode(), "application/json")
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None

    @staticmethod
    def _refused(what: str, status: int, answer: Any) -> ServerUnavailable:
        if status in (401, 403):
            return ServerUnavailable(f"{what}: the server refused the agent key ({status}); check agent.key")
        detail = answer.get("detail") if isinstance(answer, dict) else None
        return ServerUnavailable(f"{what}: the server answered {status}{f' ({detail})' if detail else ''}")

    def register(self, name: str, max_stream_count: int) -> dict[str, Any]:
        """``{"agent_id", "lease_seconds", "heartbeat_seconds"}``."""
        status, answer = self._post_json(
            "/internal/agents", {"name": name, "max_stream_count": max_stream_count}
        )
        if status not in (200, 201) or not isinstance(answer, dict) or "agent_id" not in answer:
            raise self._refused("registration failed", status, answer)
        return answer

    def heartbeat(self, agent_id: str, streams: list[dict[str, Any]], free: int) -> dict[str, Any]:
        """``{"assign": [lease], "release": [stream_id]}``; AgentUnknown on 404."""
        status, answer = self._post_json(
            f"/internal/agents/{quote(agent_id, safe='')}/heartbeat", {"streams": streams, "free": free}
        )
        if status == 404:
            raise AgentUnknown(agent_id)
        if status != 200 or not isinstance(answer, dict):
            raise self._refused("heartbeat failed", status, answer)
        return answer

    def post_events(self, agent_id: str, stream_id: str, body: bytes) -> tuple[Delivery, str]:
        """Post one spooled batch (msgpack); the outcome and, unless delivered, why."""
        path = f"/internal/agents/{quote(agent_id, safe='')}/streams/{quote(stream_id, safe='')}/events"
        try:
            status, raw = self._post(path, body, "application/msgpack")
        except ServerUnavailable as exc:
            return Delivery.RETRY, str(exc)
        detail = f"the server answered {status}: {raw[:200].decode(errors='replace')}"
        if status == 200:
            return Delivery.DELIVERED, ""
        if status == 404:
            return Delivery.GONE, detail
        if 400 <= status < 500 and status not in _TRANSIENT:
            return Delivery.REJECTED, detail
        return Delivery.RETRY, detail
