"""Streams storage on both backends: migration 0007, cascades, group membership, filters, logs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from api.storage import groups as groups_repo
from api.storage import streams as streams_repo
from api.storage.db import Database, alembic_config
from api.storage.groups import GroupFilter
from api.storage.models import Account, Agent, Stream, StreamGroup, StreamGroupLink, StreamLog
from api.storage.streams import LogFilter, StreamFilter
from tests.api.storage.conftest import count_rows, new_account

BASE = datetime(2024, 3, 1, tzinfo=UTC)
TABLES = ("agents", "streams", "stream_groups", "stream_group_links", "stream_logs")


def _stream(account_id: str, minutes: int = 0, **fields) -> Stream:  # type: ignore[no-untyped-def]
    when = BASE + timedelta(minutes=minutes)
    values = {
        "stream_id": str(uuid.uuid4()),
        "account_id": account_id,
        "name": "",
        "description": "",
        "stream_type": "stream",
        "reference": "rtsp://cam/1",
        "data": {"type": "stream", "reference": "rtsp://cam/1"},
        "location": {},
        "autorestart": {"restart": 0, "attempt_count": 10, "delay": 60},
        "autorestart_status": "disabled",
        "current_attempt": None,
        "last_attempt_time": None,
        "analytics": [{"analytic_name": "people_count", "parameters": {}}],
        "status": 0,
        "last_error": None,
        "version": 1,
        "create_time": when,
        "last_update_time": when,
        **fields,
    }
    return Stream(**values)


def _group(account_id: str, name: str, minutes: int = 0) -> StreamGroup:
    return StreamGroup(
        group_id=str(uuid.uuid4()),
        account_id=account_id,
        group_name=name,
        description="",
        create_time=BASE + timedelta(minutes=minutes),
    )


async def test_schema_keys_indexes_and_downgrade(db: Database) -> None:
    def describe(conn):  # type: ignore[no-untyped-def]
        inspector = inspect(conn)
        return {
            table: (
                {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)},
                {
                    (tuple(fk["constrained_columns"]), fk["referred_table"], fk["options"].get("ondelete"))
                    for fk in inspector.get_foreign_keys(table)
                },
                {tuple(uq["column_names"]) for uq in inspector.get_unique_constraints(table)},
            )
            for table in TABLES
        }

    async with db.engine.connect() as conn:
        schema = await conn.run_sync(describe)
    streams_ix, streams_fk, _ = schema["streams"]
    assert {("account_id", "create_time"), ("status",), ("agent_id",)} <= streams_ix
    assert streams_fk == {(("account_id",), "accounts", "CASCADE"), (("agent_id",), "agents", "SET NULL")}
    assert ("account_id", "group_name") in schema["stream_groups"][2]
    assert schema["stream_group_links"][1] == {
        (("group_id",), "stream_groups", "CASCADE"),
        (("stream_id",), "streams", "CASCADE"),
    }
    assert {("stream_id", "log_id"), ("account_id", "log_time"), ("log_time",)} <= schema["stream_logs"][0]
    # 0007 goes down to 0006 and up again cleanly.
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0006"))
        left = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert not set(TABLES) & left and "bus_messages" in left
    await db.migrate()
    async with db.engine.connect() as conn:
        assert set(TABLES) <= set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_cascades(db: Database, account: Account) -> None:
    agent = Agent(
        agent_id=str(uuid.uuid4()),
        account_id=None,
        name="embedded",
        description="",
        max_stream_count=4,
        analytics=["people_count"],
        create_time=BASE,
        last_seen_time=None,
    )
    stream, group = _stream(account.account_id, agent_id=agent.agent_id), _group(account.account_id, "g")
    async with db.session() as session:
        session.add_all([agent, stream, group])
        await session.flush()
        streams_repo.add_log(session, stream, BASE)
        await groups_repo.attach(session, group.group_id, [stream.stream_id], BASE)
        await session.commit()
    async with db.session() as session:
        await session.delete(await session.get(Agent, agent.agent_id))
        await session.commit()
    async with db.session() as session:
        assert (await session.get(Stream, stream.stream_id)).agent_id is None  # type: ignore[union-attr]
    async with db.session() as session:
        await session.delete(await session.get(StreamGroup, group.group_id))
        await session.commit()
    assert (await count_rows(db, StreamGroupLink), await count_rows(db, Stream)) == (0, 1)  # the stream stays
    async with db.session() as session:
        assert await streams_repo.remove(session, [stream.stream_id], account.account_id) == 1
        await session.commit()
    assert await count_rows(db, StreamLog) == 0  # its log went with it
    async with db.session() as session:
        session.add_all([_stream(account.account_id), _group(account.account_id, "h")])
        await session.commit()
    async with db.session() as session:
        await session.delete(await session.get(Account, account.account_id))
        await session.commit()
    assert (await count_rows(db, Stream), await count_rows(db, StreamGroup)) == (0, 0)


async def test_group_names_unique_per_account(db: Database, account: Account) -> None:
    other = new_account()
    async with db.session() as session:
        session.add_all([other, _group(account.account_id, "same")])
        await session.flush()
        session.add(_group(other.account_id, "same"))
        await session.commit()
    async with db.session() as session:
        session.add(_group(account.account_id, "same"))
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_stream_filters_and_membership(db: Database, account: Account) -> None:
    other = new_account()
    streams = [
        _stream(account.account_id, 0, name="a"),
        _stream(account.account_id, 1, name="b", reference="rtsp://cam/2", status=5),
        _stream(account.account_id, 2, name="c"),
    ]
    theirs = _stream(other.account_id, 3, name="a")
    mine_group, their_group = _group(account.account_id, "g"), _group(other.account_id, "g")
    async with db.session() as session:
        session.add_all([other, *streams, theirs, mine_group, their_group])
        await session.flush()
        await groups_repo.attach(
            session, mine_group.group_id, [streams[2].stream_id, streams[0].stream_id], BASE
        )
        await groups_repo.attach(session, mine_group.group_id, [streams[0].stream_id], BASE)  # idempotent
        await groups_repo.attach(session, their_group.group_id, [theirs.stream_id], BASE)
        await session.commit()
    ids = [s.stream_id for s in streams]

    async def found(flt: StreamFilter, newest_first: bool = False) -> list[str]:
        async with db.session() as session:
            return [s.stream_id for s in await streams_repo.page(session, flt, 1, 10, newest_first)]

    mine = account.account_id
    assert await found(StreamFilter(account_id=mine)) == ids
    assert await found(StreamFilter(account_id=mine), newest_first=True) == ids[::-1]
    assert await found(StreamFilter(names=["a"])) == [ids[0], theirs.stream_id]
    assert await found(StreamFilter(account_id=mine, reference="rtsp://cam/2")) == [ids[1]]
    assert await found(StreamFilter(statuses=[5])) == [ids[1]]
    assert (
        await found(
            StreamFilter(
                create_time__gte=BASE + timedelta(minutes=1), create_time__lt=BASE + timedelta(minutes=3)
            )
        )
        == ids[1:]
    )
    assert await found(StreamFilter(group_name="g", account_id=mine)) == [ids[0], ids[2]]
    assert await found(StreamFilter(group_name="g")) == [ids[0], ids[2], theirs.stream_id]
    async with db.session() as session:
        assert await streams_repo.count(session, StreamFilter(account_id=mine)) == 3
        names = await streams_repo.group_names_of(session, [*ids, theirs.stream_id])
        assert names == {ids[0]: ["g"], ids[1]: [], ids[2]: ["g"], theirs.stream_id: ["g"]}
        assert await groups_repo.stream_ids_of(session, mine_group.group_id) == sorted([ids[0], ids[2]])
        assert await streams_repo.existing(session, [*ids, theirs.stream_id], mine) == set(ids)
        assert await groups_repo.count(session, GroupFilter(group_names=["g"])) == 2
        assert await groups_repo.by_name(session, other.account_id, "g") is not None
        await groups_repo.detach(session, mine_group.group_id, [ids[0], theirs.stream_id])
        await session.commit()
    assert await found(StreamFilter(group_name="g", account_id=mine)) == [ids[2]]
    many = [str(uuid.uuid4()) for _ in range(2500)]  # chunked IN clauses
    async with db.session() as session:
        assert await streams_repo.remove(session, many, mine) == 0


async def test_logs_and_status_changes(db: Database, account: Account) -> None:
    first, second = _stream(account.account_id), _stream(account.account_id)
    async with db.session() as session:
        session.add_all([first, second])
        await session.flush()
        streams_repo.add_log(session, first, BASE)  # created: pending
        streams_repo.add_log(session, second, BASE)
        changes = [
            (1, None),
            (4, "connection refused"),
            (4, "connection refused"),
        ]  # the last changes nothing
        for step, (status, error) in enumerate(changes, start=1):
            streams_repo.set_status(session, first, status, error, BASE + timedelta(seconds=step))
        await session.commit()
    assert (first.status, first.last_error) == (4, "connection refused")

    async def logs(flt: LogFilter) -> list[tuple[int, str | None]]:
        async with db.session() as session:
            return [(log.status, log.error) for log in await streams_repo.logs_page(session, flt, 1, 10)]

    assert await logs(LogFilter(stream_ids=[first.stream_id])) == [
        (4, "connection refused"),
        (1, None),
        (0, None),
    ]
    assert await logs(LogFilter(statuses=[1, 4])) == [(4, "connection refused"), (1, None)]
    assert await logs(
        LogFilter(log_time__gte=BASE + timedelta(seconds=1), log_time__lt=BASE + timedelta(seconds=2))
    ) == [(1, None)]
    assert await logs(LogFilter(account_id=str(uuid.uuid4()))) == []
    async with db.session() as session:
        assert await streams_repo.delete_logs(session, BASE + timedelta(seconds=2), str(uuid.uuid4())) == 0
        assert await streams_repo.delete_logs(session, BASE + timedelta(seconds=2), account.account_id) == 2
        await session.commit()
    async with db.session() as session:
        assert (
            await streams_repo.delete_logs(session, None, account.account_id) == 0
        )  # only last entries left
    assert await count_rows(db, StreamLog) == 2
