"""POST /6/events/statistic: aggregators, grouping by columns and time, filters, period, errors.

Events are stored at fixed times (statistics have no default window), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from api.app import create_app
from tests.api.test_events import event_body, location, store, top_match
from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, Accounts, bearer, make_config

URL = "/6/events/statistic"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def dataset(owner: str, other: str) -> list[dict[str, Any]]:
    """Four events of ``owner`` (Mon 1 Jan, Mon 1 Jan, Tue 2 Jan, Thu 15 Feb 2024) and one of ``other``."""
    return [
        event_body(
            owner,
            at("2024-01-01T10:15:00"),
            source="cam1",
            age=20,
            gender=0,
            emotion=1,
            tags=["t1"],
            track_id="tr1",
            top_match=top_match(0.9, "L1"),
            meta={"temp": 36.6, "n": 1, "name": "alpha"},
            location=location("Moscow", 37.61, 55.75),
        ),
        event_body(
            owner,
            at("2024-01-01T11:45:00"),
            source="cam1",
            age=30,
            gender=1,
            emotion=2,
            tags=["t1", "t2"],
            top_match=top_match(0.5, "L1"),
            meta={"temp": 37.0, "n": 2, "name": "beta"},
            location={**location("Moscow", 0, 0), "geo_position": None},
        ),
        event_body(
            owner,
            at("2024-01-02T10:05:00"),
            source="cam2",
            age=40,
            gender=1,
            emotion=3,
            meta={"temp": 38.5, "n": 3},
            location=location("London", -0.12, 51.5),
        ),
        event_body(
            owner,
            at("2024-02-15T23:59:00"),
            body_basic_attributes={"apparent_age": 35, "apparent_gender": 0},
            upper_body={
                "headwear": {"state": 0, "apparent_color": "undefined"},
                "sleeve": {"length": "short"},
                "upper_clothing": {"colors": ["black"]},
            },
        ),
        event_body(other, at("2024-01-01T09:00:00"), source="cam1", age=60),
    ]


@pytest.fixture
async def stats_client(aiohttp_client, backend_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An app on each backend with the dataset stored; (client, owner, other)."""
    client = await aiohttp_client(create_app(make_config(tmp_path, backend_url)))
    accounts = Accounts(client)
    owner, other = await accounts.create(), await accounts.create()
    await store(client, dataset(owner["account_id"], other["account_id"]))
    return client, owner, other


