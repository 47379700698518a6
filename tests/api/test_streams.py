"""/6/streams: create/get/list/count/put/patch/delete, bad input, isolation and stream logs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.app import build_app
from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, Accounts, bearer, make_config


def make_media(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(b"\0")  # the reference gate only checks the file exists
    return folder


async def streams_client(aiohttp_client, tmp_path: Path, media: Path, backend_url: str) -> TestClient:  # type: ignore[no-untyped-def]
    """A server on the given storage backend that reads local videos from ``media`` only."""
    config = make_config(tmp_path, backend_url, video={"media_dirs": [str(media)]})
    return await aiohttp_client(build_app(config))


@pytest.fixture
def media(tmp_path: Path) -> Path:
    return make_media(tmp_path)


@pytest.fixture
async def sclient(aiohttp_client, tmp_path: Path, media: Path, backend_url: str) -> TestClient:  # type: ignore[no-untyped-def]
    return await streams_client(aiohttp_client, tmp_path, media, backend_url)


@pytest.fixture
def users(sclient: TestClient) -> Accounts:
    return Accounts(sclient)


def body(media: Path, **fields: Any) -> dict[str, Any]:
    """A minimal valid stream body: the spec's example shape with a built-in analytic."""
    return {
        "data": {"type": "videofile", "reference": str(media / "clip.mp4")},
        "analytics": [{"analytic_name": "people_count", "parameters": {}}],
        **fields,
    }


async def new_stream(client, headers, payload: dict[str, Any]) -> str:  # type: ignore[no-untyped-def]
    resp = await client.post("/6/streams", json=payload, headers=headers)
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["url"] == f"/6/streams/{made['stream_id']}" == resp.headers["Location"]
    return made["stream_id"]


