"""Face queries. Functions take the session first and never commit for the caller."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.storage import lists as lists_repo
from api.storage.lists import chunks
from api.storage.models import Face, ListFace


@dataclass(frozen=True)
class FaceFilter:
    account_id: str | None = None
    create_time__gte: datetime | None = None
    create_time__lt: datetime | None = None
    event_id: str | None = None
    face_id__gte: str | None = None
    face_id__lt: str | None = None
    face_ids: list[str] | None = None
    external_ids: list[str] | None = None
    user_data: str | None = None
    list_id: str | None = None

    @property
    def by_id(self) -> bool:
        """LUNA sorts by face id when an id bound is given, by creation time otherwise."""
        return self.face_id__gte is not None or self.face_id__lt is not None

    def conditions(self) -> list[Any]:
        result: list[Any] = []
        if self.account_id is not None:
            result.append(Face.account_id == self.account_id)
        for column, lower, upper in (
            (Face.create_time, self.create_time__gte, self.create_time__lt),
            (Face.face_id, self.face_id__gte, self.face_id__lt),
        ):
            if lower is not None:
                result.append(column >= lower)
            if upper is not None:
                result.append(column < upper)
        if self.event_id is not None:
            result.append(Face.event_id == self.event_id)
        if self.face_ids is not None:
            result.append(Face.face_id.in_(self.face_ids))
        if self.external_ids is not None:
            result.append(Face.external_id.in_(self.external_ids))
        if self.user_data is not None:
            # Substring match, case-insensitive on both backends (SQLite LIKE is, PostgreSQL's is not).
            result.append(Face.user_data.icontains(self.user_data, autoescape=True))
        if self.list_id is not None:
            members = select(ListFace.face_id).where(ListFace.list_id == self.list_id)
            result.append(Face.face_id.in_(members))
        return result


async def page(session: AsyncSession, flt: FaceFilter, page: int, page_size: int) -> Sequence[Face]:
    """Newest first; by descending id when an id bound is given, so ``face_id__lt=<last id>``
    fetches the next page without offsets."""
    order = (Face.face_id.desc(),) if flt.by_id else (Face.create_time.desc(), Face.face_id.desc())
    query = (
        select(Face).where(*flt.conditions()).order_by(*order).offset((page - 1) * page_size).limit(page_size)
    )
    return (await session.execute(query)).scalars().all()


async def count(session: AsyncSession, flt: FaceFilter) -> int:
    query = select(func.count()).select_from(Face).where(*flt.conditions())
    return (await session.execute(query)).scalar_one()


async def count_with_attributes(session: AsyncSession, account_id: str | None) -> int:
    conditions = [Face.attribute_create_time.is_not(None)]
    if account_id is not None:
        conditions.append(Face.account_id == account_id)
    query = select(func.count()).select_from(Face).where(*conditions)
    return (await session.execute(query)).scalar_one()


async def get(session: AsyncSession, face_id: str, account_id: str | None) -> Face | None:
    """The face, or None when absent or (with ``account_id``) owned by another account."""
    face = await session.get(Face, face_id)
    if face is None or (account_id is not None and face.account_id != account_id):
        return None
    return face


async def existing(session: AsyncSession, face_ids: Sequence[str], account_id: str) -> set[str]:
    """Those of ``face_ids`` that exist in the account."""
    found: set[str] = set()
    for part in chunks(face_ids):
        query = select(Face.face_id).where(Face.face_id.in_(part), Face.account_id == account_id)
        found.update((await session.execute(query)).scalars())
    return found


async def remove(session: AsyncSession, face_ids: Sequence[str], account_id: str, now: datetime) -> int:
    """Delete the account's faces among ``face_ids``; the lists that held them count as updated."""
    removed = 0
    for part in chunks(face_ids):
        owned = Face.face_id.in_(part), Face.account_id == account_id
        holders = select(ListFace.list_id).join(Face, Face.face_id == ListFace.face_id).where(*owned)
        await lists_repo.touch(session, (await session.execute(holders)).scalars().all(), now)
        removed += (await session.execute(delete(Face).where(*owned))).rowcount
    return removed
