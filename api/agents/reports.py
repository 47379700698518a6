"""Applying what an agent reports about a stream it holds: status, error, logs, autorestart.

Statuses (``stream_status``): 1 in_progress, 3 restart (camera lost, reconnecting), 2 done,
4 failure. Done and failure end the lease. A failure with ``autorestart.restart`` = 1 and
attempts left goes back to pending, leasable again ``delay`` seconds later; otherwise it stays
a failure (autorestart status ``failed`` when the attempts ran out).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.agents.protocol import Report
from api.resources.stream_body import AUTORESTART_DEFAULTS
from api.storage import streams as repo
from api.storage.models import Stream, StreamLog
from api.storage.streams import PENDING, STATUSES

IN_PROGRESS, DONE, RESTART, FAILURE = (STATUSES[n] for n in ("in_progress", "done", "restart", "failure"))
# Statuses of a stream an agent may hold: waiting for it, running, reconnecting.
ACTIVE = (PENDING, IN_PROGRESS, RESTART)


@dataclass(frozen=True)
class StatusNews:
    """A status change the stream's websocket subscribers are told (``stream_message_from_ws``)."""

    stream_id: str
    account_id: str
    stream_status: str  # in_progress | error | finished
    error: str | None


def release(stream: Stream) -> None:
    stream.agent_id = None
    stream.lease_expires_at = None


def _write_logs(session: AsyncSession, stream: Stream, report: Report) -> None:
    for entry in report.logs:
        session.add(
            StreamLog(
                stream_id=stream.stream_id,
                account_id=stream.account_id,
                log_time=entry.time,
                status=entry.status,
                error=entry.error,
            )
        )


def _set_logged(stream: Stream, status: int, error: str | None, now: datetime) -> None:
    """A status change the agent's own log entry already records (with the time it happened)."""
    if (stream.status, stream.last_error) != (status, error):
        stream.status, stream.last_error, stream.last_update_time = status, error, now


def schedule_restart(stream: Stream, now: datetime) -> bool:
    """Count an autorestart attempt if one is allowed; False when the failure is final."""
    policy = {**AUTORESTART_DEFAULTS, **stream.autorestart}
    if policy["restart"] != 1:
        return False
    attempt = stream.current_attempt or 0
    if attempt >= policy["attempt_count"]:
        stream.autorestart_status = "failed"
        return False
    stream.current_attempt = attempt + 1
    stream.last_attempt_time = now
    stream.retry_after = now + timedelta(seconds=policy["delay"])
    stream.autorestart_status = "in_progress"
    return True


def apply_report(
    session: AsyncSession, stream: Stream, report: Report, now: datetime
) -> tuple[bool, StatusNews | None]:
    """Apply a report on a stream this agent holds at the reported version.

    Returns (still held, news for the stream's websocket). The agent's log entries are written
    as sent; a status change is logged by the server too unless the last of them records it.
    """
    _write_logs(session, stream, report)
    before = stream.status
    last = report.logs[-1] if report.logs else None
    if last is not None and (last.status, last.error) == (report.status, report.error):
        _set_logged(stream, report.status, report.error, now)  # the agent's entry records the change
    else:
        repo.set_status(session, stream, report.status, report.error, now)
    if report.status in (IN_PROGRESS, RESTART):
        if report.status == IN_PROGRESS and stream.autorestart_status == "in_progress":
            stream.autorestart_status = "enabled"  # the restart worked
        started = report.status == IN_PROGRESS and before != IN_PROGRESS
        news = StatusNews(stream.stream_id, stream.account_id, "in_progress", None) if started else None
        return True, news
    release(stream)
    if report.status == DONE:
        return False, StatusNews(stream.stream_id, stream.account_id, "finished", None)
    if schedule_restart(stream, now):
        repo.set_status(session, stream, PENDING, report.error, now)
        return False, None  # not fatal: the socket stays open for the restart
    error = report.error or "stream processing failed"
    return False, StatusNews(stream.stream_id, stream.account_id, "error", error)
