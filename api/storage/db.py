"""The database handle: async engine, session factory and start-up migrations."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS = Path(__file__).parent / "migrations"


def _configure_sqlite(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # SQLite ignores FOREIGN KEY (and so ON DELETE CASCADE) unless asked per connection. WAL
    # lets readers run beside the writer; with WAL, synchronous=NORMAL cannot corrupt the
    # database (a power cut may lose the last commits, not consistency) and spares an fsync
    # per commit, which is most of an event's cost.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """One engine per process; one session per request (``async with db.session()``)."""

    def __init__(
        self, url: str, *, echo: bool = False, pool_size: int = 10, health_interval: float = 0.0
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, object] = {"echo": echo}
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs.update(pool_size=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _configure_sqlite)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._ping: asyncio.Future[None] | None = None
        self.health_interval = health_interval
        self._healthy_at = float("-inf")  # loop time of the last successful check
        self._health_conn: AsyncConnection | None = None
        self._sqlite_probe: tuple[tuple[int, int], sqlite3.Connection] | None = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def ping(self, timeout: float = 5.0) -> None:
        """Raise if the database does not answer within ``timeout`` seconds.

        PostgreSQL: ``SELECT 1`` on a connection kept for health checks; concurrent callers
        share one in-flight check (started after each of them arrived or moments before), so a
        load balancer probing hard costs one round trip per burst, not one per probe.
        A success is reused for ``health_interval`` seconds (a failure never is).
        SQLite: the file is read directly (stdlib ``sqlite3``, a few microseconds, no thread
        hop): reading the schema table proves what matters for an embedded file, that it exists,
        opens and is readable, without aiosqlite's thread round trips.
        """
        now = asyncio.get_running_loop().time()
        if now - self._healthy_at < self.health_interval:
            return  # a check younger than health_interval answered
        if self.is_sqlite:
            self._read_sqlite_file()
        else:
            if self._ping is None or self._ping.done():
                self._ping = asyncio.ensure_future(self._select_one(timeout))
            await asyncio.shield(self._ping)
        self._healthy_at = now

    async def _select_one(self, timeout: float) -> None:
        """``SELECT 1`` on a connection kept for health checks, so a probe skips pool checkout."""
        try:
            async with asyncio.timeout(timeout):
                if self._health_conn is None:
                    self._health_conn = await self.engine.connect()
                await self._health_conn.exec_driver_sql("SELECT 1")
        except BaseException:
            conn, self._health_conn = self._health_conn, None
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.invalidate()
            raise

    def _read_sqlite_file(self) -> None:
        """Read the schema (Alembic's version table must be there) over a kept read-only
        connection, reopened when the file is replaced; a vanished file fails the stat."""
        path = self.url.split("///", 1)[-1]
        identity = (stat := os.stat(path)).st_dev, stat.st_ino
        if self._sqlite_probe is None or self._sqlite_probe[0] != identity:
            if self._sqlite_probe is not None:
                self._sqlite_probe[1].close()
            self._sqlite_probe = identity, sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
        query = "SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'"
        if not self._sqlite_probe[1].execute(query).fetchone()[0]:
            raise sqlite3.DatabaseError(f"{path} holds no Argus schema")

    async def close(self) -> None:
        if self._sqlite_probe is not None:
            self._sqlite_probe[1].close()
            self._sqlite_probe = None
        if self._health_conn is not None:
            await self._health_conn.close()
            self._health_conn = None
        await self.engine.dispose()


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")
