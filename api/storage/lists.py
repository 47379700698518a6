"""List queries and face membership. Functions take the session first and never commit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api.storage.models import Face, FaceList, ListFace

# Ids per IN (...) clause: keeps every statement far below SQLite's and asyncpg's bind-parameter
# limits (32766 / 32767) whatever the request size. Lowering it only costs more round trips.
CHUNK = 1000


def chunks(ids: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


@dataclass(frozen=True)
class ListFilter:
    account_id: str | None = None
    create_time__gte: datetime | None = None
    create_time__lt: datetime | None = None
    last_update_time__gte: datetime | None = None
    last_update_time__lt: datetime | None = None
    user_data: str | None = None
    user_data__eq: str | None = None
    list_ids: list[str] | None = None
    list_id__gte: str | None = None
    list_id__lt: str | None = None

    def conditions(self) -> list[Any]:
        result: list[Any] = []
        if self.account_id is not None:
            result.append(FaceList.account_id == self.account_id)
        for column, lower, upper in (
            (FaceList.create_time, self.create_time__gte, self.create_time__lt),
            (FaceList.last_update_time, self.last_update_time__gte, self.last_update_time__lt),
            (FaceList.list_id, self.list_id__gte, self.list_id__lt),
        ):
            if lower is not None:
                result.append(column >= lower)
            if upper is not None:
                result.append(column < upper)
        if self.user_data is not None:
            # Substring match, case-insensitive on both backends (SQLite LIKE is, PostgreSQL's is not).
            result.append(FaceList.user_data.icontains(self.user_data, autoescape=True))
        if self.user_data__eq is not None:
            result.append(FaceList.user_data == self.user_data__eq)
        if self.list_ids is not None:
            result.append(FaceList.list_id.in_(self.list_ids))
        return result


async def page(session: AsyncSession, flt: ListFilter, page: int, page_size: int) -> Sequence[FaceList]:
    """Newest lists first (ties broken by id, so pages never overlap)."""
    query = (
        select(FaceList)
        .where(*flt.conditions())
        .order_by(FaceList.create_time.desc(), FaceList.list_id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return (await session.execute(query)).scalars().all()


async def count(session: AsyncSession, flt: ListFilter) -> int:
    query = select(func.count()).select_from(FaceList).where(*flt.conditions())
    return (await session.execute(query)).scalar_one()


async def get(session: AsyncSession, list_id: str, account_id: str | None) -> FaceList | None:
    """The list, or None when absent or (with ``account_id``) owned by another account."""
    found = await session.get(FaceList, list_id)
    if found is None or (account_id is not None and found.account_id != account_id):
        return None
    return found


async def existing(session: AsyncSession, list_ids: Sequence[str], account_id: str) -> set[str]:
    """Those of ``list_ids`` that exist in the account."""
    found: set[str] = set()
    for part in chunks(list_ids):
        query = select(FaceList.list_id).where(FaceList.list_id.in_(part), FaceList.account_id == account_id)
        found.update((await session.execute(query)).scalars())
    return found


async def touch(session: AsyncSession, list_ids: Iterable[str], now: datetime) -> None:
    """Record that the lists' membership or user data changed."""
    ids = sorted(set(list_ids))
    for part in chunks(ids):
        await session.execute(update(FaceList).where(FaceList.list_id.in_(part)).values(last_update_time=now))


async def face_ids_of(session: AsyncSession, list_ids: Sequence[str], account_id: str) -> list[str]:
    """Faces of the account that belong to any of the lists."""
    found: set[str] = set()
    for part in chunks(list_ids):
        query = (
            select(ListFace.face_id)
            .join(Face, Face.face_id == ListFace.face_id)
            .where(ListFace.list_id.in_(part), Face.account_id == account_id)
        )
        found.update((await session.execute(query)).scalars())
    return sorted(found)


async def remove(session: AsyncSession, list_ids: Sequence[str], account_id: str) -> int:
    """Delete the account's lists among ``list_ids`` (memberships cascade); returns how many."""
    removed = 0
    for part in chunks(list_ids):
        query = delete(FaceList).where(FaceList.list_id.in_(part), FaceList.account_id == account_id)
        removed += (await session.execute(query)).rowcount
    return removed


async def attach(session: AsyncSession, list_id: str, face_ids: Sequence[str], now: datetime) -> None:
    """Link the faces to the list; faces already in it are left as they are."""
    if not face_ids:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for part in chunks(face_ids):
        rows = [{"list_id": list_id, "face_id": face_id, "link_time": now} for face_id in part]
        await session.execute(insert(ListFace).values(rows).on_conflict_do_nothing())


async def detach(session: AsyncSession, list_id: str, face_ids: Sequence[str]) -> None:
    for part in chunks(face_ids):
        await session.execute(delete(ListFace).where(ListFace.list_id == list_id, ListFace.face_id.in_(part)))


async def lists_of(session: AsyncSession, face_ids: Sequence[str]) -> dict[str, list[str]]:
    """face_id -> ids of the lists it belongs to, in the order it was attached to them."""
    result: dict[str, list[str]] = {face_id: [] for face_id in face_ids}
    for part in chunks(face_ids):
        query = (
            select(ListFace.face_id, ListFace.list_id)
            .where(ListFace.face_id.in_(part))
            .order_by(ListFace.link_time, ListFace.list_id)
        )
        for face_id, list_id in (await session.execute(query)).all():
            result[face_id].append(list_id)
    return result
