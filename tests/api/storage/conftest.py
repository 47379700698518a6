"""Fixtures the storage tests share: a migrated database per backend and an owning account."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from api.storage.db import Database
from api.storage.models import Account

CREATED = datetime(2024, 3, 1, tzinfo=UTC)


def new_account() -> Account:
    return Account(
        account_id=str(uuid.uuid4()),
        login=f"{uuid.uuid4().hex[:10]}@argus.test",
        password_hash="x",
        account_type="user",
        description="",
        create_time=CREATED,
        last_update_time=CREATED,
    )


@pytest.fixture
async def db(backend_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The schema migrated on SQLite or PostgreSQL (``backend_url``)."""
    database = Database(backend_url or f"sqlite+aiosqlite:///{tmp_path / 'argus.db'}")
    await database.migrate()
    yield database
    await database.close()


@pytest.fixture
async def account(db: Database) -> Account:
    owner = new_account()
    async with db.session() as session:
        session.add(owner)
        await session.commit()
    return owner


async def count_rows(db: Database, model: type) -> int:
    async with db.session() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()
