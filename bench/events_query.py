"""GET /6/events on 1,000,000 events: "stream_id + time range" query time, with and without indexes.

Runs the statement GET /6/events issues (``api.storage.event_filters.page_bodies``: the filters,
ORDER BY create_time DESC, event_id DESC, OFFSET/LIMIT, reading ``body``) against a SQLite file in a
temporary folder and a PostgreSQL database, for four index sets on ``events``:

- ``neither``: the migrated schema without 0004's ``ix_events_stream_create`` and 0005's
  ``ix_events_create_id`` (the account, handler, track, face and external-id indexes remain);
- ``(stream_id, create_time) [0004]``: the index "stream_id + time range" needs;
- ``+ (create_time, event_id) [0005]``: for listings without a stream (the default GET); this
  column is the schema as shipped;
- ``+ (stream_id, create_time, event_id)``: a candidate covering the event_id tie-break too, not
  shipped (it saves milliseconds on deep pages only, for one more index to write per event).

Events: 1,000,000 over the last 90 days, 100 streams spread over 10 accounts, bodies of ~1 KB
shaped like handler output. Each figure is the median of ``ROUNDS`` runs after one warm-up run.
PostgreSQL: ``ARGUS_BENCH_PG_DSN`` (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/argus_events_bench``;
the database is created if missing and its ``public`` schema is replaced). ``ARGUS_BENCH_EVENTS``
lowers the event count for a quick look.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from api.storage.db import Database
from api.storage.event_filters import Clause, EventPage, page_bodies
from bench.results import write_section

EVENTS = int(os.environ.get("ARGUS_BENCH_EVENTS", 1_000_000))
STREAMS, ACCOUNTS, DAYS = 100, 10, 90
ROUNDS = 15
CHUNK = 20_000
PG_DSN = os.environ.get(
    "ARGUS_BENCH_PG_DSN", "postgresql+asyncpg://postgres@127.0.0.1:5432/argus_events_bench"
)
NOW = datetime.now(UTC).replace(microsecond=0)
CANDIDATE = "ix_events_stream_create_id"
COLUMNS = (
    "event_id", "account_id", "handler_id", "stream_id", "create_time", "end_time", "source", "external_id",
    "user_data", "track_id", "face_id", "top_similar_object_id", "top_similar_external_id", "top_similarity",
    "top_matching_label", "gender", "age", "emotion", "mask", "ethnic_group", "liveness", "deepfake", "city",
    "area", "district", "street", "house_number", "longitude", "latitude", "meta", "descriptor",
    "descriptor_version", "body",
)  # fmt: skip


def _streams() -> list[tuple[str, str]]:
    """(stream_id, account_id) pairs: streams belong to accounts."""
    rng = random.Random(1)
    accounts = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(ACCOUNTS)]
    return [
        (str(uuid.UUID(int=rng.getrandbits(128), version=4)), accounts[i % ACCOUNTS]) for i in range(STREAMS)
    ]


STREAM_ACCOUNTS = _streams()


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rows(count: int) -> Iterator[list[dict[str, Any]]]:
    """Events as column dicts (``body`` as a dict, times as aware datetimes), in chunks."""
    rng = random.Random(7)
    handler = str(uuid.uuid4())
    chunk: list[dict[str, Any]] = []
    for _ in range(count):
        stream_id, account_id = STREAM_ACCOUNTS[rng.randrange(STREAMS)]
        created = NOW - timedelta(seconds=rng.uniform(0, DAYS * 86400))
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        age, gender = rng.randint(5, 90), rng.randint(0, 1)
        body = {
            "event_id": event_id, "account_id": account_id, "create_time": _iso(created),
            "end_time": _iso(created), "handler_id": handler, "external_id": "", "source": "entrance",
            "stream_id": stream_id, "top_match": None, "match_result": [],
            "face_detections": [{
                "sample_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "detection": {"rect": {"x": 120, "y": 80, "width": 96, "height": 120}},
                "detect_time": _iso(created), "detect_ts": None,
                "image_origin": f"/6/images/{uuid.UUID(int=rng.getrandbits(128), version=4)}",
            }],
            "body_detections": None, "face_id": None, "attach_result": [], "gender": gender, "age": age,
            "emotion": rng.randint(1, 7), "mask": 1, "ethnic_group": None, "liveness": 1, "deepfake": None,
            "tags": [], "user_data": "", "meta": {"zone": rng.randint(1, 8)}, "location": None,
            "track_id": f"track_{rng.randrange(10**6)}", "body_basic_attributes": None, "upper_body": None,
            "lower_body": None, "accessories": None,
        }  # fmt: skip
        chunk.append(
            {name: None for name in COLUMNS}
            | {
                "event_id": event_id,
                "account_id": account_id,
                "handler_id": handler,
                "stream_id": stream_id,
                "create_time": created,
                "end_time": created,
                "source": "entrance",
                "external_id": "",
                "user_data": "",
                "track_id": body["track_id"],
                "gender": gender,
                "age": age,
                "emotion": body["emotion"],
                "mask": 1,
                "liveness": 1,
                "meta": body["meta"],
                "body": body,
            }
        )
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _accounts_sql() -> list[tuple[str, str]]:
    accounts = sorted({account for _, account in STREAM_ACCOUNTS})
    return [(account, f"bench{i}@argus.test") for i, account in enumerate(accounts)]


# -- loading -------------------------------------------------------------------------------------
def load_sqlite(path: Path) -> None:
    stamp = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DATETIME storage format
    now = NOW.strftime(stamp)
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO accounts VALUES (?, ?, 'x', 'user', '', ?, ?)",
            [(a, login, now, now) for a, login in _accounts_sql()],
        )
        marks = ", ".join("?" for _ in COLUMNS)
        for chunk in rows(EVENTS):
            values = []
            for row in chunk:
                row = row | {
                    "create_time": row["create_time"].strftime(stamp),
                    "end_time": row["end_time"].strftime(stamp),
                    "meta": json.dumps(row["meta"]),
                    "body": json.dumps(row["body"]),
                }
                values.append(tuple(row[name] for name in COLUMNS))
            conn.executemany(f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({marks})", values)
        conn.execute("ANALYZE")


async def load_postgres(dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO accounts VALUES ($1, $2, 'x', 'user', '', $3, $3)",
            [(a, login, NOW) for a, login in _accounts_sql()],
        )
        for chunk in rows(EVENTS):
            records = [
                tuple(json.dumps(row[name]) if name in ("meta", "body") else row[name] for name in COLUMNS)
                for row in chunk
            ]
            await conn.copy_records_to_table("events", records=records, columns=list(COLUMNS))
        await conn.execute("ANALYZE events")
    finally:
        await conn.close()


async def _fresh_postgres(url: str) -> str | None:
    """Create the bench database if needed and empty it; the asyncpg DSN, or None if unreachable."""
    import asyncpg

    dsn = url.replace("postgresql+asyncpg", "postgresql")
    base, _, name = dsn.rpartition("/")
    try:
        admin = await asyncpg.connect(f"{base}/postgres", timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()
    return dsn


# -- measuring -----------------------------------------------------------------------------------
def cases() -> list[tuple[str, EventPage]]:
    stream, account = STREAM_ACCOUNTS[17]
    month = [Clause("create_time", "gte", NOW - timedelta(days=30)), Clause("create_time", "lt", NOW)]
    day = [Clause("create_time", "gte", NOW - timedelta(days=1)), Clause("create_time", "lt", NOW)]
    by_stream = [Clause("stream_id", "in", [stream])]
    return [
        ("stream + last day, page_size 10", EventPage(by_stream + day)),
        ("stream + last month, page_size 100", EventPage(by_stream + month, page_size=100)),
        ("stream + last month, page 20 of 100", EventPage(by_stream + month, page=20, page_size=100)),
        ("stream + last month, oldest first", EventPage(by_stream + month, ascending=True, page_size=100)),
        (
            "user scope: account + stream + month",
            EventPage([Clause("account_id", "eq", account), *by_stream, *month], page_size=100),
        ),
        ("no stream (admin), last month, 10", EventPage(month)),
    ]


async def measure(db: Database) -> dict[str, float]:
    """Median milliseconds per case."""
    result = {}
    for name, page in cases():
        times = []
        for round_ in range(ROUNDS + 1):
            started = time.perf_counter()
            async with db.session() as session:
                await page_bodies(session, page)
            if round_:  # the first run warms caches
                times.append((time.perf_counter() - started) * 1000)
        result[name] = statistics.median(times)
    return result


# Index sets, each adding to the previous: (label, statement). The first removes the indexes
# under test from the migrated schema; the third is the schema as shipped (0004 + 0005).
STEPS = (
    ("neither", ("DROP INDEX ix_events_stream_create", "DROP INDEX ix_events_create_id")),
    (
        "(stream_id, create_time) [0004]",
        ("CREATE INDEX ix_events_stream_create ON events (stream_id, create_time)",),
    ),
    (
        "+ (create_time, event_id) [0005]",
        ("CREATE INDEX ix_events_create_id ON events (create_time, event_id)",),
    ),
    (
        "+ (stream_id, create_time, event_id)",
        (f"CREATE INDEX {CANDIDATE} ON events (stream_id, create_time, event_id)",),
    ),
)


async def variants(db: Database, analyze: str) -> dict[str, dict[str, float]]:
    """Figures per index set, from none to the candidates."""
    figures = {}
    for label, statements in STEPS:
        async with db.engine.begin() as conn:
            for statement in (*statements, analyze):
                await conn.exec_driver_sql(statement)
        figures[label] = await measure(db)
    return figures


async def bench_sqlite(folder: Path) -> tuple[dict[str, dict[str, float]], float]:
    path = folder / "events.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.migrate()
    await db.close()
    started = time.perf_counter()
    await asyncio.to_thread(load_sqlite, path)
    loaded = time.perf_counter() - started
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        return await variants(db, "ANALYZE"), loaded
    finally:
        await db.close()


async def bench_postgres() -> tuple[dict[str, dict[str, float]], float] | None:
    dsn = await _fresh_postgres(PG_DSN)
    if dsn is None:
        return None
    db = Database(PG_DSN)
    try:
        await db.migrate()
        started = time.perf_counter()
        await load_postgres(dsn)
        loaded = time.perf_counter() - started
        return await variants(db, "ANALYZE events"), loaded
    finally:
        await db.close()


def table(title: str, figures: dict[str, dict[str, float]], loaded: float) -> str:
    names = list(next(iter(figures.values())))
    head = "| query | " + " | ".join(figures) + " |"
    lines = [
        f"**{title}** ({EVENTS:,} events loaded in {loaded:.0f} s; median ms of {ROUNDS} runs)",
        "",
        head,
    ]
    lines.append("|---|" + "---:|" * len(figures))
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{figures[v][name]:.1f}" for v in figures) + " |")
    return "\n".join(lines)


async def _run() -> str:
    parts = ["## GET /6/events query time (bench/events_query.py)", ""]
    with tempfile.TemporaryDirectory(prefix="argus-events-") as folder:
        sqlite_figures, loaded = await bench_sqlite(Path(folder))
    parts += [table("SQLite", sqlite_figures, loaded), ""]
    postgres = await bench_postgres()
    if postgres is None:
        parts.append(f"PostgreSQL: not reachable at {PG_DSN}; skipped.")
    else:
        parts.append(table("PostgreSQL", *postgres))
    return "\n".join(parts)


def run() -> str:
    body = asyncio.run(_run())
    write_section("events_query", body)
    return body


if __name__ == "__main__":
    print(run())
