"""Issue 4's end-to-end path: enroll people, stream a warp, find the event, receive it live."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import cv2
import msgpack
import numpy as np
import pytest

from api.app import create_app
from tests.conftest import ADMIN, make_config


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


@pytest.fixture
async def face_client(aiohttp_client, tmp_path: Path):  # type: ignore[no-untyped-def]
    return await aiohttp_client(create_app(make_config(tmp_path, faces={"enabled": True})))


async def enroll(client, image: np.ndarray, list_id: str, name: str) -> str:  # type: ignore[no-untyped-def]
    detected = await (
        await client.post(
            "/6/detector",
            data=jpeg(image),
            params={"multiface_policy": "2"},
            headers={**ADMIN, "Content-Type": "image/jpeg"},
        )
    ).json()
    sample_id = detected["images"][0]["detections"]["samples"][0]["face"]["sample_id"]
    (attribute,) = await (await client.post("/6/extractor", json=[sample_id], headers=ADMIN)).json()
    face = await client.post(
        "/6/faces",
        json={
            "attribute": {"attribute_id": attribute["attribute_id"]},
            "external_id": name,
            "lists": [list_id],
        },
        headers=ADMIN,
    )
    assert face.status == 201, await face.text()
    return (await face.json())["face_id"]


async def test_stream_event_matches_is_searchable_and_live(face_client, photos) -> None:  # type: ignore[no-untyped-def]
    client = face_client
    list_id = (await (await client.post("/6/lists", json={"user_data": "watch"}, headers=ADMIN)).json())[
        "list_id"
    ]
    face_ids = {name: await enroll(client, image, list_id, name) for name, image in photos.items()}
    handler = await client.post(
        "/6/handlers",
        json={
            "policies": {
                "match_policy": [
                    {"label": "watch", "candidates": {"origin": "faces", "list_id": list_id}, "limit": 3}
                ],
                "storage_policy": {
                    "face_sample_policy": {"store_sample": 1},
                    "event_policy": {"store_event": 1},
                },
            }
        },
        headers=ADMIN,
    )
    assert handler.status == 201, await handler.text()
    handler_id = (await handler.json())["handler_id"]

    # a warp of messi, as a video agent would send it (a flipped copy, so not the enrolled pixels)
    detected = await (
        await client.post(
            "/6/detector",
            data=jpeg(cv2.flip(photos["messi"], 1)),
            params={"multiface_policy": "2"},
            headers={**ADMIN, "Content-Type": "image/jpeg"},
        )
    ).json()
    sample_url = detected["images"][0]["detections"]["samples"][0]["face"]["url"]
    warp = await (await client.get(sample_url, headers=ADMIN)).read()
    stream_id, track_id = str(uuid.uuid4()), "track-7"
    payload = msgpack.packb(
        {
            "aggregate_attributes": 0,
            "sources": [
                {
                    "source_type": "detections",
                    "detect_time": "2026-11-27T10:00:00.000Z",
                    "source": [
                        {
                            "face": {
                                "warp": warp,
                                "origin_bounding_box": {"x": 10, "y": 20, "width": 80, "height": 90},
                            }
                        }
                    ],
                    "source_data": {
                        "stream_id": stream_id,
                        "track_id": track_id,
                        "tags": ["entrance"],
                        "meta": {"camera": 3},
                    },
                }
            ],
        },
        use_bin_type=True,
    )

    async with client.ws_connect("/6/ws", params={"stream_ids": stream_id}, headers=ADMIN) as ws:
        resp = await client.post(
            f"/6/handlers/{handler_id}/stream_events",
            data=payload,
            headers={**ADMIN, "Content-Type": "application/msgpack"},
        )
        assert resp.status == 201, await resp.text()
        (event,) = (await resp.json())["events"]
        message = await asyncio.wait_for(ws.receive_json(), timeout=1.0)

    assert event["matches"][0]["candidates"][0]["face"]["face_id"] == face_ids["messi"]
    assert message["event"]["event_id"] == event["event_id"] and message["handler_id"] == handler_id
    assert set(message) >= {"event", "handler_id", "event-create-time", "event-end-time", "Luna-Request-id"}

    stored = await (await client.get(f"/6/events/{event['event_id']}", headers=ADMIN)).json()
    assert stored["top_match"]["face_id"] == face_ids["messi"] and stored["top_match"]["label"] == "watch"
    assert stored["track_id"] == track_id and stored["stream_id"] == stream_id
    found = await (
        await client.get(
            "/6/events",
            params={"stream_ids": stream_id, "tags": "entrance", "track_ids": track_id},
            headers=ADMIN,
        )
    ).json()
    assert [e["event_id"] for e in found["events"]] == [event["event_id"]]
    others = await (
        await client.get("/6/events", params={"stream_ids": str(uuid.uuid4())}, headers=ADMIN)
    ).json()
    assert others["events"] == []


async def test_bad_stream_events_store_nothing(face_client) -> None:  # type: ignore[no-untyped-def]
    client = face_client
    handler_id = (await (await client.post("/6/handlers", json={"policies": {}}, headers=ADMIN)).json())[
        "handler_id"
    ]
    url = f"/6/handlers/{handler_id}/stream_events"
    cases = [
        (b"\xc1not msgpack", "application/msgpack", 400),
        (msgpack.packb({"aggregate_attributes": 0, "sources": []}), "application/msgpack", 400),
        (msgpack.packb({"aggregate_attributes": 0}), "application/json", 400),
        (
            msgpack.packb(
                {
                    "aggregate_attributes": 0,
                    "sources": [
                        {"source_type": "detections", "source": [{"face": {"warp": b"not an image"}}]}
                    ],
                },
                use_bin_type=True,
            ),
            "application/msgpack",
            400,
        ),
    ]
    for data, content_type, status in cases:
        resp = await client.post(url, data=data, headers={**ADMIN, "Content-Type": content_type})
        assert resp.status == status, await resp.text()
    missing = await client.post(
        f"/6/handlers/{uuid.uuid4()}/stream_events",
        data=cases[1][0],
        headers={**ADMIN, "Content-Type": "application/msgpack"},
    )
    assert missing.status == 404 and (await missing.json())["error_code"] == 11033
    listing = await (await client.get("/6/events", headers=ADMIN)).json()
    assert listing["events"] == []
