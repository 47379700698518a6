"""POST /6/handlers/{id}/events on photos: policies decide samples, faces, lists, events, tags."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest

from api.app import create_app
from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, make_config


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


@pytest.fixture
async def face_client(aiohttp_client, tmp_path: Path):  # type: ignore[no-untyped-def]
    return await aiohttp_client(create_app(make_config(tmp_path, faces={"enabled": True})))


async def handler(client, policies: dict | None = None, handler_type: int = 0) -> str:  # type: ignore[no-untyped-def]
    body: dict = {"handler_type": handler_type}
    if policies is not None:
        body["policies"] = policies
    resp = await client.post("/6/handlers", json=body, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["handler_id"]


async def test_enrolment_handler_then_matching_handler(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    client = face_client
    list_id = (await (await client.post("/6/lists", json={}, headers=ADMIN)).json())["list_id"]
    enrol = await handler(
        client,
        {
            "storage_policy": {
                "face_policy": {"store_face": 1, "link_to_lists_policy": [{"list_id": list_id}]}
            }
        },
    )
    made = {}
    for name, image in photos.items():
        resp = await client.post(
            f"/6/handlers/{enrol}/events",
            data=jpeg(image),
            params={"external_id": name, "user_data": name},
            headers={**ADMIN, "Content-Type": "image/jpeg"},
        )
        assert resp.status == 201, await resp.text()
        reply = await resp.json()
        assert reply["images"][0]["status"] == 1
        best = max(
            reply["events"], key=lambda e: e["detections"][0]["samples"]["face"]["detection"]["rect"]["width"]
        )
        assert best["face"]["lists"] == [list_id] and best["face"]["external_id"] == name
        made[name] = best["face"]["face_id"]
    watch = await handler(
        client,
        {
            "detect_policy": {"multiface_policy": 2},
            "match_policy": [
                {"label": "vip", "candidates": {"origin": "faces", "list_id": list_id}, "threshold": 0.5}
            ],
            "conditional_tags_policy": [
                {"tag": "vip-seen", "filters": {"match": [{"label": "vip", "similarity__gte": 0.5}]}}
            ],
            "storage_policy": {"event_policy": {"store_event": 1}},
        },
    )
    resp = await client.post(
        f"/6/handlers/{watch}/events",
        data=jpeg(cv2.flip(photos["grace_hopper"], 1)),
        params={"source": "lobby", "tags": "day"},
        headers={**ADMIN, "Content-Type": "image/jpeg"},
    )
    (event,) = (await resp.json())["events"]
    assert event["matches"][0]["label"] == "vip"
    assert event["matches"][0]["candidates"][0]["face"]["face_id"] == made["grace_hopper"]
    assert set(event["tags"]) == {"day", "vip-seen"} and event["source"] == "lobby"
    stored = await (await client.get(event["url"], headers=ADMIN)).json()
    assert stored["top_match"]["face_id"] == made["grace_hopper"] and stored["top_match"]["similarity"] >= 0.5
    assert stored["face_detections"][0]["sample_id"] == event["detections"][0]["samples"]["face"]["sample_id"]


async def test_policies_turn_storage_off(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    client = face_client
    quiet = await handler(
        client,
        {"storage_policy": {"face_sample_policy": {"store_sample": 0}, "event_policy": {"store_event": 0}}},
    )
    resp = await client.post(
        f"/6/handlers/{quiet}/events",
        data=jpeg(photos["messi"]),
        headers={**ADMIN, "Content-Type": "image/jpeg"},
    )
    (event,) = (await resp.json())["events"]
    assert event["url"] is None and event["detections"][0]["samples"]["face"]["sample_id"] is None
    assert (await (await client.get("/6/events", headers=ADMIN)).json())["events"] == []


async def test_dynamic_handler_takes_policies_per_request(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    client = face_client
    dynamic = await handler(client, handler_type=1)
    form = aiohttp.FormData()
    form.add_field("image", jpeg(photos["messi"]), filename="messi.jpg", content_type="image/jpeg")
    form.add_field(
        "policies",
        json.dumps({"storage_policy": {"event_policy": {"store_event": 0}}}),
        content_type="application/json",
    )
    (event,) = (await (await client.post(f"/6/handlers/{dynamic}/events", data=form, headers=ADMIN)).json())[
        "events"
    ]
    assert event["url"] is None
    static = await handler(client, {})
    form = aiohttp.FormData()
    form.add_field("image", jpeg(photos["messi"]), filename="messi.jpg", content_type="image/jpeg")
    form.add_field("policies", json.dumps({}), content_type="application/json")
    await assert_error(
        await client.post(f"/6/handlers/{static}/events", data=form, headers=ADMIN), 400, 12022
    )


async def test_aggregation_makes_one_event(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    client = face_client
    handler_id = await handler(client, {"detect_policy": {"multiface_policy": 2}})
    form = aiohttp.FormData()
    for index, image in enumerate((photos["messi"], cv2.flip(photos["messi"], 1))):
        form.add_field("image", jpeg(image), filename=f"{index}.jpg", content_type="image/jpeg")
    resp = await client.post(
        f"/6/handlers/{handler_id}/events", data=form, params={"aggregate_attributes": "1"}, headers=ADMIN
    )
    (event,) = (await resp.json())["events"]
    assert len(event["detections"]) == 2 and len(event["face_attributes"]["samples"]) == 2


async def test_bad_event_requests(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    client = face_client
    handler_id = await handler(client, {})
    url = f"/6/handlers/{handler_id}/events"
    await assert_error(
        await client.post(url, data=b"junk", headers={**ADMIN, "Content-Type": "image/jpeg"}), 400, 18002
    )
    await assert_error(
        await client.post(url, data=b"x", headers={**ADMIN, "Content-Type": "text/plain"}), 400, 12017
    )
    await assert_error(
        await client.post(
            url,
            params={"tags": ",,"},
            data=jpeg(photos["messi"]),
            headers={**ADMIN, "Content-Type": "image/jpeg"},
        ),
        400,
        12012,
    )
    await assert_error(
        await client.post(
            url,
            params={"image_type": "2"},
            data=jpeg(photos["messi"]),
            headers={**ADMIN, "Content-Type": "image/jpeg"},
        ),
        400,
        12012,
    )
    assert (await (await client.get("/6/events", headers=ADMIN)).json())["events"] == []


async def test_http_callback_and_ws_notification(
    aiohttp_client, aiohttp_server, tmp_path: Path, photos
) -> None:  # type: ignore[no-untyped-def]
    from aiohttp import web

    received: asyncio.Queue = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await received.put((request.headers.get("Authorization"), await request.json()))
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    server = await aiohttp_server(receiver, host="127.0.0.1")
    config = make_config(tmp_path, faces={"enabled": True}, fetch={"allowed_networks": ["127.0.0.0/8"]})
    client = await aiohttp_client(create_app(config))
    handler_id = await handler(
        client,
        {
            "storage_policy": {
                "event_policy": {"store_event": 0},
                "callbacks": [
                    {
                        "type": "http",
                        "url": f"http://127.0.0.1:{server.port}/hook",
                        "authorization": {"type": "basic", "login": "hook", "password": "secret"},
                    },
                    {"type": "luna-ws-notification"},
                ],
            }
        },
    )
    async with client.ws_connect("/6/ws", headers=ADMIN) as ws:
        resp = await client.post(
            f"/6/handlers/{handler_id}/events",
            data=jpeg(photos["messi"]),
            headers={**ADMIN, "Content-Type": "image/jpeg"},
        )
        (event,) = (await resp.json())["events"]
        assert event["url"] is None  # not stored ...
        message = await asyncio.wait_for(ws.receive_json(), timeout=2)  # ... but notified
        assert message["event"]["event_id"] == event["event_id"]
    auth, body = await asyncio.wait_for(received.get(), timeout=5)
    assert auth == "Basic aG9vazpzZWNyZXQ=" and body["event_id"] == event["event_id"]


async def test_callbacks_cannot_reach_loopback_by_default(face_client, photos, aiohttp_server) -> None:  # type: ignore[no-untyped-def]
    from aiohttp import web

    calls = []

    async def hook(request: web.Request) -> web.Response:
        calls.append(request)
        return web.Response()

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    server = await aiohttp_server(receiver, host="127.0.0.1")
    handler_id = await handler(
        face_client,
        {"storage_policy": {"callbacks": [{"type": "http", "url": f"http://127.0.0.1:{server.port}/hook"}]}},
    )
    resp = await face_client.post(
        f"/6/handlers/{handler_id}/events",
        data=jpeg(photos["messi"]),
        headers={**ADMIN, "Content-Type": "image/jpeg"},
    )
    assert resp.status == 201
    await asyncio.sleep(0.5)
    assert calls == []


async def test_match_policy_against_events(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    """A second sighting of a person matches the event their first sighting saved."""
    client = face_client
    first_seen = await handler(client, {"detect_policy": {"multiface_policy": 2}})
    resp = await client.post(
        f"/6/handlers/{first_seen}/events",
        data=jpeg(photos["messi"]),
        params={"tags": "first"},
        headers={**ADMIN, "Content-Type": "image/jpeg"},
    )
    (earlier,) = (await resp.json())["events"]
    again = await handler(
        client,
        {
            "detect_policy": {"multiface_policy": 2},
            "match_policy": [
                {"label": "seen", "candidates": {"origin": "events", "tags": ["first"]}, "threshold": 0.5}
            ],
        },
    )
    resp = await client.post(
        f"/6/handlers/{again}/events",
        data=jpeg(cv2.flip(photos["messi"], 1)),
        headers={**ADMIN, "Content-Type": "image/jpeg"},
    )
    assert resp.status == 201, await resp.text()
    (event,) = (await resp.json())["events"]
    assert event["matches"][0]["candidates"], event["matches"]
    assert event["matches"][0]["candidates"][0]["event"]["event_id"] == earlier["event_id"]
    stored = await (await client.get(event["url"], headers=ADMIN)).json()
    assert stored["top_match"]["event_id"] == earlier["event_id"] and stored["top_match"]["label"] == "seen"
