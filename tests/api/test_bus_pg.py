"""Two server processes (two apps) sharing one PostgreSQL see each other's live events."""

from __future__ import annotations

import asyncio
from pathlib import Path

from api.app import create_app
from api.bus_pg import INLINE_LIMIT
from tests.conftest import ADMIN, PG_DSN, make_config, postgres_or_skip


async def test_events_cross_processes(aiohttp_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    await postgres_or_skip()
    # the same database and JWT secret, as instances behind one load balancer
    shared = {"jwt_secret": "one-secret-for-every-instance-of-this-deployment"}
    one = await aiohttp_client(create_app(make_config(tmp_path / "one", PG_DSN, auth=shared)))
    two = await aiohttp_client(create_app(make_config(tmp_path / "two", PG_DSN, auth=shared)))
    handler_id = (await (await two.post("/6/handlers", json={"handler_type": 1}, headers=ADMIN)).json())[
        "handler_id"
    ]
    async with one.ws_connect("/6/ws", headers=ADMIN) as ws:
        await asyncio.sleep(0.2)  # LISTEN is registered at start-up; give the socket a moment
        small = await two.post(f"/6/handlers/{handler_id}/events/raw", json={"source": "gate"}, headers=ADMIN)
        small_id = (await small.json())["event_id"]
        message = await asyncio.wait_for(ws.receive_json(), timeout=3)
        assert message["event"]["event_id"] == small_id  # inline NOTIFY payload
        big_meta = {"blob": "x" * (INLINE_LIMIT + 1000)}
        large = await two.post(f"/6/handlers/{handler_id}/events/raw", json={"meta": big_meta}, headers=ADMIN)
        large_id = (await large.json())["event_id"]
        message = await asyncio.wait_for(ws.receive_json(), timeout=3)
        assert message["event"]["event_id"] == large_id  # parked in bus_messages, fetched by id
        assert message["event"]["meta"] == big_meta


async def test_matching_indexes_follow_other_processes(aiohttp_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import base64

    import numpy as np

    from api.descriptors import DLIB_VERSION

    await postgres_or_skip()
    shared = {"jwt_secret": "one-secret-for-every-instance-of-this-deployment"}
    one = await aiohttp_client(create_app(make_config(tmp_path / "one", PG_DSN, auth=shared)))
    two = await aiohttp_client(create_app(make_config(tmp_path / "two", PG_DSN, auth=shared)))
    vector = np.random.default_rng(5).normal(size=128).astype("<f4")
    vector /= np.linalg.norm(vector)
    raw = base64.b64encode(vector.tobytes()).decode()
    made = await two.post(
        "/6/faces",
        json={"attribute": {"face_descriptors": [{"descriptor": raw, "version": DLIB_VERSION}]}},
        headers=ADMIN,
    )
    face_id = (await made.json())["face_id"]
    query = {
        "references": [
            {"type": "raw_descriptor", "id": "q", "data": {"descriptor": raw, "version": DLIB_VERSION}}
        ],
        "candidates": [{"filters": {"origin": "faces"}, "threshold": 0.9}],
    }
    for _ in range(50):  # an unfiltered search on the other process finds it once NOTIFY arrived
        result = await (await one.post("/6/matcher/faces", json=query, headers=ADMIN)).json()
        if result[0]["matches"][0]["result"]:
            break
        await asyncio.sleep(0.05)
    assert result[0]["matches"][0]["result"][0]["face"]["face_id"] == face_id
    assert (await two.delete(f"/6/faces/{face_id}", headers=ADMIN)).status == 204
    for _ in range(50):
        result = await (await one.post("/6/matcher/faces", json=query, headers=ADMIN)).json()
        if not result[0]["matches"][0]["result"]:
            break
        await asyncio.sleep(0.05)
    assert result[0]["matches"][0]["result"] == []