async def stat(client: TestClient, auth: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post(URL, json=body, headers=auth)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_default_target_counts_events_of_the_account(stats_client) -> None:  # type: ignore[no-untyped-def]
    client, owner, other = stats_client
    assert await stat(client, owner, {}) == {"fields": ["event_id, aggregator 'count'"], "stats": [[4]]}
    assert (await stat(client, other, {}))["stats"] == [[1]]
    assert (await stat(client, ADMIN, {}))["stats"] == [[5]]
    only_other = {"filters": [{"column": "account_id", "operator": "eq", "value": other["account_id"]}]}
    assert (await stat(client, ADMIN, only_other))["stats"] == [[1]]


async def test_group_by_columns_and_aggregators(stats_client) -> None:  # type: ignore[no-untyped-def]
    client, owner, _ = stats_client
    body = {
        "targets": [
            {"column": "source", "aggregator": "group_by"},
            {"column": "event_id", "aggregator": "count"},
            {"column": "age", "aggregator": "avg"},
            {"column": "age", "aggregator": "min"},
            {"column": "age", "aggregator": "max"},
        ]
    }
    reply = await stat(client, owner, body)
    assert reply["fields"] == [
        "source, aggregator 'group_by'",
        "event_id, aggregator 'count'",
        "age, aggregator 'avg'",
        "age, aggregator 'min'",
        "age, aggregator 'max'",
    ]
    assert reply["stats"] == [["cam1", 2, 25, 20, 30], ["cam2", 1, 40, 40, 40], [None, 1, None, None, None]]
    # Grouping by a value of the body JSON, and by two keys.
    body = {"targets": [{"column": "sleeve_length", "aggregator": "group_by"}, {"column": "event_id"}]}
    assert (await stat(client, owner, body))["stats"] == [["short", 1], [None, 3]]
    body = {
        "targets": [
            {"column": "city", "aggregator": "group_by"},
            {"column": "gender", "aggregator": "group_by"},
            {"column": "emotion", "aggregator": "max"},
        ]
    }
    assert (await stat(client, owner, body))["stats"] == [
        ["London", 1, 3],
        ["Moscow", 0, 1],
        ["Moscow", 1, 2],
        [None, None, None],
    ]


async def test_the_spec_example_request(stats_client) -> None:  # type: ignore[no-untyped-def]
    """The request of the spec's code samples (L37705): aggregator left out means count."""
    client, owner, _ = stats_client
    body = {
        "targets": [
            {"column": "city"},
            {"column": "district"},
            {"column": "track_id"},
            {"column": "event_id"},
            {"column": "gender", "aggregator": "avg"},
            {"column": "emotion", "aggregator": "max"},
        ],
        "filters": [{"column": "emotion", "operator": "in", "value": [1, 2, 3, 4, 5, 6, 7]}],
        "period": [{"operator": "lte", "value": "now-5m"}],
        "group_by": "dayOfWeek",
    }
    reply = await stat(client, owner, body)
    assert reply["fields"] == [
        "Group by time: dayOfWeek",
        "city, aggregator 'count'",
        "district, aggregator 'count'",
        "track_id, aggregator 'count'",
        "event_id, aggregator 'count'",
        "gender, aggregator 'avg'",
        "emotion, aggregator 'max'",
    ]
    assert reply["stats"] == [["Monday", 2, 2, 1, 2, 0.5, 2], ["Tuesday", 1, 1, 0, 1, 1, 3]]


TIME_GROUPS = [
    (
        "1d",
        [
            ["2024-01-01T00:00:00+00:00", 2],
            ["2024-01-02T00:00:00+00:00", 1],
            ["2024-02-15T00:00:00+00:00", 1],
        ],
    ),
    (
        "30m",
        [
            ["2024-01-01T10:00:00+00:00", 1],
            ["2024-01-01T11:30:00+00:00", 1],
            ["2024-01-02T10:00:00+00:00", 1],
            ["2024-02-15T23:30:00+00:00", 1],
        ],
    ),
    ("1w", [["2024-01-01T00:00:00+00:00", 3], ["2024-02-12T00:00:00+00:00", 1]]),
    ("1M", [["2024-01-01T00:00:00+00:00", 3], ["2024-02-01T00:00:00+00:00", 1]]),
    ("2M", [["2024-01-01T00:00:00+00:00", 4]]),
    ("1y", [["2024-01-01T00:00:00+00:00", 4]]),
    ("10y", [["2020-01-01T00:00:00+00:00", 4]]),
    ("monthOfYear", [["January", 3], ["February", 1]]),
    ("weekOfYear", [[1, 3], [7, 1]]),
    ("dayOfYear", [[1, 2], [2, 1], [46, 1]]),
    ("dayOfMonth", [[1, 2], [2, 1], [15, 1]]),
    ("dayOfWeek", [["Monday", 2], ["Tuesday", 1], ["Thursday", 1]]),
    ("hourOfDay", [[10, 2], [11, 1], [23, 1]]),
    ("minuteOfHour", [[5, 1], [15, 1], [45, 1], [59, 1]]),
]


async def test_time_grouping(stats_client) -> None:  # type: ignore[no-untyped-def]
    client, owner, _ = stats_client
    failures = []
    for group_by, expected in TIME_GROUPS:
        reply = await stat(client, owner, {"group_by": group_by})
        assert reply["fields"] == [f"Group by time: {group_by}", "event_id, aggregator 'count'"]
        if reply["stats"] != expected:
            failures.append((group_by, reply["stats"]))
    assert not failures
    body = {
        "group_by": "1d",
        "targets": [{"column": "gender", "aggregator": "group_by"}, {"column": "event_id"}],
    }
    assert (await stat(client, owner, body))["stats"] == [
        ["2024-01-01T00:00:00+00:00", 0, 1],
        ["2024-01-01T00:00:00+00:00", 1, 1],
        ["2024-01-02T00:00:00+00:00", 1, 1],
        ["2024-02-15T00:00:00+00:00", None, 1],
    ]


BBOX = {"origin_longitude": 37.6, "origin_latitude": 55.7, "longitude_delta": 0.1, "latitude_delta": 0.1}
FILTER_CASES: list[tuple[list[dict[str, Any]], int]] = [
    ([{"column": "source", "operator": "in", "value": ["cam1"]}], 2),
    ([{"column": "source", "operator": "nin", "value": ["cam1"]}], 1),
    ([{"column": "source", "operator": "eq", "value": None}], 1),
    ([{"column": "source", "operator": "neq", "value": "cam2"}], 2),
    ([{"column": "age", "operator": "gte", "value": 30}], 2),
    ([{"column": "age", "operator": "gt", "value": 20}, {"column": "age", "operator": "lt", "value": 40}], 1),
    ([{"column": "gender", "operator": "eq", "value": None}], 1),
    ([{"column": "city", "operator": "eq", "value": "Moscow"}], 2),
    ([{"column": "top_similar_object_similarity", "operator": "gte", "value": 0.6}], 1),
    ([{"column": "top_matching_candidates_label", "operator": "eq", "value": "L1"}], 2),
    ([{"column": "tags", "operator": "like", "value": "t2"}], 1),
    ([{"column": "tags", "operator": "like", "value": ["t1", "t2"]}], 1),
    ([{"column": "tags", "operator": "nlike", "value": "t1"}], 2),
    ([{"column": "geo_position", "operator": "covered", "value": [BBOX]}], 1),
    ([{"column": "geo_position", "operator": "covered", "value": BBOX}], 1),
    ([{"column": "geo_position", "operator": "eq", "value": None}], 2),
    ([{"column": "track_id", "operator": "eq", "value": None}], 3),
    ([{"column": "upper_clothing_colors", "operator": "in", "value": ["black", "red"]}], 1),
    ([{"column": "upper_clothing_colors", "operator": "eq", "value": None}], 3),
    ([{"column": "apparent_age", "operator": "gt", "value": 30}], 1),
    ([{"column": "sleeve_length", "operator": "in", "value": ["short"]}], 1),
    ([{"column": "headwear_state", "operator": "eq", "value": 0}], 1),
    ([{"column": "meta.temp", "operator": "gt", "value": 36.8}], 2),
    ([{"column": "meta.n:integer", "operator": "in", "value": [1, 3]}], 2),
    ([{"column": "meta.name", "operator": "like", "value": "%ta"}], 1),
    ([{"column": "meta.name", "operator": "eq", "value": None}], 2),
    ([{"column": "meta", "operator": "eq", "value": None}], 1),
]


async def test_filters(stats_client) -> None:  # type: ignore[no-untyped-def]
    client, owner, _ = stats_client
    failures = []
    for filters, expected in FILTER_CASES:
        found = (await stat(client, owner, {"filters": filters}))["stats"][0][0]
        if found != expected:
            failures.append((filters, expected, found))
    assert not failures


async def test_period(stats_client) -> None:  # type: ignore[no-untyped-def]
    client, owner, _ = stats_client
    period = [
        {"operator": "gte", "value": "2024-01-01T11:45:00Z"},
        {"operator": "lt", "value": "2024-02-01T00:00:00.000Z"},
    ]
    assert (await stat(client, owner, {"period": period}))["stats"] == [[2]]
    period = [{"operator": "gt", "value": "2024-01-01T11:45:00Z"}]
    assert (await stat(client, owner, {"period": period}))["stats"] == [[2]]
    period = [{"operator": "lte", "value": "2024-01-01T11:45:00Z"}]
    assert (await stat(client, owner, {"period": period}))["stats"] == [[2]]


async def test_value_aggregates(stats_client) -> None:  # type: ignore[no-untyped-def]
    client, owner, _ = stats_client
    targets = [
        {"column": "tags", "aggregator": "count"},
        {"column": "tags", "aggregator": "min"},
        {"column": "tags", "aggregator": "max"},
        {"column": "create_time", "aggregator": "min"},
        {"column": "end_time", "aggregator": "max"},
        {"column": "geo_position", "aggregator": "count"},
        {"column": "upper_clothing_colors", "aggregator": "count"},
        {"column": "top_similar_object_similarity", "aggregator": "avg"},
        {"column": "apparent_age", "aggregator": "max"},
        {"column": "meta.n:integer", "aggregator": "max"},
        {"column": "meta.name", "aggregator": "count"},
    ]
    reply = await stat(client, owner, {"targets": targets})
    assert reply["fields"][-2:] == ["meta.n:integer, aggregator 'max'", "meta.name, aggregator 'count'"]
    assert reply["stats"] == [
        [2, "t1", "t2", "2024-01-01T10:15:00+00:00", "2024-02-15T23:59:02+00:00", 2, 1, 0.7, 35, 3, 2]
    ]
    (avg,) = (await stat(client, owner, {"targets": [{"column": "meta.temp", "aggregator": "avg"}]}))[
        "stats"
    ][0]
    assert avg == pytest.approx((36.6 + 37.0 + 38.5) / 3)


BAD_BODIES = [
    ({"userdata": 1}, "", "Additional properties are not allowed ('userdata' was unexpected)"),
    ({"targets": [{"column": "event_id", "aggregator": "avg"}]}, "targets.0.aggregator", None),
    ({"targets": [{"column": "nope"}]}, "targets.0.column", None),
    ({"targets": [{"column": "source", "aggregator": "group_by"}]}, "targets", None),
    ({"targets": []}, "targets", None),
    ({"targets": [{"column": "meta", "aggregator": "count"}]}, "targets.0.column", None),
    ({"targets": [{"column": "meta.x", "aggregator": "group_by"}]}, "targets.0.aggregator", None),
    ({"filters": [{"column": "tags", "operator": "eq", "value": "t1"}]}, "filters.0.operator", None),
    ({"filters": [{"column": "age", "operator": "in", "value": 5}]}, "filters.0.value", None),
    ({"filters": [{"column": "age", "operator": "eq", "value": "old"}]}, "filters.0.value", None),
    ({"filters": [{"column": "user_data", "operator": "eq", "value": None}]}, "filters.0.value", None),
    ({"filters": [{"column": "create_time", "operator": "gt", "value": "x"}]}, "filters.0.column", None),
    ({"filters": [{"column": "source", "operator": "eq"}]}, "filters.0", None),
    ({"filters": [{"column": "meta.a__gt", "operator": "eq", "value": 1}]}, "filters.0.column", None),
    ({"filters": [{"column": "meta.n:integer", "operator": "eq", "value": "x"}]}, "filters.0.value", None),
    ({"filters": [{"column": "meta.n", "operator": "like", "value": 5}]}, "filters.0.operator", None),
    ({"filters": [{"column": "meta", "operator": "eq", "value": 5}]}, "filters.0", None),
    (
        {"period": [{"operator": "gt", "value": "now-1d"}, {"operator": "gte", "value": "now-2d"}]},
        "period",
        None,
    ),
    ({"period": [{"operator": "gt", "value": "yesterday"}]}, "period.0.value", None),
    ({"period": [{"operator": "gt", "value": "2024-13-45T00:00:00Z"}]}, "period.0.value", None),
    ({"group_by": "fortnight"}, "group_by", None),
    ({"group_by": "0d"}, "group_by", None),
]


@pytest.mark.parametrize(("body", "path", "message"), BAD_BODIES)
async def test_bad_body_answers_12022(client: TestClient, body: dict, path: str, message: str | None) -> None:
    reply = await assert_error(await client.post(URL, json=body, headers=ADMIN), 400, 12022)
    assert reply["detail"].startswith(f"Failed to validate input json. Path: '{path}', message: ")
    if message is not None:
        assert reply["detail"] == f"Failed to validate input json. Path: '{path}', message: '{message}'"


async def test_query_parameters_are_refused(client: TestClient) -> None:
    await assert_error(await client.post(URL, params={"x": "1"}, json={}, headers=ADMIN), 400, 12012)


async def test_token_needs_event_view(client: TestClient, accounts: Accounts) -> None:
    owner = await accounts.create()
    creation_only = bearer(await accounts.token(owner, {"event": ["creation"]}))
    viewer = bearer(await accounts.token(owner, {"event": ["view"]}))
    detail = "Request denied due to token restrictions, required 'view' permission for 'event'"
    await assert_error(await client.post(URL, json={}, headers=creation_only), 403, 11059, detail)
    assert (await stat(client, viewer, {}))["stats"] == [[0]]


async def test_bad_meta_cast_answers_10020_on_postgresql(pg_client: TestClient) -> None:
    owner = await Accounts(pg_client).create()
    account_id = owner["account_id"]
    await store(pg_client, [event_body(account_id, at("2024-01-01T00:00:00"), meta={"temp": "hot"})])
    for body in (
        {"targets": [{"column": "meta.temp", "aggregator": "avg"}]},
        {"filters": [{"column": "meta.temp", "operator": "gt", "value": 3}]},
    ):
        resp = await pg_client.post(URL, json=body, headers=owner)
        await assert_error(
            resp,
            422,
            10020,
            "SQL request execution failed due to incompatible user-defined filters: "
            "cannot cast jsonb string to type numeric",
        )


async def test_bad_meta_cast_is_skipped_on_sqlite(client: TestClient) -> None:
    owner = await Accounts(client).create()
    account_id = owner["account_id"]
    await store(
        client,
        [
            event_body(account_id, at("2024-01-01T00:00:00"), meta={"temp": "hot"}),
            event_body(account_id, at("2024-01-01T00:00:00"), meta={"temp": 30}),
        ],
    )
    reply = await stat(client, owner, {"targets": [{"column": "meta.temp", "aggregator": "avg"}]})
    assert reply["stats"] == [[30]]


async def test_no_events_gives_one_row_without_groups(client: TestClient) -> None:
    reply = await stat(
        client, ADMIN, {"targets": [{"column": "age", "aggregator": "avg"}, {"column": "age"}]}
    )
    assert reply == {"fields": ["age, aggregator 'avg'", "age, aggregator 'count'"], "stats": [[None, 0]]}
    reply = await stat(client, ADMIN, {"group_by": "1d"})
    assert reply["stats"] == []
