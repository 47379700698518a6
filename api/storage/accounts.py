"""Account queries. Every function takes the session first and never commits for the caller."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.storage.models import Account


@dataclass(frozen=True)
class AccountFilter:
    login: str | None = None
    account_type: str | None = None
    create_time__gte: datetime | None = None
    create_time__lt: datetime | None = None
    # None = every account (admin view); otherwise restrict to this one.
    only_account_id: str | None = None


def _where(query, flt: AccountFilter):  # type: ignore[no-untyped-def]
    if flt.login is not None:
        query = query.where(Account.login == flt.login)
    if flt.account_type is not None:
        query = query.where(Account.account_type == flt.account_type)
    if flt.create_time__gte is not None:
        query = query.where(Account.create_time >= flt.create_time__gte)
    if flt.create_time__lt is not None:
        query = query.where(Account.create_time < flt.create_time__lt)
    if flt.only_account_id is not None:
        query = query.where(Account.account_id == flt.only_account_id)
    return query


async def get(session: AsyncSession, account_id: str) -> Account | None:
    return await session.get(Account, account_id)


async def by_login(session: AsyncSession, login: str) -> Account | None:
    return (await session.execute(select(Account).where(Account.login == login))).scalar_one_or_none()


async def page(
    session: AsyncSession, flt: AccountFilter, page: int, page_size: int
) -> tuple[Sequence[Account], int]:
    query = _where(select(Account), flt).order_by(Account.create_time.desc(), Account.account_id)
    rows = (await session.execute(query.offset((page - 1) * page_size).limit(page_size))).scalars().all()
    total = (await session.execute(_where(select(func.count()).select_from(Account), flt))).scalar_one()
    return rows, total


async def count_admins(session: AsyncSession) -> int:
    query = select(func.count()).select_from(Account).where(Account.account_type == "admin")
    return (await session.execute(query)).scalar_one()
