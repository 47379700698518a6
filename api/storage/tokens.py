"""Token queries. Every function takes the session first and never commits for the caller."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.storage.models import Token


async def get(session: AsyncSession, token_id: str, account_id: str | None) -> Token | None:
    """The token, or None when absent or (with ``account_id``) owned by another account."""
    token = await session.get(Token, token_id)
    if token is None or (account_id is not None and token.account_id != account_id):
        return None
    return token


async def page(
    session: AsyncSession,
    *,
    account_id: str | None,
    create_time__gte: datetime | None,
    create_time__lt: datetime | None,
    page: int,
    page_size: int,
) -> tuple[Sequence[Token], int]:
    conditions = []
    if account_id is not None:
        conditions.append(Token.account_id == account_id)
    if create_time__gte is not None:
        conditions.append(Token.create_time >= create_time__gte)
    if create_time__lt is not None:
        conditions.append(Token.create_time < create_time__lt)
    query = select(Token).where(*conditions).order_by(Token.create_time.desc(), Token.token_id)
    rows = (await session.execute(query.offset((page - 1) * page_size).limit(page_size))).scalars().all()
    total = (await session.execute(select(func.count()).select_from(Token).where(*conditions))).scalar_one()
    return rows, total
