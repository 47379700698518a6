"""Shared fixtures: configs on SQLite and PostgreSQL, a running app and account helpers."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from agent.app import build_app
from api.config import Config, load_config

ADMIN_LOGIN = "admin@argus.test"
ADMIN_PASSWORD = "admin-secret"
# Where `make test` provisions models (python -m engines.provision --data-dir ...).
MODEL_ROOT = Path(
    os.environ.get("ARGUS_TEST_DATA_DIR", Path(__file__).resolve().parents[1] / "data" / "test")
)
PG_DSN = os.environ.get("ARGUS_TEST_PG_DSN", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def basic(login: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


ADMIN = basic(ADMIN_LOGIN, ADMIN_PASSWORD)


async def _reset_postgres() -> None:
    """Empty the test database so each test starts from migrations, like a fresh install."""
    conn = await asyncpg.connect(PG_DSN.replace("postgresql+asyncpg", "postgresql"), timeout=5)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


async def postgres_or_skip() -> None:
    try:
        await _reset_postgres()
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_DSN} is unreachable in CI: {exc}")
        pytest.skip(f"PostgreSQL at {PG_DSN} is unreachable: {exc}")


def make_config(tmp_path: Path, db_url: str = "", **sections: dict) -> Config:
    overrides: dict = {
        "admin_login": ADMIN_LOGIN,
        "admin_password": ADMIN_PASSWORD,
        "storage": {"data_dir": str(tmp_path / "data"), "db_url": db_url, "model_root": str(MODEL_ROOT)},
        # Loading face models costs ~1 s per app; the face API tests switch them on.
        "faces": {"enabled": False},
    }
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    return load_config(environ={}, overrides=overrides)


@pytest.fixture(params=["sqlite", "postgresql"])
async def backend_url(request: pytest.FixtureRequest) -> str:
    """Run a test once per storage backend."""
    if request.param == "postgresql":
        await postgres_or_skip()
        return PG_DSN
    return ""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
async def client(aiohttp_client, config: Config) -> TestClient:  # type: ignore[no-untyped-def]
    return await aiohttp_client(build_app(config))


@pytest.fixture
async def pg_client(aiohttp_client, tmp_path: Path) -> TestClient:  # type: ignore[no-untyped-def]
    await postgres_or_skip()
    return await aiohttp_client(build_app(make_config(tmp_path, PG_DSN)))


class Accounts:
    """Creates accounts through the API, as a client would."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    async def create(self, account_type: str = "user", password: str = "password1") -> dict[str, str]:
        login = f"u{uuid.uuid4().hex[:10]}@argus.test"
        resp = await self.client.post(
            "/6/accounts",
            json={"login": login, "password": password, "account_type": account_type},
            headers=ADMIN,
        )
        assert resp.status == 201, await resp.text()
        body = await resp.json()
        return {
            "account_id": body["account_id"],
            "login": login,
            "password": password,
            **basic(login, password),
        }

    async def token(
        self,
        auth: dict[str, str],
        permissions: dict | None = None,
        expiration_time: str | None = None,
        grant_all: bool = False,
    ) -> str:
        body: dict = {"expiration_time": expiration_time}
        if permissions is not None:
            body["permissions"] = permissions
        params = {"grant_all_permissions": "1"} if grant_all else {}
        resp = await self.client.post(
            "/6/tokens", json=body, params=params, headers={"Authorization": auth["Authorization"]}
        )
        assert resp.status == 201, await resp.text()
        return (await resp.json())["token"]


@pytest.fixture
def accounts(client: TestClient) -> Accounts:
    return Accounts(client)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def photos() -> dict:
    """BGR photos of three people by name (see tests/media.py)."""
    from tests.media import load_photos

    return load_photos()
