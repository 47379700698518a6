"""Storage on both backends: migrations, constraints, cascades, time zones, account scoping."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from api.storage import accounts as accounts_repo
from api.storage import tokens as tokens_repo
from api.storage.accounts import AccountFilter
from api.storage.db import Database
from api.storage.models import Account, Token
from tests.conftest import ADMIN, Accounts, basic, bearer


def _url(backend_url: str, tmp_path: Path) -> str:
    return backend_url or f"sqlite+aiosqlite:///{tmp_path / 'argus.db'}"


def _account(login: str, when: datetime | None = None) -> Account:
    now = when or datetime.now(UTC)
    return Account(
        account_id=str(uuid.uuid4()),
        login=login,
        password_hash="x",
        account_type="user",
        description="",
        create_time=now,
        last_update_time=now,
    )


def _token(account_id: str) -> Token:
    now = datetime.now(UTC)
    return Token(
        token_id=str(uuid.uuid4()),
        account_id=account_id,
        description="",
        expiration_time=None,
        visibility_area="account",
        permissions={"face": ["view"]},
        create_time=now,
        last_update_time=now,
    )


@pytest.fixture
async def db(backend_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    database = Database(_url(backend_url, tmp_path))
    await database.migrate()
    yield database
    await database.close()


async def test_migrations_create_schema_and_are_idempotent(db: Database) -> None:
    await db.migrate()
    async with db.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert {"accounts", "tokens", "alembic_version"} <= tables


async def test_login_is_unique(db: Database) -> None:
    async with db.session() as session:
        session.add(_account("same@argus.test"))
        await session.commit()
    async with db.session() as session:
        session.add(_account("same@argus.test"))
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_deleting_account_deletes_its_tokens(db: Database) -> None:
    account = _account("owner@argus.test")
    async with db.session() as session:
        session.add(account)
        await session.flush()
        session.add_all([_token(account.account_id), _token(account.account_id)])
        await session.commit()
    async with db.session() as session:
        await session.delete(await session.get(Account, account.account_id))
        await session.commit()
    async with db.session() as session:
        left = (await session.execute(select(Token))).scalars().all()
    assert left == []


async def test_times_come_back_utc_aware(db: Database) -> None:
    when = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    account = _account("time@argus.test", when)
    async with db.session() as session:
        session.add(account)
        await session.commit()
    async with db.session() as session:
        loaded = await accounts_repo.get(session, account.account_id)
    assert loaded is not None and loaded.create_time == when and loaded.create_time.tzinfo is not None


async def test_token_lookup_is_scoped_to_owner(db: Database) -> None:
    one, two = _account("one@argus.test"), _account("two@argus.test")
    token = _token(one.account_id)
    async with db.session() as session:
        session.add_all([one, two])
        await session.flush()
        session.add(token)
        await session.commit()
    async with db.session() as session:
        assert await tokens_repo.get(session, token.token_id, one.account_id) is not None
        assert await tokens_repo.get(session, token.token_id, two.account_id) is None
        rows, total = await tokens_repo.page(
            session,
            account_id=two.account_id,
            create_time__gte=None,
            create_time__lt=None,
            page=1,
            page_size=10,
        )
    assert list(rows) == [] and total == 0


async def test_account_filters_and_paging(db: Database) -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    async with db.session() as session:
        session.add_all([_account(f"p{i}@argus.test", base + timedelta(days=i)) for i in range(5)])
        await session.commit()
    async with db.session() as session:
        rows, total = await accounts_repo.page(
            session,
            AccountFilter(
                create_time__gte=base + timedelta(days=1), create_time__lt=base + timedelta(days=4)
            ),
            page=1,
            page_size=2,
        )
    assert total == 3
    assert [r.login for r in rows] == ["p3@argus.test", "p2@argus.test"]  # newest first


async def test_api_flow_on_postgresql(pg_client) -> None:  # type: ignore[no-untyped-def]
    """Accounts, tokens and isolation through the API with PostgreSQL behind it."""
    accounts = Accounts(pg_client)
    one, two = await accounts.create(), await accounts.create()
    token = await accounts.token(one, {"token": ["view"], "account": ["view"]})
    me = await (await pg_client.get("/6/account", headers=bearer(token))).json()
    assert me["account_id"] == one["account_id"]
    assert (await (await pg_client.get("/6/tokens", headers=basic(two["login"], "password1"))).json()) == {
        "tokens": []
    }
    listing = await (await pg_client.get("/6/accounts", headers=ADMIN)).json()
    assert listing["total_count"] == 3
    assert (await pg_client.get("/6/healthcheck")).status == 200
