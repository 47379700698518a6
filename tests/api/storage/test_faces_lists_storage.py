"""Faces and lists storage on both backends: schema, cascades, membership, filters, chunking."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import inspect

from api.storage import faces as faces_repo
from api.storage import lists as lists_repo
from api.storage.db import Database
from api.storage.faces import FaceFilter
from api.storage.lists import ListFilter
from api.storage.models import Account, Face, FaceList, ListFace
from tests.api.storage.conftest import count_rows, new_account

BASE = datetime(2024, 3, 1, tzinfo=UTC)


def _face(account_id: str, minutes: int = 0, **fields) -> Face:  # type: ignore[no-untyped-def]
    values = {
        "face_id": str(uuid.uuid4()),
        "account_id": account_id,
        "external_id": "",
        "user_data": "",
        "avatar": "",
        "event_id": None,
        "create_time": BASE + timedelta(minutes=minutes),
        "samples": {"face_descriptor_samples": [], "basic_attributes_samples": []},
        **fields,
    }
    return Face(**values)


def _list(account_id: str, minutes: int = 0, user_data: str = "") -> FaceList:
    when = BASE + timedelta(minutes=minutes)
    return FaceList(
        list_id=str(uuid.uuid4()),
        account_id=account_id,
        user_data=user_data,
        create_time=when,
        last_update_time=when,
    )


async def test_schema_has_tables_keys_and_indexes(db: Database) -> None:
    def describe(conn):  # type: ignore[no-untyped-def]
        inspector = inspect(conn)
        return {
            table: (
                {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)},
                inspector.get_pk_constraint(table)["constrained_columns"],
                {
                    (fk["referred_table"], fk["options"].get("ondelete"))
                    for fk in inspector.get_foreign_keys(table)
                },
            )
            for table in ("faces", "lists", "list_faces")
        }

    async with db.engine.connect() as conn:
        schema = await conn.run_sync(describe)
    faces_ix, faces_pk, faces_fk = schema["faces"]
    assert {("account_id", "create_time"), ("external_id",), ("event_id",)} <= faces_ix
    assert faces_pk == ["face_id"] and faces_fk == {("accounts", "CASCADE")}
    assert ("account_id", "create_time") in schema["lists"][0]
    links_ix, links_pk, links_fk = schema["list_faces"]
    assert links_pk == ["list_id", "face_id"] and ("face_id",) in links_ix
    assert links_fk == {("lists", "CASCADE"), ("faces", "CASCADE")}


async def test_cascades(db: Database, account: Account) -> None:
    face, other_face, found = _face(account.account_id), _face(account.account_id), _list(account.account_id)
    async with db.session() as session:
        session.add_all([face, other_face, found])
        await session.flush()
        await lists_repo.attach(session, found.list_id, [face.face_id, other_face.face_id], BASE)
        await session.commit()
    async with db.session() as session:
        assert await faces_repo.remove(session, [face.face_id], account.account_id, BASE) == 1
        await session.commit()
    assert await count_rows(db, ListFace) == 1  # the deleted face's membership went with it
    async with db.session() as session:
        assert await lists_repo.remove(session, [found.list_id], account.account_id) == 1
        await session.commit()
    assert (await count_rows(db, ListFace), await count_rows(db, Face)) == (0, 1)  # the list's faces stay
    async with db.session() as session:
        session.add(_list(account.account_id))
        await session.delete(await session.get(Account, account.account_id))
        await session.commit()
    assert (await count_rows(db, Face), await count_rows(db, FaceList)) == (0, 0)


async def test_attach_is_idempotent_and_detach_is_exact(db: Database, account: Account) -> None:
    faces = [_face(account.account_id) for _ in range(3)]
    first, second = _list(account.account_id), _list(account.account_id)
    async with db.session() as session:
        session.add_all([*faces, first, second])
        await session.flush()
        await lists_repo.attach(session, first.list_id, [f.face_id for f in faces[:2]], BASE)
        await lists_repo.attach(session, second.list_id, [faces[0].face_id], BASE + timedelta(seconds=1))
        await lists_repo.attach(
            session, first.list_id, [f.face_id for f in faces], BASE + timedelta(seconds=2)
        )
        await lists_repo.detach(session, first.list_id, [faces[1].face_id, str(uuid.uuid4())])
        await session.commit()
    async with db.session() as session:
        memberships = await lists_repo.lists_of(session, [f.face_id for f in faces])
    assert memberships == {
        faces[0].face_id: [first.list_id, second.list_id],  # in the order the face was attached
        faces[1].face_id: [],
        faces[2].face_id: [first.list_id],
    }


async def test_face_filters_and_order(db: Database, account: Account) -> None:
    other = new_account()
    found = _list(account.account_id)
    event_id = str(uuid.uuid4())
    faces = [
        _face(account.account_id, 0, user_data="100% Match", external_id="a"),
        _face(account.account_id, 1, user_data="100 matches", external_id="b", event_id=event_id),
        _face(account.account_id, 2, user_data="under_score", external_id="a"),
    ]
    async with db.session() as session:
        session.add_all([other, found, *faces])
        await session.flush()
        session.add(_face(other.account_id, 3, user_data="100% Match"))
        await lists_repo.attach(session, found.list_id, [faces[1].face_id], BASE)
        await session.commit()

    async def ids(**given) -> list[str]:  # type: ignore[no-untyped-def]
        flt = FaceFilter(account_id=account.account_id, **given)
        async with db.session() as session:
            rows = await faces_repo.page(session, flt, 1, 10)
            assert await faces_repo.count(session, flt) == len(rows)
        return [row.face_id for row in rows]

    by_time = [f.face_id for f in faces[::-1]]
    assert await ids() == by_time
    assert await ids(user_data="100%") == [faces[0].face_id]  # % is literal
    assert await ids(user_data="r_s") == [faces[2].face_id]  # _ is literal
    assert await ids(user_data="MATCH") == [faces[1].face_id, faces[0].face_id]
    assert await ids(external_ids=["a"]) == [faces[2].face_id, faces[0].face_id]
    assert await ids(event_id=event_id) == await ids(list_id=found.list_id) == [faces[1].face_id]
    assert await ids(
        create_time__gte=BASE + timedelta(minutes=1), create_time__lt=BASE + timedelta(minutes=2)
    ) == [faces[1].face_id]
    by_id = sorted((f.face_id for f in faces), reverse=True)
    assert await ids(face_id__gte="0" * 8 + "-0000-0000-0000-" + "0" * 12) == by_id
    assert await ids(face_id__lt=by_id[0]) == by_id[1:]
    async with db.session() as session:
        assert await faces_repo.count(session, FaceFilter(user_data="100% match")) == 2  # every account
        assert await faces_repo.count_with_attributes(session, account.account_id) == 0


async def test_remove_is_scoped_and_touches_lists(db: Database, account: Account) -> None:
    other = new_account()
    mine, theirs = _face(account.account_id), _face(other.account_id)
    found = _list(account.account_id)
    async with db.session() as session:
        session.add_all([other, mine, theirs, found])
        await session.flush()
        await lists_repo.attach(session, found.list_id, [mine.face_id], BASE)
        await session.commit()
    later = BASE + timedelta(hours=1)
    async with db.session() as session:
        assert (
            await faces_repo.remove(session, [mine.face_id, theirs.face_id], account.account_id, later) == 1
        )
        await session.commit()
    async with db.session() as session:
        assert (await lists_repo.get(session, found.list_id, None)).last_update_time == later
        assert await faces_repo.get(session, theirs.face_id, None) is not None
        assert await faces_repo.get(session, theirs.face_id, account.account_id) is None


async def test_many_ids_are_chunked(db: Database, account: Account) -> None:
    faces = [_face(account.account_id, i) for i in range(lists_repo.CHUNK + 5)]
    found = _list(account.account_id)
    async with db.session() as session:
        session.add_all([*faces, found])
        await session.flush()
        face_ids = [f.face_id for f in faces]
        await lists_repo.attach(session, found.list_id, face_ids, BASE)
        await session.commit()
    unknown = [str(uuid.uuid4()) for _ in range(lists_repo.CHUNK * 2)]
    async with db.session() as session:
        assert await faces_repo.existing(session, [*unknown, *face_ids], account.account_id) == set(face_ids)
        assert len(await lists_repo.face_ids_of(session, [found.list_id], account.account_id)) == len(faces)
        assert await faces_repo.remove(session, face_ids, account.account_id, BASE) == len(faces)
        await session.commit()
    assert await count_rows(db, ListFace) == 0


async def test_list_filters(db: Database, account: Account) -> None:
    lists = [_list(account.account_id, i, name) for i, name in enumerate(["Alpha", "alphabet", "beta"])]
    async with db.session() as session:
        session.add_all(lists)
        await session.commit()

    async def ids(**given) -> list[str]:  # type: ignore[no-untyped-def]
        flt = ListFilter(**{"account_id": account.account_id, **given})
        async with db.session() as session:
            rows = await lists_repo.page(session, flt, 1, 10)
            assert await lists_repo.count(session, flt) == len(rows)
        return [row.list_id for row in rows]

    assert await ids() == [found.list_id for found in lists[::-1]]
    assert await ids(user_data="ALPHA") == [lists[1].list_id, lists[0].list_id]
    assert await ids(user_data__eq="alphabet") == [lists[1].list_id]
    assert await ids(last_update_time__gte=BASE + timedelta(minutes=2)) == [lists[2].list_id]
    assert await ids(list_ids=[lists[0].list_id, str(uuid.uuid4())]) == [lists[0].list_id]
    assert await ids(account_id=str(uuid.uuid4())) == await ids(user_data="x") == []
