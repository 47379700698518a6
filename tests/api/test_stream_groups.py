"""/6/groups and /6/linker: group CRUD, streams joining groups, errors and isolation."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tests.api.test_middlewares import assert_error
from tests.api.test_streams import body, get_json, make_media, new_stream, streams_client
from tests.conftest import Accounts


@pytest.fixture
def media(tmp_path: Path) -> Path:
    return make_media(tmp_path)


@pytest.fixture
async def sclient(aiohttp_client, tmp_path: Path, media: Path, backend_url: str) -> TestClient:  # type: ignore[no-untyped-def]
    return await streams_client(aiohttp_client, tmp_path, media, backend_url)


@pytest.fixture
def users(sclient: TestClient) -> Accounts:
    return Accounts(sclient)


async def new_group(client, headers, name: str, **fields: str) -> str:  # type: ignore[no-untyped-def]
    resp = await client.post("/6/groups", json={"group_name": name, **fields}, headers=headers)
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["url"] == f"/6/groups/{made['group_id']}" == resp.headers["Location"]
    return made["group_id"]


async def link(client, headers, action: str, group_id: str, stream_ids: list[str]):  # type: ignore[no-untyped-def]
    payload = {"action": action, "group_id": group_id, "stream_ids": stream_ids}
    return await client.patch("/6/linker", json=payload, headers=headers)


async def test_group_crud(sclient: TestClient, users: Accounts) -> None:
    user = await users.create()
    group_id = await new_group(sclient, user, "hall-1", description="first floor")
    got = await get_json(sclient, f"/6/groups/{group_id}", user)
    assert got == {
        "group_id": group_id,
        "group_name": "hall-1",
        "account_id": user["account_id"],
        "description": "first floor",
        "create_time": got["create_time"],
    }
    resp = await sclient.post("/6/groups", json={"group_name": "hall-1"}, headers=user)
    await assert_error(resp, 409, 44003, "Group named 'hall-1' already exists")
    for payload in ({"group_name": "no spaces"}, {"group_name": ""}, {}, {"group_name": "g", "x": 1}):
        await assert_error(await sclient.post("/6/groups", json=payload, headers=user), 400, 12022)
    await assert_error(
        await sclient.post("/6/groups", json={"group_name": "d", "description": "x" * 257}, headers=user),
        400,
        12022,
    )
    second = await new_group(sclient, user, "hall_2")

    async def names(**params: str) -> list[str]:
        return [g["group_name"] for g in (await get_json(sclient, "/6/groups", user, **params))["groups"]]

    assert await names() == ["hall-1", "hall_2"]  # oldest first
    assert await names(group_names="hall_2") == ["hall_2"] and await names(group_ids=group_id) == ["hall-1"]
    assert await names(page="2", page_size="1") == ["hall_2"]
    assert (await get_json(sclient, "/6/groups/count", user))["groups_count"] == 2
    assert (await get_json(sclient, "/6/groups/count", user, group_names="x,hall-1"))["groups_count"] == 1
    await assert_error(await sclient.get("/6/groups", params={"group_ids": "x"}, headers=user), 400, 12012)
    url = f"/6/groups/{second}"
    assert (await sclient.patch(url, json={"description": "renamed"}, headers=user)).status == 204
    assert (await get_json(sclient, url, user))["description"] == "renamed"
    await assert_error(await sclient.patch(url, json={}, headers=user), 400, 12022)
    assert (await sclient.delete(url, headers=user)).status == 204
    await assert_error(await sclient.get(url, headers=user), 404, 39008, f"Group with id {second} not found")
    await assert_error(
        await sclient.patch(url, json={"description": ""}, headers=user),
        404,
        44004,
        f"Group with id {second} not found",
    )
    await assert_error(
        await sclient.delete(url, headers=user), 404, 44004, f"Group with id {second} not found"
    )


async def test_streams_join_groups(sclient: TestClient, users: Accounts, media: Path) -> None:
    user = await users.create()
    first, second = await new_group(sclient, user, "a"), await new_group(sclient, user, "b")
    by_name = await new_stream(sclient, user, body(media, group_name="a"))
    by_id = await new_stream(sclient, user, body(media, group_id=second))
    loose = await new_stream(sclient, user, body(media))
    assert (await get_json(sclient, f"/6/streams/{by_name}", user))["groups"] == ["a"]
    assert (await get_json(sclient, f"/6/streams/{by_id}", user))["groups"] == ["b"]
    resp = await sclient.post("/6/streams", json=body(media, group_name="zz"), headers=user)
    await assert_error(resp, 400, 44005, "Group named 'zz' not found")
    ghost = str(uuid.uuid4())
    resp = await sclient.post("/6/streams", json=body(media, group_id=ghost), headers=user)
    await assert_error(resp, 400, 44004, f"Group with id {ghost} not found")

    resp = await link(sclient, user, "attach", first, [by_id, loose, loose])
    assert resp.status == 204, await resp.text()
    assert (await link(sclient, user, "attach", first, [by_id])).status == 204  # idempotent
    assert (await get_json(sclient, f"/6/streams/{by_id}", user))["groups"] == ["b", "a"]
    listed = await get_json(sclient, "/6/streams", user, group_name="a")
    assert [s["stream_id"] for s in listed["streams"]] == [by_name, by_id, loose]
    assert (await link(sclient, user, "detach", first, [by_name, by_name])).status == 204
    listed = await get_json(sclient, "/6/streams", user, group_name="a")
    assert [s["stream_id"] for s in listed["streams"]] == [by_id, loose]
    # A PUT naming a group joins it and keeps the others.
    assert (
        await sclient.put(f"/6/streams/{loose}", json=body(media, group_name="b"), headers=user)
    ).status == 200
    assert (await get_json(sclient, f"/6/streams/{loose}", user))["groups"] == ["a", "b"]

    missing = str(uuid.uuid4())
    await assert_error(
        await link(sclient, user, "attach", first, [loose, missing]),
        400,
        44001,
        f"Stream with id {missing} not found",
    )
    await assert_error(
        await link(sclient, user, "attach", missing, [loose]),
        400,
        44004,
        f"Group with id {missing} not found",
    )
    for payload in (
        {"action": "move", "group_id": first, "stream_ids": []},
        {"action": "attach", "group_id": first},
    ):
        await assert_error(await sclient.patch("/6/linker", json=payload, headers=user), 400, 12022)
    too_many = {"action": "attach", "group_id": first, "stream_ids": [missing] * 1001}
    await assert_error(await sclient.patch("/6/linker", json=too_many, headers=user), 400, 12022)

    assert (await sclient.delete(f"/6/groups/{first}", headers=user)).status == 204
    assert (await get_json(sclient, f"/6/streams/{by_id}", user))["groups"] == ["b"]  # the stream stays
    assert (await sclient.delete(f"/6/streams/{by_id}", headers=user)).status == 204
    assert (await get_json(sclient, f"/6/groups/{second}", user))["group_name"] == "b"  # the group stays


async def test_groups_are_isolated(sclient: TestClient, users: Accounts, media: Path) -> None:
    user, other = await users.create(), await users.create()
    group_id = await new_group(sclient, user, "shared-name")
    await new_group(sclient, other, "shared-name")  # names are unique per account only
    url = f"/6/groups/{group_id}"
    await assert_error(await sclient.get(url, headers=other), 404, 39008)
    await assert_error(await sclient.patch(url, json={"description": "x"}, headers=other), 404, 44004)
    await assert_error(await sclient.delete(url, headers=other), 404, 44004)
    assert [g["account_id"] for g in (await get_json(sclient, "/6/groups", other))["groups"]] == [
        other["account_id"]
    ]
    theirs = await new_stream(sclient, other, body(media))
    mine = await new_stream(sclient, user, body(media))
    await assert_error(await link(sclient, user, "attach", group_id, [theirs]), 400, 44001)
    await assert_error(await link(sclient, other, "attach", group_id, [theirs]), 400, 44004)
    # group_name filters match the stream's own account's group of that name.
    assert (await link(sclient, user, "attach", group_id, [mine])).status == 204
    assert (await get_json(sclient, "/6/streams", other, group_name="shared-name"))["streams"] == []
    await assert_error(await sclient.post("/6/groups", json={"group_name": "x"}), 401, 11065)
