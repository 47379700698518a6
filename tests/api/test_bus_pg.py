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