async def get_json(client, url: str, headers, **params: str) -> Any:  # type: ignore[no-untyped-def]
    resp = await client.get(url, params=params, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_create_get_head_with_defaults(sclient: TestClient, users: Accounts, media: Path) -> None:
    user = await users.create()
    stream_id = await new_stream(sclient, user, body(media, name="gate"))
    got = await get_json(sclient, f"/6/streams/{stream_id}", user)
    assert got == {
        "stream_id": stream_id,
        "account_id": user["account_id"],
        "name": "gate",
        "description": "",
        "data": {
            "type": "videofile",
            "reference": str(media / "clip.mp4"),
            "downloadable": False,
            "timestamp_source": "auto",
            "rotation": 0,
            "pts": {"start_time": 0},
        },
        "location": dict.fromkeys(("city", "area", "district", "street", "house_number", "geo_position")),
        "autorestart": {
            "restart": 0,
            "attempt_count": 10,
            "delay": 60,
            "current_attempt": None,
            "last_attempt_time": None,
            "status": "disabled",
        },
        "version": 1,
        "create_time": got["create_time"],
        "status": 0,
        "last_error": None,
        "groups": [],
        "analytics": [{"analytic_name": "people_count", "parameters": {}}],
    }
    assert datetime.fromisoformat(got["create_time"]).tzinfo is not None
    assert (await sclient.head(f"/6/streams/{stream_id}", headers=user)).status == 200
    missing = str(uuid.uuid4())
    detail = f"Stream with id '{missing}' not found"
    await assert_error(await sclient.get(f"/6/streams/{missing}", headers=user), 404, 44001, detail)
    assert (await sclient.head(f"/6/streams/{missing}", headers=user)).status == 404


async def test_full_body_is_kept(sclient: TestClient, users: Accounts, media: Path) -> None:
    user = await users.create()
    parameters = {
        "targets": ["coordinates"],
        "callbacks": [
            {
                "type": "http",
                "url": "http://127.0.0.1:9/cb",
                "authorization": {"type": "basic", "login": "a", "password": "b"},
            },
            {"type": "luna-ws-notification", "enable": 0},
        ],
        "parameters": {"rate": {"unit": "second", "period": 0.5}, "people_count_threshold": 2},
    }
    payload = {
        "name": "cam",
        "description": "entrance",
        "data": {
            "type": "stream",
            "reference": "rtsp://10.0.0.7/live",
            "downloadable": False,
            "timestamp_source": "server",
            "rotation": 90,
            "pts": {"start_time": 1.5},
        },
        "location": {"city": "Moscow", "geo_position": {"longitude": 37.6, "latitude": 55.7}},
        "autorestart": {"restart": 1, "attempt_count": 3, "delay": 5},
        "analytics": [{"analytic_name": "people_count", "parameters": parameters}],
    }
    stream_id = await new_stream(sclient, user, payload)
    got = await get_json(sclient, f"/6/streams/{stream_id}", user)
    assert got["data"] == payload["data"] and got["analytics"] == payload["analytics"]
    assert got["location"]["city"] == "Moscow" and got["location"]["street"] is None
    assert got["location"]["geo_position"] == {"longitude": 37.6, "latitude": 55.7}
    assert got["autorestart"] == {
        "restart": 1,
        "attempt_count": 3,
        "delay": 5,
        "current_attempt": 0,
        "last_attempt_time": None,
        "status": "enabled",
    }
    for reference in ("https://example.com/video.mp4", "rtmp://10.0.0.7/app", "rtsps://cam.local/x"):
        await new_stream(sclient, user, {**payload, "data": {"type": "stream", "reference": reference}})


async def test_put_patch_delete(sclient: TestClient, users: Accounts, media: Path) -> None:
    user = await users.create()
    url = f"/6/streams/{await new_stream(sclient, user, body(media))}"
    resp = await sclient.put(url, json=body(media, name="renamed"), headers=user)
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"stream_id": url.rsplit("/", 1)[1], "version": 2}
    got = await get_json(sclient, url, user)
    assert (got["name"], got["version"], got["status"]) == ("renamed", 2, 0)
    assert (await sclient.patch(url, params={"action": "stop"}, headers=user)).status == 204
    assert (await get_json(sclient, url, user))["status"] == 5
    resp = await sclient.put(url, json=body(media, description="while stopped"), headers=user)
    assert (await resp.json())["version"] == 3
    got = await get_json(sclient, url, user)
    assert (got["status"], got["description"], got["name"]) == (5, "while stopped", "")  # PUT replaces
    assert (await sclient.patch(url, params={"action": "resume"}, headers=user)).status == 204
    assert (await get_json(sclient, url, user))["status"] == 0
    await assert_error(await sclient.patch(url, headers=user), 400, 12012, "Bad query parameters 'action'")
    bad = await sclient.patch(url, params={"action": "pause"}, headers=user)
    await assert_error(bad, 400, 12012, "Bad query parameters 'action'")
    missing = f"/6/streams/{uuid.uuid4()}"
    await assert_error(await sclient.put(missing, json=body(media), headers=user), 404, 44001)
    await assert_error(await sclient.patch(missing, params={"action": "stop"}, headers=user), 404, 44001)
    assert (await sclient.delete(url, headers=user)).status == 204
    await assert_error(await sclient.get(url, headers=user), 404, 44001)
    await assert_error(await sclient.delete(url, headers=user), 404, 44001)


