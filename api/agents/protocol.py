"""The agent protocol: request schemas, parsed reports and the lease an agent receives.

Contract (header ``Argus-Agent-Key`` on every request; JSON except the events body):

* ``POST /internal/agents`` ``{"name", "max_stream_count"}`` -> 201
  ``{"agent_id", "lease_seconds", "heartbeat_seconds"}``.
* ``POST /internal/agents/{agent_id}/heartbeat`` ``{"streams": [{"stream_id", "version",
  "status": 1|2|3|4, "error", "logs": [{"time", "status", "error"}]}], "free"}`` -> 200
  ``{"assign": [lease], "release": [stream_id]}``; 404 for an unknown or expired agent.
  An agent reports every stream it holds in every heartbeat (one still opening as 3, or not
  at all); a held stream it leaves out is sent again in ``assign`` (the answer that assigned
  it may have been lost), so an ``assign`` of a stream it already runs at the same version is
  a no-op for it. ``release`` names streams to stop now: deleted, stopped, replaced (new
  version) or no longer leased to it; streams it reported done (2) or failed (4) are not in
  it, since it has stopped them already. ``logs`` are written to the stream logs as sent; the
  server logs a status change itself unless the report's last log entry records it.
* ``POST /internal/agents/{agent_id}/streams/{stream_id}/events`` (msgpack) ``{"events":
  [{"event_id", "analytic_name", "event_status", "time", "result"}]}`` -> 200
  ``{"accepted": [...], "duplicates": [...]}``; 404 when the stream is gone. ``time`` is the
  event's wall-clock time (a finished event's end); ``result`` is one analytic event as
  /6/videosdk returns it. The agent in the path need not still be registered: a spooled
  event is accepted after its agent re-registered under a new id.

Unknown fields are accepted everywhere, so an agent newer than its server still works.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api import errors
from api.analytics_schemas import STREAM_ANALYTICS, with_stream_analytic_defaults
from api.config import Config
from api.resources.stream_body import AUTORESTART_DEFAULTS, DATA_DEFAULTS
from api.responses import iso
from api.storage.models import Stream
from api.video import agent_reference

UUID = {"type": "string", "pattern": "^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$"}
ERROR = {"type": ["string", "null"]}
TIME = {"type": "string", "minLength": 1}
REGISTER = {
    "type": "object",
    "required": ["name", "max_stream_count"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 128},
        "max_stream_count": {"type": "integer", "minimum": 1},
    },
}
LOG_ENTRY = {
    "type": "object",
    "required": ["time", "status"],
    "properties": {"time": TIME, "status": {"type": "integer", "minimum": 0, "maximum": 5}, "error": ERROR},
}
STREAM_REPORT = {
    "type": "object",
    "required": ["stream_id", "version", "status"],
    "properties": {
        "stream_id": UUID,
        "version": {"type": "integer", "minimum": 1},
        "status": {"enum": [1, 2, 3, 4]},
        "error": ERROR,
        "logs": {"type": "array", "maxItems": 1000, "items": LOG_ENTRY},
    },
}
HEARTBEAT = {
    "type": "object",
    "required": ["streams", "free"],
    "properties": {
        "streams": {"type": "array", "maxItems": 1000, "items": STREAM_REPORT},
        "free": {"type": "integer", "minimum": 0},
    },
}
ANALYTIC_EVENT = {
    "type": "object",
    "required": ["event_id", "analytic_name", "event_status", "time", "result"],
    "properties": {
        "event_id": UUID,
        "analytic_name": {"enum": list(STREAM_ANALYTICS)},
        "event_status": {"enum": ["started", "finished"]},
        "time": TIME,
        "result": {"type": "object"},
    },
}
EVENTS = {
    "type": "object",
    "required": ["events"],
    "properties": {"events": {"type": "array", "maxItems": 1000, "items": ANALYTIC_EVENT}},
}


def heartbeat_seconds(lease_seconds: float) -> float:
    """Three heartbeats per lease, and at least one a second: a stop (PATCH) reaches the agent
    at its next heartbeat, and the product promises a stop within 2 s."""
    return min(lease_seconds / 3, 1.0)


def parse_time(value: str, path: str) -> datetime:
    """An ISO 8601 time from an agent; one without a zone is taken as UTC (agents send UTC)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise errors.bad_json(path, f"'{value}' is not an ISO 8601 time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class LogEntry:
    time: datetime
    status: int
    error: str | None


@dataclass(frozen=True)
class Report:
    """One stream of a heartbeat, as the agent sees it."""

    stream_id: str
    version: int
    status: int
    error: str | None
    logs: tuple[LogEntry, ...]


def reports(body: dict[str, Any]) -> list[Report]:
    """The heartbeat's stream reports (a stream reported twice counts once: the last report)."""
    found: dict[str, Report] = {}
    for index, item in enumerate(body["streams"]):
        logs = tuple(
            LogEntry(
                parse_time(log["time"], f"streams.{index}.logs.{k}.time"), log["status"], log.get("error")
            )
            for k, log in enumerate(item.get("logs") or [])
        )
        found[item["stream_id"]] = Report(
            item["stream_id"], item["version"], item["status"], item.get("error"), logs
        )
    return list(found.values())


def lease_analytic(analytic: dict[str, Any]) -> dict[str, Any]:
    """A stream analytic as stored -> ``{"analytic_name", "parameters": {"targets",
    "callbacks", "parameters"}}`` with every spec default filled, so agents never guess."""
    job = with_stream_analytic_defaults(analytic)
    return {
        "analytic_name": job["name"],
        "parameters": {
            "targets": job["targets"],
            "callbacks": job["callbacks"],
            "parameters": job["parameters"],
        },
    }


def lease(stream: Stream, config: Config) -> dict[str, Any]:
    """What an agent needs to run the stream; ``version`` identifies this configuration."""
    data = {**DATA_DEFAULTS, **stream.data}
    data["reference"] = agent_reference(data["reference"], config)
    return {
        "stream_id": stream.stream_id,
        "account_id": stream.account_id,
        "version": stream.version,
        "name": stream.name,
        "data": data,
        "analytics": [lease_analytic(item) for item in stream.analytics],
        "autorestart": {
            **AUTORESTART_DEFAULTS,
            **stream.autorestart,
            "current_attempt": stream.current_attempt,
            "last_attempt_time": iso(stream.last_attempt_time),
            "status": stream.autorestart_status,
        },
    }
