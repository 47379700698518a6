"""Lease transactions: register, heartbeat, reclaim. Functions take the session; callers commit.

Two agents must never hold one stream, on either backend:

* PostgreSQL: pending streams are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` (a row
  another heartbeat is claiming is skipped; one it has claimed no longer matches), and the
  reclaim of expired leases skips locked rows too, so it never waits and cannot deadlock.
  Streams an agent holds or reports are locked in id order, so heartbeats never deadlock.
* SQLite (one process): a heartbeat's first statement is a write (the agent's last-seen
  time), which takes the database's single write lock for the whole transaction, so
  heartbeats run one after another and every read in them is current.

A lease lasts ``lease_seconds`` from the holder's last heartbeat; an agent unseen that long is
deleted, and its streams go back to pending (log entry "agent lost").
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.agents.protocol import Report
from api.agents.reports import ACTIVE, StatusNews, apply_report, release
from api.analytics_schemas import STREAM_ANALYTICS
from api.storage.models import Agent, Stream, StreamLog
from api.storage.streams import PENDING

AGENT_LOST = "agent lost"
NO_SYNC = {"synchronize_session": False}


@dataclass
class Beat:
    """A heartbeat's answer, plus the status news to publish once it is committed."""

    assign: list[Stream] = field(default_factory=list)
    release: list[str] = field(default_factory=list)
    news: list[StatusNews] = field(default_factory=list)


async def reclaim(session: AsyncSession, now: datetime, lease_seconds: float) -> int:
    """Expired leases back to pending, unseen agents deleted; returns how many streams went back."""
    expired = (
        select(Stream.stream_id)
        .where(Stream.agent_id.is_not(None), Stream.lease_expires_at < now)
        .with_for_update(skip_locked=True)
    )
    lost = await session.execute(
        update(Stream)
        .where(Stream.stream_id.in_(expired.where(Stream.status.in_(ACTIVE))))
        .values(
            agent_id=None, lease_expires_at=None, status=PENDING, last_error=AGENT_LOST, last_update_time=now
        )
        .returning(Stream.stream_id, Stream.account_id)
        .execution_options(**NO_SYNC)
    )
    rows = lost.all()
    session.add_all(
        StreamLog(stream_id=stream_id, account_id=account_id, log_time=now, status=PENDING, error=AGENT_LOST)
        for stream_id, account_id in rows
    )
    # Stopped streams an agent still held: only the lease goes, the status stays.
    await session.execute(
        update(Stream)
        .where(Stream.stream_id.in_(expired))
        .values(agent_id=None, lease_expires_at=None)
        .execution_options(**NO_SYNC)
    )
    unseen = (
        select(Agent.agent_id)
        .where(Agent.last_seen_time < now - timedelta(seconds=lease_seconds))
        .with_for_update(skip_locked=True)
    )
    await session.execute(delete(Agent).where(Agent.agent_id.in_(unseen)).execution_options(**NO_SYNC))
    return len(rows)


async def register(
    session: AsyncSession, name: str, max_stream_count: int, now: datetime, lease_seconds: float
) -> Agent:
    agent = Agent(
        agent_id=str(uuid.uuid4()),
        account_id=None,
        name=name,
        description="",
        max_stream_count=max_stream_count,
        analytics=list(STREAM_ANALYTICS),
        create_time=now,
        last_seen_time=now,
    )
    session.add(agent)
    await session.flush()  # a write first: on SQLite the transaction now holds the write lock
    await reclaim(session, now, lease_seconds)
    return agent


async def _touch(session: AsyncSession, agent_id: str, now: datetime, lease_seconds: float) -> bool:
    """Mark the agent seen, unless it is unknown or already expired."""
    seen = await session.execute(
        update(Agent)
        .where(Agent.agent_id == agent_id, Agent.last_seen_time >= now - timedelta(seconds=lease_seconds))
        .values(last_seen_time=now)
        .execution_options(**NO_SYNC)
    )
    return bool(seen.rowcount)


async def _locked(session: AsyncSession, agent_id: str, reported: Sequence[str]) -> list[Stream]:
    """The streams the agent holds or reports, locked in id order (PostgreSQL)."""
    query = (
        select(Stream)
        .where(or_(Stream.agent_id == agent_id, Stream.stream_id.in_(reported)))
        .order_by(Stream.stream_id)
        .with_for_update()
    )
    return list((await session.execute(query)).scalars().all())


async def _claim(
    session: AsyncSession, agent_id: str, count: int, until: datetime, now: datetime, skip: list[str]
) -> list[Stream]:
    """Lease up to ``count`` pending streams, oldest first; an autorestart waits out its delay."""
    if count <= 0:
        return []
    query = select(Stream).where(
        Stream.status == PENDING,
        Stream.agent_id.is_(None),
        or_(
            Stream.autorestart_status != "in_progress",
            Stream.retry_after.is_(None),
            Stream.retry_after <= now,
        ),
    )
    if skip:
        query = query.where(Stream.stream_id.not_in(skip))
    query = (
        query.order_by(Stream.create_time, Stream.stream_id).limit(count).with_for_update(skip_locked=True)
    )
    claimed = list((await session.execute(query)).scalars().all())
    for stream in claimed:
        stream.agent_id, stream.lease_expires_at = agent_id, until
    return claimed


async def heartbeat(
    session: AsyncSession,
    agent_id: str,
    reports: list[Report],
    free: int,
    now: datetime,
    lease_seconds: float,
) -> Beat | None:
    """Renew, apply reports, release and assign; None when the agent is unknown or expired."""
    alive = await _touch(session, agent_id, now, lease_seconds)
    await reclaim(session, now, lease_seconds)
    if not alive:
        return None
    agent = await session.get(Agent, agent_id)
    if agent is None:  # deleted by a concurrent reclaim a moment after we touched it
        return None
    until = now + timedelta(seconds=lease_seconds)
    by_id = {report.stream_id: report for report in reports}
    beat, held, resend, seen = Beat(), [], [], set()
    for stream in await _locked(session, agent_id, list(by_id)):
        seen.add(stream.stream_id)
        report = by_id.get(stream.stream_id)
        if stream.agent_id != agent_id:
            beat.release.append(stream.stream_id)  # reported, but leased elsewhere or reclaimed
            continue
        if stream.status not in ACTIVE or (report is not None and report.version != stream.version):
            release(stream)  # stopped (PATCH), or replaced (PUT): the agent stops its copy
            beat.release.append(stream.stream_id)
            continue
        if report is None:
            resend.append(stream)  # held but not reported: our last answer was lost
            continue
        kept, news = apply_report(session, stream, report, now)
        if news is not None:
            beat.news.append(news)
        if kept:
            held.append(stream)
    beat.release += [stream_id for stream_id in by_id if stream_id not in seen]  # deleted
    for stream in (*held, *resend):
        stream.lease_expires_at = until
    room = min(free - len(resend), agent.max_stream_count - len(held) - len(resend))
    claimed = await _claim(session, agent_id, room, until, now, [*by_id, *beat.release])
    beat.assign = [*resend, *claimed]
    return beat