async def test_list_filters_count_and_pages(sclient: TestClient, users: Accounts, media: Path) -> None:
    user = await users.create()
    ids = [
        await new_stream(sclient, user, body(media, name=name, data={"type": "stream", "reference": ref}))
        for name, ref in (("a", "rtsp://h/1"), ("b", "rtsp://h/2"), ("c", "rtsp://h/2"))
    ]
    assert (
        await sclient.patch(f"/6/streams/{ids[1]}", params={"action": "stop"}, headers=user)
    ).status == 204

    async def listed(**params: str) -> list[str]:
        return [s["stream_id"] for s in (await get_json(sclient, "/6/streams", user, **params))["streams"]]

    async def counted(**params: str) -> int:
        return (await get_json(sclient, "/6/streams/count", user, **params))["streams_count"]

    assert await listed() == ids  # oldest first
    assert await listed(order="desc") == ids[::-1]
    assert await listed(page_size="2", page="2") == ids[2:]
    assert await listed(names="a,c") == [ids[0], ids[2]] and await counted(names="a,c") == 2
    assert await listed(reference="rtsp://h/2") == ids[1:] and await counted(reference="rtsp://h/2") == 2
    assert await listed(statuses="5") == [ids[1]] == await listed(statuses="stop")
    assert await counted(statuses="pending,stop") == 3 and await counted(statuses="1,2") == 0
    assert await listed(stream_ids=f"{ids[2]},{ids[0]}") == [ids[0], ids[2]]
    low = min(ids)
    assert await listed(stream_id__gte=low) == ids and await listed(stream_id__lt=low) == []
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert await listed(create_time__lt=later) == ids and await listed(create_time__gte=later) == []
    assert await counted(create_time__gte="now-1h") == 3
    assert await listed(agent_id=str(uuid.uuid4())) == [] and await listed(group_name="nobody") == []
    for params in ({"stream_ids": "nope"}, {"statuses": "6"}, {"page_size": "1001"}, {"order": "up"}):
        resp = await sclient.get("/6/streams", params=params, headers=user)
        await assert_error(resp, 400, 12012, f"Bad query parameters '{next(iter(params))}'")
    resp = await sclient.get("/6/streams/count", params={"agent_id": str(uuid.uuid4())}, headers=user)
    await assert_error(resp, 400, 12012, "Bad query parameters 'agent_id'")  # not a count filter


async def test_delete_many(sclient: TestClient, users: Accounts, media: Path) -> None:
    user, other = await users.create(), await users.create()
    mine = [await new_stream(sclient, user, body(media)) for _ in range(3)]
    theirs = await new_stream(sclient, other, body(media))
    resp = await sclient.delete(
        "/6/streams", json={"stream_ids": [*mine[:2], theirs, str(uuid.uuid4())]}, headers=user
    )
    assert resp.status == 204, await resp.text()
    assert (await get_json(sclient, "/6/streams/count", user))["streams_count"] == 1
    assert (await get_json(sclient, "/6/streams/count", other))["streams_count"] == 1
    too_many = {"stream_ids": [str(uuid.uuid4()) for _ in range(1001)]}
    await assert_error(await sclient.delete("/6/streams", json=too_many, headers=user), 400, 12022)
    await assert_error(await sclient.delete("/6/streams", json={"ids": []}, headers=user), 400, 12022)


def _path(detail: str) -> str:
    return detail.split("Path: '", 1)[1].split("'", 1)[0]


def _analytic(parameters: dict[str, Any], name: str = "people_count") -> dict[str, Any]:
    return {"analytics": [{"analytic_name": name, "parameters": parameters}]}


