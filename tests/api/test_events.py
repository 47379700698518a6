"""GET /6/events and /6/events/{event_id}: filters, targets, pagination, window, scoping, errors.

Events are written straight through api/storage/events.py (as handlers will) and read through the
API, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgpack
import pytest
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.keys import DB
from api.resources.events import month_before
from api.storage import events as events_repo
from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, Accounts, bearer, make_config

NOW = datetime.now(UTC)
S1, S2 = str(uuid.uuid4()), str(uuid.uuid4())
H1 = str(uuid.uuid4())


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_body(account_id: str, create_time: datetime, **fields: Any) -> dict[str, Any]:
    """An event as handlers return it (`event` schema): every field present, unset ones null."""
    event_id = fields.pop("event_id", str(uuid.uuid4()))
    sample_id = str(uuid.uuid4())
    body: dict[str, Any] = {
        "event_id": event_id,
        "account_id": account_id,
        "create_time": stamp(create_time),
        "end_time": stamp(create_time + timedelta(seconds=2)),
        "handler_id": H1,
        "external_id": "",
        "source": None,
        "stream_id": None,
        "top_match": None,
        "match_result": [],
        "face_detections": [
            {
                "sample_id": sample_id,
                "detection": {"rect": {"x": 10, "y": 20, "width": 100, "height": 120}},
                "detect_time": stamp(create_time),
                "detect_ts": None,
                "image_origin": f"/6/images/{uuid.uuid4()}",
            }
        ],
        "body_detections": None,
        "face_id": None,
        "attach_result": [],
        "gender": None,
        "age": None,
        "emotion": None,
        "mask": None,
        "ethnic_group": None,
        "liveness": None,
        "deepfake": None,
        "tags": [],
        "user_data": "",
        "meta": None,
        "location": None,
        "track_id": None,
        "body_basic_attributes": None,
        "upper_body": None,
        "lower_body": None,
        "accessories": None,
    }
    body.update(fields)
    return body


def location(city: str, lon: float, lat: float) -> dict[str, Any]:
    return {
        "city": city,
        "area": f"{city} area",
        "district": f"{city} district",
        "street": f"{city} street",
        "house_number": "1",
        "geo_position": {"longitude": lon, "latitude": lat},
    }


def top_match(similarity: float, label: str) -> dict[str, Any]:
    return {
        "face_id": str(uuid.uuid4()),
        "similarity": similarity,
        "label": label,
        "external_id": f"x-{label}",
    }


async def store(client: TestClient, bodies: list[dict[str, Any]]) -> None:
    async with client.app[DB].session() as session:
        await events_repo.insert(session, [events_repo.event_row(body) for body in bodies])
        await session.commit()


def sample_events(account_id: str) -> dict[str, dict[str, Any]]:
    """Four events: a and b rich, c with nothing estimated, old from 40 days ago."""
    a = event_body(
        account_id,
        NOW - timedelta(hours=1),
        stream_id=S1,
        source="cam1",
        external_id="ext-a",
        track_id="track_1",
        face_id=str(uuid.uuid4()),
        top_match=top_match(0.9, "L1"),
        gender=1,
        age=30,
        emotion=4,
        mask=1,
        ethnic_group=4,
        liveness=1,
        deepfake=1,
        tags=["t1", "t2"],
        user_data="Front door",
        meta={"temp": 36.6, "count": 5, "name": "alpha", "nested": {"level": 2}, "flag": True},
        location=location("Moscow", 37.61, 55.75),
    )
    b = event_body(
        account_id,
        NOW - timedelta(hours=2),
        stream_id=S2,
        source="cam2",
        external_id="ext-b",
        track_id="track_2",
        top_match=top_match(0.5, "L2"),
        gender=0,
        age=50,
        emotion=5,
        mask=2,
        ethnic_group=3,
        liveness=0,
        deepfake=0,
        tags=["t1"],
        user_data="back door",
        meta={"temp": 38.1, "count": "seven", "name": "beta", "nested": {"level": 3}},
        location=location("London", -0.12, 51.5),
        body_basic_attributes={"apparent_age": 40, "apparent_gender": 1},
        upper_body={
            "headwear": {"state": 1, "apparent_color": "black"},
            "sleeve": {"length": "long"},
            "upper_clothing": {"colors": ["black", "white"]},
        },
        lower_body={
            "lower_garment": {"type": "trousers", "colors": ["blue"]},
            "shoes": {"apparent_color": "white"},
        },
        accessories={"backpack": {"state": 0}},
    )
    c = event_body(account_id, NOW - timedelta(hours=3))
    old = event_body(account_id, NOW - timedelta(days=40), stream_id=S1, source="cam1", tags=["t1"])
    return {"a": a, "b": b, "c": c, "old": old}


@pytest.fixture
async def ev_client(aiohttp_client, backend_url: str, tmp_path: Path) -> TestClient:  # type: ignore[no-untyped-def]
    """An app on each backend (SQLite, PostgreSQL)."""
    return await aiohttp_client(create_app(make_config(tmp_path, backend_url)))


@pytest.fixture
async def seeded(ev_client: TestClient) -> tuple[TestClient, dict[str, str], dict[str, dict[str, Any]]]:
    owner = await Accounts(ev_client).create()
    events = sample_events(owner["account_id"])
    await store(ev_client, list(events.values()))
    return ev_client, owner, events


async def names_of(
    client: TestClient, auth: dict[str, str], events: dict[str, Any], **params: Any
) -> set[str]:
    resp = await client.get("/6/events", params={"page_size": 100, **params}, headers=auth)
    assert resp.status == 200, await resp.text()
    by_id = {body["event_id"]: name for name, body in events.items()}
    return {by_id[event["event_id"]] for event in (await resp.json())["events"]}


FILTER_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({}, {"a", "b", "c"}),
    ({"stream_ids": S1}, {"a"}),
    ({"stream_ids": f"{S1},{S2}"}, {"a", "b"}),
    ({"stream_ids": "null"}, {"c"}),
    ({"stream_ids": f"{S2},null"}, {"b", "c"}),
    ({"sources": "cam1,cam2"}, {"a", "b"}),
    ({"sources": "null"}, {"c"}),
    ({"cities": "Moscow"}, {"a"}),
    ({"cities": "London,null"}, {"b", "c"}),
    ({"areas": "Moscow area"}, {"a"}),
    ({"districts": "London district"}, {"b"}),
    ({"streets": "null"}, {"c"}),
    ({"house_numbers": "1"}, {"a", "b"}),
    ({"origin_longitude": 37.612, "origin_latitude": 55.749}, {"a"}),
    ({"origin_longitude": 37.7, "origin_latitude": 55.75}, set()),
    ({"origin_longitude": 37.7, "origin_latitude": 55.75, "longitude_delta": 0.2}, {"a"}),
    ({"origin_longitude": "null"}, {"c"}),
    ({"top_matching_candidates_label": "L2"}, {"b"}),
    ({"top_similar_object_similarity__gte": 0.5}, {"a", "b"}),
    ({"top_similar_object_similarity__gte": 0.6, "top_similar_object_similarity__lt": 1}, {"a"}),
    ({"top_similar_object_similarity__lt": 0.9}, {"b"}),
    ({"top_similar_external_ids": "x-L1"}, {"a"}),
    ({"age__gte": 30, "age__lt": 50}, {"a"}),
    ({"age__gte": 50}, {"b"}),
    ({"gender": 0}, {"b"}),
    ({"gender": "null"}, {"c"}),
    ({"emotions": "4,5"}, {"a", "b"}),
    ({"emotions": "5,null"}, {"b", "c"}),
    ({"masks": "2"}, {"b"}),
    ({"ethnic_groups": "4,null"}, {"a", "c"}),
    ({"liveness": "0"}, {"b"}),
    ({"deepfake": "1"}, {"a"}),
    ({"handler_ids": H1}, {"a", "b", "c"}),
    ({"external_ids": "ext-a,ext-b"}, {"a", "b"}),
    ({"user_data": "door"}, {"a", "b"}),
    ({"user_data": "FRONT"}, {"a"}),
    ({"user_data": "%"}, set()),
    ({"tags": "t1"}, {"a", "b"}),
    ({"tags": "t1,t2"}, {"a"}),
    ({"tags": "t3"}, set()),
    ({"tags": ""}, {"a", "b", "c"}),
    ({"track_ids": "track_1,track_2"}, {"a", "b"}),
    ({"track_ids": "null"}, {"c"}),
    # Body attributes live in `body` JSON; only b has them.
    ({"apparent_gender": "1"}, {"b"}),
    ({"apparent_gender": "null"}, {"a", "c"}),
    ({"apparent_age__gte": 40, "apparent_age__lt": 41}, {"b"}),
    ({"headwear_states": "1"}, {"b"}),
    ({"headwear_apparent_colors": "black"}, {"b"}),
    ({"headwear_apparent_colors": "white,null"}, {"a", "c"}),
    ({"sleeve_lengths": "long"}, {"b"}),
    ({"upper_clothing_colors": "white,red"}, {"b"}),
    ({"upper_clothing_colors": "red"}, set()),
    ({"upper_clothing_colors": "null"}, {"a", "c"}),
    ({"lower_garment_colors": "blue"}, {"b"}),
    ({"lower_garment_types": "trousers"}, {"b"}),
    ({"shoes_apparent_colors": "white"}, {"b"}),
    ({"backpack_states": "0"}, {"b"}),
    ({"backpack_states": "1,2"}, set()),
    # User-defined meta filters.
    ({"meta.name": "alpha"}, {"a"}),
    ({"meta.name__eq:string": "beta"}, {"b"}),
    ({"meta.name__neq": "alpha"}, {"b"}),
    ({"meta.name__in": "alpha,beta"}, {"a", "b"}),
    ({"meta.name__nin": "alpha"}, {"b"}),
    ({"meta.name__like": "al%"}, {"a"}),
    ({"meta.name__like": "AL%"}, set()),
    ({"meta.name__nlike": "%ta"}, {"a"}),
    ({"meta.name__gt": "alpha"}, {"b"}),
    ({"meta.temp__gt:numeric": "37"}, {"b"}),
    ({"meta.temp__lte:numeric": "36.6"}, {"a"}),
    ({"meta.temp__in:numeric": "36.6,40"}, {"a"}),
    ({"meta.nested.level:integer": "3"}, {"b"}),
    ({"meta.nested.level__gte:integer": "2"}, {"a", "b"}),
    ({"meta.nested.level__nin:integer": "2"}, {"b"}),
    ({"meta.temp": "36.6"}, {"a"}),
    ({"meta.flag": "true"}, {"a"}),
    ({"meta.name": "null"}, {"c"}),
    ({"meta.name__neq": "null"}, {"a", "b"}),
    ({"meta.nested.level__in:integer": "3,null"}, {"b", "c"}),
    ({"meta": "null"}, {"c"}),
    # Time bounds switch the default window off.
    ({"create_time__gte": stamp(NOW - timedelta(days=41))}, {"a", "b", "c", "old"}),
    ({"create_time__lt": stamp(NOW - timedelta(hours=1, minutes=30))}, {"b", "c", "old"}),
    ({"create_time__gte": "now-150m"}, {"a", "b"}),
    ({"end_time__gte": stamp(NOW - timedelta(hours=1, minutes=1))}, {"a"}),
    ({"end_time__lt": stamp(NOW - timedelta(hours=1, minutes=1))}, {"b", "c"}),
]


async def test_every_filter_family(seeded) -> None:  # type: ignore[no-untyped-def]
    client, owner, events = seeded
    failures = []
    for params, expected in FILTER_CASES:
        found = await names_of(client, owner, events, **params)
        if found != expected:
            failures.append((params, expected, found))
    assert not failures


async def test_id_filters_and_default_window(seeded) -> None:  # type: ignore[no-untyped-def]
    client, owner, events = seeded
    ids = {name: body["event_id"] for name, body in events.items()}
    assert await names_of(client, owner, events, event_ids=f"{ids['a']},{ids['old']}") == {"a", "old"}
    assert await names_of(client, owner, events, face_ids=events["a"]["face_id"]) == {"a"}
    assert await names_of(
        client, owner, events, top_similar_object_ids=events["b"]["top_match"]["face_id"]
    ) == {"b"}
    # An id bound switches the window off too: the 40-day-old event is found.
    lowest = min(ids.values())
    assert await names_of(client, owner, events, event_id__gte=lowest) == set(events)
    assert await names_of(client, owner, events, event_id__lt=lowest) == set()


def test_month_before_clamps_the_day() -> None:
    assert month_before(datetime(2024, 3, 31, 12, tzinfo=UTC)) == datetime(2024, 2, 29, 12, tzinfo=UTC)
    assert month_before(datetime(2024, 1, 15, tzinfo=UTC)) == datetime(2023, 12, 15, tzinfo=UTC)


async def test_body_targets_and_formats(seeded) -> None:  # type: ignore[no-untyped-def]
    client, owner, events = seeded
    resp = await client.get("/6/events", params={"stream_ids": S2}, headers=owner)
    (event,) = (await resp.json())["events"]
    assert event == events["b"]
    resp = await client.get(
        "/6/events", params={"stream_ids": S2, "target": "event_id,meta,tags"}, headers=owner
    )
    (event,) = (await resp.json())["events"]
    assert event == {"event_id": events["b"]["event_id"], "meta": events["b"]["meta"], "tags": ["t1"]}
    resp = await client.get(
        "/6/events", params={"stream_ids": S2}, headers={**owner, "Accept": "application/msgpack"}
    )
    assert resp.content_type == "application/msgpack"
    assert msgpack.unpackb(await resp.read())["events"] == [events["b"]]


async def test_single_event(seeded) -> None:  # type: ignore[no-untyped-def]
    client, owner, events = seeded
    event_id = events["old"]["event_id"]
    resp = await client.get(f"/6/events/{event_id}", headers=owner)
    assert resp.status == 200
    assert await resp.json() == events["old"]
    resp = await client.get(f"/6/events/{event_id}", params={"target": "event_id,create_time"}, headers=owner)
    assert await resp.json() == {"event_id": event_id, "create_time": events["old"]["create_time"]}
    assert (await client.head(f"/6/events/{event_id}", headers=owner)).status == 200
    missing = str(uuid.uuid4())
    await assert_error(
        await client.get(f"/6/events/{missing}", headers=owner),
        404,
        23001,
        f"Event with id '{missing}' not found",
    )
    assert (await client.head(f"/6/events/{missing}", headers=owner)).status == 404
    await assert_error(
        await client.get(f"/6/events/{event_id}", params={"targets": "x"}, headers=owner), 400, 12012
    )


async def test_pagination_and_ordering(client: TestClient, accounts: Accounts) -> None:
    owner = await accounts.create()
    bodies = [event_body(owner["account_id"], NOW - timedelta(minutes=i)) for i in range(15)]
    await store(client, bodies)
    newest_first = [body["event_id"] for body in bodies]

    async def ids(**params: Any) -> list[str]:
        resp = await client.get("/6/events", params=params, headers=owner)
        assert resp.status == 200, await resp.text()
        return [event["event_id"] for event in (await resp.json())["events"]]

    assert await ids() == newest_first[:10]
    assert await ids(page=2) == newest_first[10:]
    assert await ids(page=3) == []
    assert await ids(page_size=4, page=2) == newest_first[4:8]
    assert await ids(order="asc", page_size=3) == newest_first[::-1][:3]
    by_id = sorted(newest_first)
    assert await ids(event_id__gte=by_id[0], page_size=15) == by_id[::-1]
    assert await ids(event_id__gte=by_id[0], order="asc", page_size=5) == by_id[:5]
    assert await ids(event_id__gte=by_id[3], event_id__lt=by_id[6], order="asc") == by_id[3:6]


async def test_accounts_are_isolated(client: TestClient, accounts: Accounts) -> None:
    first, second = await accounts.create(), await accounts.create()
    advanced = await accounts.create("advanced_user")
    mine = event_body(first["account_id"], NOW - timedelta(minutes=1))
    theirs = event_body(second["account_id"], NOW - timedelta(minutes=2))
    await store(client, [mine, theirs])

    async def ids(auth: dict[str, str], **params: Any) -> set[str]:
        resp = await client.get("/6/events", params=params, headers=auth)
        assert resp.status == 200, await resp.text()
        return {event["event_id"] for event in (await resp.json())["events"]}

    assert await ids(first) == {mine["event_id"]}
    # A user's scope is its account: an account_id filter has no effect (as for faces).
    assert await ids(first, account_id=second["account_id"]) == {mine["event_id"]}
    assert await ids(ADMIN) == {mine["event_id"], theirs["event_id"]}
    assert await ids(ADMIN, account_id=second["account_id"]) == {theirs["event_id"]}
    assert await ids(advanced) == {mine["event_id"], theirs["event_id"]}
    assert (await client.get(f"/6/events/{theirs['event_id']}", headers=first)).status == 404
    assert (await client.head(f"/6/events/{theirs['event_id']}", headers=first)).status == 404
    assert (await client.get(f"/6/events/{theirs['event_id']}", headers=ADMIN)).status == 200
    # A token of visibility_area "account" narrows an advanced user to its own (here: no) events.
    resp = await client.post(
        "/6/tokens",
        json={"permissions": {"event": ["view"]}, "visibility_area": "account", "expiration_time": None},
        headers={"Authorization": advanced["Authorization"]},
    )
    assert resp.status == 201, await resp.text()
    assert await ids(bearer((await resp.json())["token"])) == set()


async def test_token_needs_event_view(client: TestClient, accounts: Accounts) -> None:
    owner = await accounts.create()
    denied = bearer(await accounts.token(owner, {"face": ["view"]}))
    allowed = bearer(await accounts.token(owner, {"event": ["view"]}))
    body = event_body(owner["account_id"], NOW)
    await store(client, [body])
    detail = "Request denied due to token restrictions, required 'view' permission for 'event'"
    await assert_error(await client.get("/6/events", headers=denied), 403, 11059, detail)
    await assert_error(await client.get(f"/6/events/{body['event_id']}", headers=denied), 403, 11059, detail)
    assert (await client.get("/6/events", headers=allowed)).status == 200
    assert (await client.get(f"/6/events/{body['event_id']}", headers=allowed)).status == 200


BAD_QUERIES = [
    {"unknown": "1"},
    {"page": "0"},
    {"page_size": "1001"},
    {"page_size": "0"},
    {"order": "up"},
    {"emotions": "8"},
    {"emotions": ""},
    {"gender": "2"},
    {"stream_ids": "not-a-uuid"},
    {"event_id__gte": "x"},
    {"create_time__lt": "yesterday"},
    {"age__lt": "old"},
    {"apparent_age__gte": "101"},
    {"sleeve_lengths": "medium"},
    {"upper_clothing_colors": "teal"},
    {"track_ids": "bad id"},
    {"tags": "x" * 37},
    {"origin_longitude": "10"},
    {"origin_latitude": "10", "longitude_delta": "1"},
    {"longitude_delta": "1"},
    {"origin_longitude": "200", "origin_latitude": "10"},
    {"origin_longitude": "null", "latitude_delta": "1"},
    {"origin_longitude": "null", "origin_latitude": "5"},
    {"top_similar_object_similarity__gte": "nan"},
    {"meta.x__like:integer": "5"},
    {"meta.x:integer": "five"},
    {"meta.x__gt": "null"},
    {"meta.x__between": "1"},
    {"meta.x:boolean": "1"},
    {"meta.a__b": "1"},
    {"meta": "5"},
    {"target": ""},
]


@pytest.mark.parametrize("params", BAD_QUERIES, ids=lambda p: ",".join(p))
async def test_bad_query_answers_12012(client: TestClient, params: dict[str, str]) -> None:
    body = await assert_error(await client.get("/6/events", params=params, headers=ADMIN), 400, 12012)
    assert body["detail"].startswith("Bad query parameters '")


async def test_bad_target_answers_22016(client: TestClient) -> None:
    resp = await client.get("/6/events", params={"target": "event_id,invalid"}, headers=ADMIN)
    body = await assert_error(resp, 400, 22016)
    assert body["desc"] == "Bad input data"
    assert body["detail"].startswith(
        "'invalid' is not valid target to get events. Valid target should be one of ["
    )
    assert '"event_id", "account_id", "create_time"' in body["detail"]
    resp = await client.get(f"/6/events/{uuid.uuid4()}", params={"target": "nope"}, headers=ADMIN)
    await assert_error(resp, 400, 22016)


async def test_bad_meta_cast_answers_10020_on_postgresql(pg_client: TestClient) -> None:
    """b stores meta.count as the string "seven": PostgreSQL cannot cast it to an integer."""
    owner = await Accounts(pg_client).create()
    await store(pg_client, list(sample_events(owner["account_id"]).values()))
    resp = await pg_client.get("/6/events", params={"meta.count__gt:integer": "3"}, headers=owner)
    await assert_error(
        resp,
        422,
        10020,
        "SQL request execution failed due to incompatible user-defined filters: "
        "cannot cast jsonb string to type integer",
    )


async def test_bad_meta_cast_does_not_match_on_sqlite(client: TestClient) -> None:
    """SQLite cannot fail a cast: values of another JSON type simply do not match."""
    owner = await Accounts(client).create()
    events = sample_events(owner["account_id"])
    await store(client, list(events.values()))
    assert await names_of(client, owner, events, **{"meta.count__gt:integer": "3"}) == {"a"}
    assert await names_of(client, owner, events, **{"meta.count:string": "seven"}) == {"b"}


def test_like_patterns_become_case_sensitive_globs_on_sqlite() -> None:
    from api.storage.event_filters import _like_to_glob

    assert _like_to_glob("al%") == "al*"
    assert _like_to_glob("a_c") == "a?c"
    assert _like_to_glob(r"100\%") == "100%"
    assert _like_to_glob("x*y?[z") == "x[*]y[?][[]z"


async def test_listing_indexes_exist(ev_client: TestClient) -> None:
    """GET /6/events relies on them (measured in bench/events_query.py)."""
    from sqlalchemy import inspect

    async with ev_client.app[DB].engine.connect() as conn:
        indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("events"))
    columns = {tuple(index["column_names"]) for index in indexes}
    expected = {("stream_id", "create_time"), ("create_time", "event_id"), ("account_id", "create_time")}
    assert expected <= columns
