"""Handler queries. Every function takes the session first and never commits for the caller."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.storage.models import Handler


@dataclass(frozen=True)
class HandlerFilter:
    account_id: str | None = None
    handler_type: int | None = None
    description: str | None = None  # substring, case-insensitive


def _where(query, flt: HandlerFilter):  # type: ignore[no-untyped-def]
    if flt.account_id is not None:
        query = query.where(Handler.account_id == flt.account_id)
    if flt.handler_type is not None:
        query = query.where(Handler.handler_type == flt.handler_type)
    if flt.description:
        escaped = flt.description.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Handler.description.ilike(f"%{escaped}%", escape="\\"))
    return query


async def get(session: AsyncSession, handler_id: str, account_id: str | None) -> Handler | None:
    handler = await session.get(Handler, handler_id)
    if handler is None or (account_id is not None and handler.account_id != account_id):
        return None
    return handler


async def page(session: AsyncSession, flt: HandlerFilter, page: int, page_size: int) -> Sequence[Handler]:
    query = _where(select(Handler), flt).order_by(Handler.create_time.desc(), Handler.handler_id)
    return (await session.execute(query.offset((page - 1) * page_size).limit(page_size))).scalars().all()


async def count(session: AsyncSession, flt: HandlerFilter) -> int:
    return (await session.execute(_where(select(func.count()).select_from(Handler), flt))).scalar_one()