async def test_bad_bodies(sclient: TestClient, users: Accounts, media: Path, tmp_path: Path) -> None:
    user = await users.create()
    outside = tmp_path / "elsewhere.mp4"
    outside.write_bytes(b"\0")
    overrides = [
        ({"data": {"type": "udp", "reference": "udp://x"}}, "data.type"),
        ({"extra": 1}, ""),
        ({"analytics": []}, "analytics"),
        ({"analytics": [{"analytic_name": "crowd"}]}, "analytics.0.analytic_name"),
        (
            _analytic({"parameters": {"rate": {"unit": "frame", "period": 0}}}),
            "analytics.0.parameters.parameters.rate.period",
        ),
        (_analytic({"targets": []}, "human_tracking"), "analytics.0.parameters.targets"),
        (_analytic({"roi": {}}), "analytics.0.parameters"),
        (
            _analytic({"callbacks": [{"type": "luna-ws-notification"}] * 11}),
            "analytics.0.parameters.callbacks",
        ),
        (
            _analytic({"callbacks": [{"type": "http", "url": "ftp://x"}]}),
            "analytics.0.parameters.callbacks.0.url",
        ),
        (_analytic({"callbacks": [{"type": "luna-event"}]}), "analytics.0.parameters.callbacks.0"),
        ({"data": {"type": "stream", "reference": "x" * 513}}, "data.reference"),
        ({"autorestart": {"delay": 0}}, "autorestart.delay"),
        ({"group_name": "g", "group_id": str(uuid.uuid4())}, ""),
    ]
    cases = [({**body(media), **fields}, path) for fields, path in overrides]
    for payload, path in cases:
        found = await assert_error(await sclient.post("/6/streams", json=payload, headers=user), 400, 12022)
        assert _path(found["detail"]) == path, (path, found["detail"])
    for reference in (str(outside), str(media / ".." / "elsewhere.mp4"), f"file://{outside}"):
        denied = body(media, data={"type": "videofile", "reference": reference})
        await assert_error(await sclient.post("/6/streams", json=denied, headers=user), 403, 99403)
    absent = body(media, data={"type": "videofile", "reference": str(media / "none.mp4")})
    await assert_error(await sclient.post("/6/streams", json=absent, headers=user), 400, 99400)
    unsupported = body(media, data={"type": "stream", "reference": "gopher://x"})
    await assert_error(await sclient.post("/6/streams", json=unsupported, headers=user), 400, 99400)
    handler_id = str(uuid.uuid4())
    event_cb = {"callbacks": [{"type": "luna-event", "handler_id": handler_id}]}
    with_handler = body(media, analytics=[{"analytic_name": "human_tracking", "parameters": event_cb}])
    resp = await sclient.post("/6/streams", json=with_handler, headers=user)
    await assert_error(resp, 400, 11033, f"Handler with id '{handler_id}' not found")
    made = await sclient.post("/6/handlers", json={}, headers=user)
    event_cb["callbacks"][0]["handler_id"] = (await made.json())["handler_id"]
    await new_stream(sclient, user, with_handler)
    # The same gates hold for PUT.
    url = f"/6/streams/{await new_stream(sclient, user, body(media))}"
    await assert_error(await sclient.put(url, json=cases[0][0], headers=user), 400, 12022)
    await assert_error(
        await sclient.put(
            url, json=body(media, data={"type": "videofile", "reference": str(outside)}), headers=user
        ),
        403,
        99403,
    )
    await assert_error(await sclient.post("/6/streams", data="{}", headers=user), 400, 12017)


async def test_streams_are_isolated(sclient: TestClient, users: Accounts, media: Path) -> None:
    user, other = await users.create(), await users.create()
    advanced = await users.create("advanced_user")
    stream_id = await new_stream(sclient, user, body(media))
    url = f"/6/streams/{stream_id}"
    detail = f"Stream with id '{stream_id}' not found"
    await assert_error(await sclient.get(url, headers=other), 404, 44001, detail)
    await assert_error(
        await sclient.get(url, params={"account_id": user["account_id"]}, headers=other), 404, 44001
    )
    await assert_error(await sclient.put(url, json=body(media), headers=other), 404, 44001, detail)
    await assert_error(await sclient.patch(url, params={"action": "stop"}, headers=other), 404, 44001, detail)
    await assert_error(await sclient.delete(url, headers=other), 404, 44001, detail)
    assert (await get_json(sclient, "/6/streams", other))["streams"] == []
    assert (await get_json(sclient, "/6/streams", other, account_id=user["account_id"]))["streams"] == []
    # advanced_user reads every account's streams but changes only its own.
    assert (await get_json(sclient, url, advanced))["stream_id"] == stream_id
    seen = await get_json(sclient, "/6/streams", advanced, account_id=user["account_id"])
    assert [s["stream_id"] for s in seen["streams"]] == [stream_id]
    await assert_error(await sclient.delete(url, headers=advanced), 404, 44001)
    await assert_error(
        await sclient.delete(url, params={"account_id": other["account_id"]}, headers=user), 404, 44001
    )
    assert (await sclient.get(url, headers=ADMIN)).status == 200
    await assert_error(await sclient.get("/6/streams"), 401, 11065)


