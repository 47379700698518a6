"""Temporary attribute queries; expired rows read as absent and are purged by the janitor."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.storage.models import Attribute


def _live(account_id: str | None):  # type: ignore[no-untyped-def]
    conditions = [Attribute.expire_time > datetime.now(UTC)]
    if account_id is not None:
        conditions.append(Attribute.account_id == account_id)
    return conditions


async def get(session: AsyncSession, attribute_id: str, account_id: str | None) -> Attribute | None:
    query = select(Attribute).where(Attribute.attribute_id == attribute_id, *_live(account_id))
    return (await session.execute(query)).scalar_one_or_none()


async def many(
    session: AsyncSession, attribute_ids: list[str], account_id: str | None
) -> Sequence[Attribute]:
    query = select(Attribute).where(Attribute.attribute_id.in_(attribute_ids), *_live(account_id))
    return (await session.execute(query.order_by(Attribute.create_time))).scalars().all()


async def remove(session: AsyncSession, attribute_id: str, account_id: str) -> bool:
    query = delete(Attribute).where(Attribute.attribute_id == attribute_id, *_live(account_id))
    return (await session.execute(query)).rowcount > 0


async def purge_expired(session: AsyncSession) -> int:
    query = delete(Attribute).where(Attribute.expire_time <= datetime.now(UTC))
    return (await session.execute(query)).rowcount
