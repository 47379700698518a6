"""GET /6/streams/{stream_id}/ws: stream statuses from heartbeats and analytics results, live."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import numpy as np
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from api.app import create_app
from tests.api.agent_client import (
    AgentClient,
    agent_config,
    jpeg,
    new_stream,
    people_count_event,
    stream_body,
)
from tests.api.test_middlewares import assert_error
from tests.conftest import PG_DSN, Accounts, postgres_or_skip

OVERVIEW = jpeg(np.zeros((8, 8, 3), np.uint8))
# Larger than a NOTIFY payload: crosses processes through the bus_messages table.
BIG_OVERVIEW = jpeg(np.random.default_rng(2).integers(0, 255, (120, 160, 3), dtype=np.uint8))
NOTIFY = [{"analytic_name": "people_count", "parameters": {"callbacks": [{"type": "luna-ws-notification"}]}}]


async def started_stream(client: TestClient, tmp_path: Path) -> tuple[dict, str, AgentClient, dict]:
    """A user, their stream (ws notifications on), and an agent holding it."""
    user = await Accounts(client).create()
    stream_id = await new_stream(client, user, stream_body(tmp_path, NOTIFY))
    agent = AgentClient(client)
    await agent.register()
    (lease,) = (await agent.heartbeat())["assign"]
    return user, stream_id, agent, lease


def running(lease: dict, status: int = 1, error: str | None = None) -> list[dict]:
    return [{"stream_id": lease["stream_id"], "version": lease["version"], "status": status, "error": error}]


async def receive(ws) -> dict:  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(ws.receive_json(), timeout=5)


async def test_statuses_and_results_then_finished(aiohttp_client, tmp_path: Path, backend_url: str) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(agent_config(tmp_path, backend_url)))
    user, stream_id, agent, lease = await started_stream(client, tmp_path)
    async with client.ws_connect(f"/6/streams/{stream_id}/ws", headers=user) as ws:
        await agent.heartbeat(running(lease))
        assert await receive(ws) == {"stream_status": "in_progress", "error": None}
        await agent.heartbeat(running(lease))  # no change, no message
        started, finished = people_count_event("started"), people_count_event(overview=OVERVIEW)
        await agent.deliver(stream_id, [started, finished])
        first, second = await receive(ws), await receive(ws)
        assert first["stream_status"] == "in_progress" and first["error"] is None
        assert first["analytics_results"]["people_count"] == {**started["result"], "event_status": "started"}
        result = second["analytics_results"]["people_count"]
        assert result["event_status"] == "finished" and result["event_id"] == finished["result"]["event_id"]
        assert base64.b64decode(result["overview"]["image"]) == OVERVIEW
        await agent.heartbeat(running(lease, 2))
        assert await receive(ws) == {"stream_status": "finished", "error": None}
        assert (await asyncio.wait_for(ws.receive(), timeout=5)).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)


async def test_failure_sends_error_then_closes(aiohttp_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(agent_config(tmp_path, "")))
    user, stream_id, agent, lease = await started_stream(client, tmp_path)
    async with client.ws_connect(f"/6/streams/{stream_id}/ws", headers=user) as ws:
        await agent.heartbeat(running(lease, 4, "fatal error during stream processing: connection refused"))
        message = await receive(ws)
        assert message == {
            "stream_status": "error",
            "error": "fatal error during stream processing: connection refused",
        }
        assert (await asyncio.wait_for(ws.receive(), timeout=5)).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)


async def test_refusals(aiohttp_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(agent_config(tmp_path, "")))
    user, stream_id, _, _ = await started_stream(client, tmp_path)
    other = await Accounts(client).create()
    url = f"/6/streams/{stream_id}/ws"
    await assert_error(
        await client.get(url, headers=other), 404, 44001, f"Stream with id '{stream_id}' not found"
    )
    await assert_error(await client.get(url), 401, 11065)
    assert (
        await client.patch(f"/6/streams/{stream_id}", params={"action": "stop"}, headers=user)
    ).status == 204
    detail = f"Stream with id '{stream_id}' is not currently being processed"
    body = await assert_error(await client.get(url, headers=user), 422, 44013, detail)
    assert body["desc"] == "Stream status is unsuitable"


async def test_messages_cross_server_processes(aiohttp_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The socket is on one `argus serve`, the agent heartbeats another (PostgreSQL NOTIFY)."""
    await postgres_or_skip()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    watched = await aiohttp_client(create_app(agent_config(tmp_path / "a", PG_DSN)))
    worked = await aiohttp_client(create_app(agent_config(tmp_path / "b", PG_DSN)))
    user, stream_id, agent, lease = await started_stream(worked, tmp_path / "b")
    async with watched.ws_connect(f"/6/streams/{stream_id}/ws", headers=user) as ws:
        await agent.heartbeat(running(lease))
        assert await receive(ws) == {"stream_status": "in_progress", "error": None}
        await agent.deliver(stream_id, [people_count_event(overview=BIG_OVERVIEW)])
        result = (await receive(ws))["analytics_results"]["people_count"]
        assert base64.b64decode(result["overview"]["image"]) == BIG_OVERVIEW