async def test_token_permissions(sclient: TestClient, users: Accounts, media: Path) -> None:
    user = await users.create()
    viewer = bearer(await users.token(user, {"video_stream": ["view"]}))
    denied = await sclient.post("/6/streams", json=body(media), headers=viewer)
    detail = "Request denied due to token restrictions, required 'creation' permission for 'video_stream'"
    await assert_error(denied, 403, 11059, detail)
    stream_id = await new_stream(sclient, user, body(media))
    assert (await get_json(sclient, f"/6/streams/{stream_id}", viewer))["stream_id"] == stream_id
    assert len((await get_json(sclient, "/6/streams/logs", viewer))["logs"]) == 1
    await assert_error(await sclient.delete("/6/streams/logs", headers=viewer), 403, 11059)
    resp = await sclient.patch(f"/6/streams/{stream_id}", params={"action": "stop"}, headers=viewer)
    await assert_error(resp, 403, 11059)


async def test_logs(sclient: TestClient, users: Accounts, media: Path) -> None:
    user, other = await users.create(), await users.create()
    first = await new_stream(sclient, user, body(media))
    second = await new_stream(sclient, user, body(media))
    await new_stream(sclient, other, body(media))
    for action in ("stop", "stop", "resume"):  # the repeated stop changes nothing: not logged
        assert (
            await sclient.patch(f"/6/streams/{first}", params={"action": action}, headers=user)
        ).status == 204
    logs = (await get_json(sclient, "/6/streams/logs", user))["logs"]
    assert [(log["stream_id"], log["status"]) for log in logs] == [
        (first, 0),
        (first, 5),
        (second, 0),
        (first, 0),
    ]
    assert set(logs[0]) == {"stream_id", "log_time", "error", "status"} and logs[0]["error"] is None
    only = (await get_json(sclient, "/6/streams/logs", user, targets="error,log_time", page_size="1"))["logs"]
    assert len(only) == 1 and set(only[0]) == {"error", "log_time"}
    assert len((await get_json(sclient, "/6/streams/logs", user, statuses="stop"))["logs"]) == 1
    assert len((await get_json(sclient, "/6/streams/logs", user, stream_ids=second))["logs"]) == 1
    future = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert (await get_json(sclient, "/6/streams/logs", user, log_time__gte=future))["logs"] == []
    assert len((await get_json(sclient, "/6/streams/logs", user, log_time__lt=future))["logs"]) == 4
    for params in ({"targets": "bogus"}, {"log_time__lt": "yesterday"}, {"page": "0"}):
        resp = await sclient.get("/6/streams/logs", params=params, headers=user)
        await assert_error(resp, 400, 12012, f"Bad query parameters '{next(iter(params))}'")
    await assert_error(await sclient.get("/6/streams/logs"), 401, 11065)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    resp = await sclient.delete("/6/streams/logs", params={"log_time__lt": past}, headers=user)
    assert resp.status == 200 and await resp.json() == {"deleted_count": 0}
    resp = await sclient.delete("/6/streams/logs", params={"log_time__lt": future}, headers=user)
    assert await resp.json() == {"deleted_count": 2}  # each stream keeps its last entry
    logs = (await get_json(sclient, "/6/streams/logs", user))["logs"]
    assert [(log["stream_id"], log["status"]) for log in logs] == [(first, 0), (second, 0)]
    assert len((await get_json(sclient, "/6/streams/logs", other))["logs"]) == 1  # not the caller's
    assert (await sclient.delete(f"/6/streams/{first}", headers=user)).status == 204
    assert [log["stream_id"] for log in (await get_json(sclient, "/6/streams/logs", user))["logs"]] == [
        second
    ]
