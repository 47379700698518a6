"""Stream group queries and stream membership. Functions take the session first and never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api.storage.lists import chunks
from api.storage.models import StreamGroup, StreamGroupLink


@dataclass(frozen=True)
class GroupFilter:
    account_id: str | None = None
    group_ids: list[str] | None = None
    group_names: list[str] | None = None

    def conditions(self) -> list[Any]:
        result: list[Any] = []
        if self.account_id is not None:
            result.append(StreamGroup.account_id == self.account_id)
        if self.group_ids is not None:
            result.append(StreamGroup.group_id.in_(self.group_ids))
        if self.group_names is not None:
            result.append(StreamGroup.group_name.in_(self.group_names))
        return result


async def page(session: AsyncSession, flt: GroupFilter, page: int, page_size: int) -> Sequence[StreamGroup]:
    """Oldest groups first, as the spec orders them (ties broken by id)."""
    query = (
        select(StreamGroup)
        .where(*flt.conditions())
        .order_by(StreamGroup.create_time, StreamGroup.group_id)
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return (await session.execute(query)).scalars().all()


async def count(session: AsyncSession, flt: GroupFilter) -> int:
    query = select(func.count()).select_from(StreamGroup).where(*flt.conditions())
    return (await session.execute(query)).scalar_one()


async def get(session: AsyncSession, group_id: str, account_id: str | None) -> StreamGroup | None:
    """The group, or None when absent or (with ``account_id``) owned by another account."""
    found = await session.get(StreamGroup, group_id)
    if found is None or (account_id is not None and found.account_id != account_id):
        return None
    return found


async def by_name(session: AsyncSession, account_id: str, group_name: str) -> StreamGroup | None:
    query = select(StreamGroup).where(
        StreamGroup.account_id == account_id, StreamGroup.group_name == group_name
    )
    return (await session.execute(query)).scalar_one_or_none()


async def stream_ids_of(session: AsyncSession, group_id: str) -> list[str]:
    """Streams of the group, in the order they joined it."""
    query = (
        select(StreamGroupLink.stream_id)
        .where(StreamGroupLink.group_id == group_id)
        .order_by(StreamGroupLink.link_time, StreamGroupLink.stream_id)
    )
    return list((await session.execute(query)).scalars())


async def attach(session: AsyncSession, group_id: str, stream_ids: Sequence[str], now: datetime) -> None:
    """Link the streams to the group; streams already in it keep their link time."""
    if not stream_ids:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for part in chunks(stream_ids):
        rows = [{"group_id": group_id, "stream_id": stream_id, "link_time": now} for stream_id in part]
        await session.execute(insert(StreamGroupLink).values(rows).on_conflict_do_nothing())


async def detach(session: AsyncSession, group_id: str, stream_ids: Sequence[str]) -> None:
    for part in chunks(stream_ids):
        await session.execute(
            delete(StreamGroupLink).where(
                StreamGroupLink.group_id == group_id, StreamGroupLink.stream_id.in_(part)
            )
        )
