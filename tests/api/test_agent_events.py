"""Event delivery from agents: idempotency and the analytics' luna-event and http callbacks."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.keys import FACES
from tests.api.agent_client import (
    AgentClient,
    agent_config,
    jpeg,
    new_stream,
    people_count_event,
    stream_body,
)
from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, Accounts

NOISE = jpeg(np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8))


async def make_handler(client: TestClient, headers: dict, policies: dict | None = None) -> str:
    resp = await client.post("/6/handlers", json={"policies": policies or {}}, headers=headers)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["handler_id"]


def analytic(name: str, callbacks: list[dict], targets: list[str] | None = None) -> dict:
    parameters: dict = {"callbacks": callbacks}
    if targets is not None:
        parameters["targets"] = targets
    return {"analytic_name": name, "parameters": parameters}


async def events_of(client: TestClient, headers: dict, stream_id: str) -> list[dict]:
    resp = await client.get("/6/events", params={"stream_ids": stream_id}, headers=headers)
    assert resp.status == 200, await resp.text()
    return (await resp.json())["events"]


async def test_people_count_event_through_a_handler_once(
    aiohttp_client, tmp_path: Path, backend_url: str
) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(agent_config(tmp_path, backend_url)))
    user = await Accounts(client).create()
    handler_id = await make_handler(client, user)
    callbacks = [{"type": "luna-event", "handler_id": handler_id}]
    location = {"city": "Lisbon"}
    body = stream_body(tmp_path, [analytic("people_count", callbacks, ["overview"])], location=location)
    stream_id = await new_stream(client, user, body)
    agent = AgentClient(client)
    await agent.register()
    started, finished = people_count_event("started"), people_count_event(people=4, overview=NOISE)
    async with client.ws_connect("/6/ws", headers=user) as ws:
        reply = await agent.deliver(stream_id, [started, finished])
        assert reply == {"accepted": [started["event_id"], finished["event_id"]], "duplicates": []}
        pushed = await asyncio.wait_for(ws.receive_json(), timeout=5)
    (event,) = await events_of(client, user, stream_id)  # the started event runs no luna-event
    assert pushed["event"]["event_id"] == event["event_id"] and pushed["handler_id"] == handler_id
    result = finished["result"]
    assert event["handler_id"] == handler_id and event["track_id"] == result["track_id"]
    assert event["location"]["city"] == "Lisbon" and event["face_detections"] == []
    assert event["meta"] == {
        "analytic": "people_count",
        "analytic_event_id": result["event_id"],
        "people_count": 4,
        "video_segment": {"start_time_offset": 1.0, "end_time_offset": 3.5},
    }
    start, end = (datetime.fromisoformat(event[k]) for k in ("create_time", "end_time"))
    assert (end - start).total_seconds() == pytest.approx(2.5)
    assert end == datetime.fromisoformat(finished["time"])
    # The agent retries (its answer was lost): nothing happens twice.
    again = await agent.deliver(stream_id, [finished, started])
    assert again == {"accepted": [], "duplicates": [finished["event_id"], started["event_id"]]}
    assert len(await events_of(client, user, stream_id)) == 1


async def test_http_callback_receives_the_event(aiohttp_client, aiohttp_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    received: asyncio.Queue = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await received.put(
            (request.headers.get("Authorization"), request.query.get("k"), await request.json())
        )
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    server = await aiohttp_server(receiver, host="127.0.0.1")
    config = agent_config(tmp_path, "", fetch={"allowed_networks": ["127.0.0.1/32"]})
    client = await aiohttp_client(create_app(config))
    user = await Accounts(client).create()
    callback = {
        "type": "http",
        "url": f"http://127.0.0.1:{server.port}/hook?k=v",
        "authorization": {"type": "basic", "login": "hook", "password": "secret"},
        "params": {"timeout": 5, "headers": {"X-Camera": "gate"}},
    }
    stream_id = await new_stream(client, user, stream_body(tmp_path, [analytic("people_count", [callback])]))
    agent = AgentClient(client)
    await agent.register()
    finished = people_count_event(overview=NOISE)
    await agent.deliver(stream_id, [people_count_event("started"), finished])
    auth, query, body = await asyncio.wait_for(received.get(), timeout=5)
    assert auth == "Basic " + base64.b64encode(b"hook:secret").decode() and query == "v"
    assert body["stream_id"] == stream_id and body["analytic_name"] == "people_count"
    assert body["event"]["event_id"] == finished["result"]["event_id"]
    assert base64.b64decode(body["event"]["overview"]["image"]) == NOISE
    await asyncio.sleep(0.2)
    assert received.empty()  # the started event calls no http callback


async def test_bad_deliveries(aiohttp_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(agent_config(tmp_path, "")))
    user = await Accounts(client).create()
    stream_id = await new_stream(client, user, stream_body(tmp_path))
    agent = AgentClient(client)
    await agent.register()
    stranger = AgentClient(client, "wrong")
    stranger.agent_id = agent.agent_id
    await assert_error(await stranger.deliver_raw(stream_id, []), 401, 11065)
    bad = people_count_event()
    bad["event_status"] = "in_process"
    await assert_error(await agent.deliver_raw(stream_id, [bad]), 400, 12022)
    assert (await client.delete(f"/6/streams/{stream_id}", headers=user)).status == 204
    resp = await agent.deliver_raw(stream_id, [people_count_event()])
    await assert_error(resp, 404, 44001, f"Stream with id '{stream_id}' not found")


async def test_human_tracking_face_samples_make_one_event(aiohttp_client, tmp_path: Path, photos) -> None:  # type: ignore[no-untyped-def]
    config = agent_config(tmp_path, "", faces={"enabled": True})
    client = await aiohttp_client(create_app(config))
    (face,) = (await client.app[FACES].find(photos["grace_hopper"], None, False))[:1]
    handler_id = await make_handler(client, ADMIN, {"storage_policy": {"face_policy": {"store_face": 1}}})
    body = stream_body(
        tmp_path, [analytic("human_tracking", [{"type": "luna-event", "handler_id": handler_id}])]
    )
    stream_id = await new_stream(client, ADMIN, body)
    agent = AgentClient(client)
    await agent.register()
    box = {"x": 10, "y": 20, "width": 100, "height": 120}
    result = {
        "event_id": str(uuid.uuid4()),
        "track_id": str(uuid.uuid4()),
        "video_segment": {"start_time_offset": 0.0, "end_time_offset": 2.0},
        "frames_estimations": [
            {
                "time_offset": 0.5,
                "estimated": {"face": {"detection": {"bbox": box, "score": 0.9}}, "body": None},
            }
        ],
        "aggregated_estimations": {
            "face": {"samples": [{"time_offset": 0.5, "image": jpeg(face.warp)}]},
            "body": None,
        },
    }
    event = {
        "event_id": str(uuid.uuid4()),
        "analytic_name": "human_tracking",
        "event_status": "finished",
        "time": datetime.now(UTC).isoformat(),
        "result": result,
    }
    assert (await agent.deliver(stream_id, [event]))["accepted"] == [event["event_id"]]
    (stored,) = await events_of(client, ADMIN, stream_id)
    assert stored["track_id"] == result["track_id"] and stored["face_id"] is not None
    (detection,) = stored["face_detections"]
    assert detection["detection"]["rect"] == box and detection["sample_id"]
    resp = await client.get(f"/6/faces/{stored['face_id']}/attributes", headers=ADMIN)
    assert resp.status == 200, await resp.text()
