"""Stream queries and stream logs. Functions take the session first and never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.storage.lists import chunks
from api.storage.models import Stream, StreamGroup, StreamGroupLink, StreamLog

# Stream statuses (`stream_status`, L18371); the query filters also accept the names.
STATUSES = {"pending": 0, "in_progress": 1, "done": 2, "restart": 3, "failure": 4, "stop": 5}
PENDING, STOP = STATUSES["pending"], STATUSES["stop"]


@dataclass(frozen=True)
class StreamFilter:
    account_id: str | None = None
    stream_ids: list[str] | None = None
    stream_id__gte: str | None = None
    stream_id__lt: str | None = None
    names: list[str] | None = None
    reference: str | None = None
    statuses: list[int] | None = None
    create_time__gte: datetime | None = None
    create_time__lt: datetime | None = None
    agent_id: str | None = None
    group_name: str | None = None

    def conditions(self) -> list[Any]:
        result: list[Any] = []
        if self.account_id is not None:
            result.append(Stream.account_id == self.account_id)
        if self.stream_ids is not None:
            result.append(Stream.stream_id.in_(self.stream_ids))
        for column, lower, upper in (
            (Stream.stream_id, self.stream_id__gte, self.stream_id__lt),
            (Stream.create_time, self.create_time__gte, self.create_time__lt),
        ):
            if lower is not None:
                result.append(column >= lower)
            if upper is not None:
                result.append(column < upper)
        if self.names is not None:
            result.append(Stream.name.in_(self.names))
        if self.reference is not None:
            result.append(Stream.reference == self.reference)
        if self.statuses is not None:
            result.append(Stream.status.in_(self.statuses))
        if self.agent_id is not None:
            result.append(Stream.agent_id == self.agent_id)
        if self.group_name is not None:
            # Groups are per account: the name is matched among the stream's own account's groups.
            in_group = (
                select(StreamGroupLink.stream_id)
                .join(StreamGroup, StreamGroup.group_id == StreamGroupLink.group_id)
                .where(StreamGroup.group_name == self.group_name, StreamGroup.account_id == Stream.account_id)
            )
            result.append(Stream.stream_id.in_(in_group))
        return result


async def page(
    session: AsyncSession, flt: StreamFilter, page: int, page_size: int, newest_first: bool = False
) -> Sequence[Stream]:
    """In creation order (ties broken by id, so pages never overlap)."""
    order = (
        (Stream.create_time.desc(), Stream.stream_id.desc())
        if newest_first
        else (Stream.create_time, Stream.stream_id)
    )
    query = (
        select(Stream)
        .where(*flt.conditions())
        .order_by(*order)
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return (await session.execute(query)).scalars().all()


async def count(session: AsyncSession, flt: StreamFilter) -> int:
    query = select(func.count()).select_from(Stream).where(*flt.conditions())
    return (await session.execute(query)).scalar_one()


async def get(session: AsyncSession, stream_id: str, account_id: str | None) -> Stream | None:
    """The stream, or None when absent or (with ``account_id``) owned by another account."""
    found = await session.get(Stream, stream_id)
    if found is None or (account_id is not None and found.account_id != account_id):
        return None
    return found


async def existing(session: AsyncSession, stream_ids: Sequence[str], account_id: str) -> set[str]:
    """Those of ``stream_ids`` that exist in the account."""
    found: set[str] = set()
    for part in chunks(stream_ids):
        query = select(Stream.stream_id).where(Stream.stream_id.in_(part), Stream.account_id == account_id)
        found.update((await session.execute(query)).scalars())
    return found


async def remove(session: AsyncSession, stream_ids: Sequence[str], account_id: str) -> int:
    """Delete the account's streams among ``stream_ids`` (links and logs cascade); returns how many."""
    removed = 0
    for part in chunks(stream_ids):
        query = delete(Stream).where(Stream.stream_id.in_(part), Stream.account_id == account_id)
        removed += (await session.execute(query)).rowcount
    return removed


async def group_names_of(session: AsyncSession, stream_ids: Sequence[str]) -> dict[str, list[str]]:
    """stream_id -> names of the groups it belongs to, in the order it joined them."""
    result: dict[str, list[str]] = {stream_id: [] for stream_id in stream_ids}
    for part in chunks(stream_ids):
        query = (
            select(StreamGroupLink.stream_id, StreamGroup.group_name)
            .join(StreamGroup, StreamGroup.group_id == StreamGroupLink.group_id)
            .where(StreamGroupLink.stream_id.in_(part))
            .order_by(StreamGroupLink.link_time, StreamGroup.group_name)
        )
        for stream_id, name in (await session.execute(query)).all():
            result[stream_id].append(name)
    return result


def add_log(session: AsyncSession, stream: Stream, now: datetime) -> None:
    """Record the stream's current status and error in its log."""
    session.add(
        StreamLog(
            stream_id=stream.stream_id,
            account_id=stream.account_id,
            log_time=now,
            status=stream.status,
            error=stream.last_error,
        )
    )


def set_status(session: AsyncSession, stream: Stream, status: int, error: str | None, now: datetime) -> None:
    """Change the stream's status (and error), logging the change; an unchanged pair logs nothing."""
    if (stream.status, stream.last_error) == (status, error):
        return
    stream.status, stream.last_error, stream.last_update_time = status, error, now
    add_log(session, stream, now)


@dataclass(frozen=True)
class LogFilter:
    account_id: str | None = None
    stream_ids: list[str] | None = None
    statuses: list[int] | None = None
    log_time__gte: datetime | None = None
    log_time__lt: datetime | None = None

    def conditions(self) -> list[Any]:
        result: list[Any] = []
        if self.account_id is not None:
            result.append(StreamLog.account_id == self.account_id)
        if self.stream_ids is not None:
            result.append(StreamLog.stream_id.in_(self.stream_ids))
        if self.statuses is not None:
            result.append(StreamLog.status.in_(self.statuses))
        if self.log_time__gte is not None:
            result.append(StreamLog.log_time >= self.log_time__gte)
        if self.log_time__lt is not None:
            result.append(StreamLog.log_time < self.log_time__lt)
        return result


async def logs_page(session: AsyncSession, flt: LogFilter, page: int, page_size: int) -> Sequence[StreamLog]:
    """Newest entries first."""
    query = (
        select(StreamLog)
        .where(*flt.conditions())
        .order_by(StreamLog.log_time.desc(), StreamLog.log_id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return (await session.execute(query)).scalars().all()


async def delete_logs(session: AsyncSession, before: datetime | None, account_id: str) -> int:
    """Delete the account's log entries older than ``before`` (all when None), keeping each
    stream's last entry so its latest status stays visible; returns how many went."""
    last = (
        select(func.max(StreamLog.log_id))
        .where(StreamLog.account_id == account_id)
        .group_by(StreamLog.stream_id)
    )
    query = delete(StreamLog).where(StreamLog.account_id == account_id, StreamLog.log_id.not_in(last))
    if before is not None:
        query = query.where(StreamLog.log_time < before)
    return (await session.execute(query)).rowcount
