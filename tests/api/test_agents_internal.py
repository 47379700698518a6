"""The internal agent API on both backends: register, heartbeat leases, reports, expiry, races."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from api import janitor
from api.app import create_app
from api.keys import BLOBS, DB
from api.storage.models import Agent, Stream
from tests.api.agent_client import AgentClient, agent_config, get_stream, new_stream, report, stream_body
from tests.api.test_middlewares import assert_error
from tests.conftest import Accounts


@pytest.fixture
async def client(aiohttp_client, tmp_path: Path, backend_url: str) -> TestClient:  # type: ignore[no-untyped-def]
    return await aiohttp_client(create_app(agent_config(tmp_path, backend_url)))


@pytest.fixture
async def user(client: TestClient) -> dict[str, str]:
    return await Accounts(client).create()


async def test_key_is_required(client: TestClient) -> None:
    body = {"name": "a", "max_stream_count": 1}
    for headers in ({}, {"Argus-Agent-Key": "wrong"}):
        resp = await client.post("/internal/agents", json=body, headers=headers)
        detail = (await assert_error(resp, 401, 11065))["detail"]
        assert "Argus-Agent-Key" in detail
    resp = await client.post(
        "/internal/agents/00000000-0000-4000-8000-000000000000/heartbeat",
        json={"streams": [], "free": 1},
        headers={"Argus-Agent-Key": "wrong"},
    )
    await assert_error(resp, 401, 11065)


async def test_register_then_unknown_agent_is_404(client: TestClient) -> None:
    agent = AgentClient(client)
    reply = await agent.register()
    assert reply["lease_seconds"] == 30.0 and reply["heartbeat_seconds"] == 1.0
    assert (await agent.heartbeat()) == {"assign": [], "release": []}
    agent.agent_id = "00000000-0000-4000-8000-000000000000"
    await assert_error(await agent.beat_raw(), 404, 99404)
    bad = await client.post(
        "/internal/agents", json={"name": "a", "max_stream_count": 0}, headers=agent.headers
    )
    await assert_error(bad, 400, 12022)


async def test_heartbeat_assigns_pending_streams_oldest_first(
    client: TestClient, user: dict, tmp_path: Path
) -> None:
    ids = [await new_stream(client, user, stream_body(tmp_path, name=f"s{i}")) for i in range(3)]
    agent = AgentClient(client)
    await agent.register(max_stream_count=8)
    first = await agent.heartbeat(free=2)
    assert [lease["stream_id"] for lease in first["assign"]] == ids[:2] and first["release"] == []
    lease = first["assign"][0]
    assert lease["account_id"] == user["account_id"] and lease["version"] == 1 and lease["name"] == "s0"
    assert lease["data"]["rotation"] == 0 and lease["data"]["pts"] == {"start_time": 0}
    (analytic,) = lease["analytics"]
    assert analytic["analytic_name"] == "people_count"
    assert analytic["parameters"]["targets"] == [] and analytic["parameters"]["callbacks"] == []
    assert analytic["parameters"]["parameters"]["rate"] == {"unit": "frame", "period": 10}
    assert lease["autorestart"]["restart"] == 0 and lease["autorestart"]["delay"] == 60
    # Held streams are not assigned again; the third comes with the next free slot.
    second = await agent.heartbeat([report(x, 1) for x in first["assign"]], free=1)
    assert [x["stream_id"] for x in second["assign"]] == [ids[2]]
    resp = await client.get("/6/streams", params={"agent_id": agent.agent_id}, headers=user)
    assert {s["stream_id"] for s in (await resp.json())["streams"]} == set(ids)


async def test_lost_answer_is_sent_again(client: TestClient, user: dict, tmp_path: Path) -> None:
    stream_id = await new_stream(client, user, stream_body(tmp_path))
    agent = AgentClient(client)
    await agent.register()
    (lease,) = (await agent.heartbeat(free=1))["assign"]
    # The agent never saw that answer: it reports nothing and has a free slot.
    again = await agent.heartbeat(free=1)
    assert [x["stream_id"] for x in again["assign"]] == [stream_id] and again["assign"][0] == lease


async def test_status_reports_and_logs(client: TestClient, user: dict, tmp_path: Path) -> None:
    stream_id = await new_stream(client, user, stream_body(tmp_path))
    agent = AgentClient(client)
    await agent.register()
    (lease,) = (await agent.heartbeat())["assign"]
    assert (await get_stream(client, user, stream_id))["status"] == 0  # leased, not yet started
    await agent.heartbeat([report(lease, 1)])
    assert (await get_stream(client, user, stream_id))["status"] == 1
    lost_at = datetime.now(UTC).isoformat()
    log = {"time": lost_at, "status": 3, "error": "connection refused"}
    await agent.heartbeat([report(lease, 3, "camera lost", [log])])
    got = await get_stream(client, user, stream_id)
    assert (got["status"], got["last_error"]) == (3, "camera lost")
    back = {"time": datetime.now(UTC).isoformat(), "status": 1, "error": None}
    await agent.heartbeat([report(lease, 1, logs=[back])])  # logged by the agent: once
    beat = await agent.heartbeat([report(lease, 2)])
    assert beat == {"assign": [], "release": []}  # done: the agent stopped it itself
    got = await get_stream(client, user, stream_id)
    assert (got["status"], got["last_error"]) == (2, None)
    resp = await client.get(
        "/6/streams/logs", params={"stream_ids": stream_id, "page_size": 20}, headers=user
    )
    logs = [(x["status"], x["error"]) for x in reversed((await resp.json())["logs"])]
    assert logs == [(0, None), (1, None), (3, "connection refused"), (3, "camera lost"), (1, None), (2, None)]
    # Not held any more: a report of it is answered with a release.
    assert (await agent.heartbeat([report(lease, 1)]))["release"] == [stream_id]


async def test_release_on_stop_delete_and_replace(client: TestClient, user: dict, tmp_path: Path) -> None:
    ids = [await new_stream(client, user, stream_body(tmp_path)) for _ in range(3)]
    agent = AgentClient(client)
    await agent.register()
    leases = {x["stream_id"]: x for x in (await agent.heartbeat(free=3))["assign"]}
    running = [report(leases[i], 1) for i in ids]
    await agent.heartbeat(running)
    stopped, deleted, replaced = ids
    assert (
        await client.patch(f"/6/streams/{stopped}", params={"action": "stop"}, headers=user)
    ).status == 204
    assert (await client.delete(f"/6/streams/{deleted}", headers=user)).status == 204
    resp = await client.put(f"/6/streams/{replaced}", json=stream_body(tmp_path, name="v2"), headers=user)
    assert (await resp.json())["version"] == 2
    beat = await agent.heartbeat(running, free=3)
    assert sorted(beat["release"]) == sorted(ids) and beat["assign"] == []
    assert (await get_stream(client, user, stopped))["status"] == 5
    # The new version is pending and leasable again (by the next heartbeat).
    again = await agent.heartbeat([], free=3)
    assert [(x["stream_id"], x["version"], x["name"]) for x in again["assign"]] == [(replaced, 2, "v2")]


async def test_autorestart_on_failure(client: TestClient, user: dict, tmp_path: Path) -> None:
    restart = {"restart": 1, "attempt_count": 1, "delay": 1}
    stream_id = await new_stream(client, user, stream_body(tmp_path, autorestart=restart))
    plain = await new_stream(client, user, stream_body(tmp_path))
    agent = AgentClient(client)
    await agent.register()
    leases = {x["stream_id"]: x for x in (await agent.heartbeat(free=2))["assign"]}
    await agent.heartbeat(
        [report(leases[stream_id], 4, "decoder died"), report(leases[plain], 4, "gone")], free=0
    )
    got = await get_stream(client, user, stream_id)
    assert (got["status"], got["last_error"]) == (0, "decoder died")
    assert got["autorestart"]["current_attempt"] == 1 and got["autorestart"]["status"] == "in_progress"
    assert got["autorestart"]["last_attempt_time"] is not None
    assert (await get_stream(client, user, plain))["status"] == 4  # no autorestart: stays failed
    assert (await agent.heartbeat(free=2))["assign"] == []  # not before the delay
    await asyncio.sleep(1.1)
    (lease,) = (await agent.heartbeat(free=2))["assign"]
    assert lease["stream_id"] == stream_id and lease["autorestart"]["current_attempt"] == 1
    await agent.heartbeat([report(lease, 4, "decoder died again")], free=0)
    got = await get_stream(client, user, stream_id)
    assert (got["status"], got["autorestart"]["status"]) == (4, "failed")  # attempts used up


async def test_expired_lease_goes_to_another_agent(aiohttp_client, tmp_path: Path, backend_url: str) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(agent_config(tmp_path, backend_url, lease_seconds=1.0)))
    user = await Accounts(client).create()
    stream_id = await new_stream(client, user, stream_body(tmp_path))
    first, second = AgentClient(client), AgentClient(client)
    assert (await first.register("first"))["heartbeat_seconds"] == pytest.approx(1 / 3)
    (lease,) = (await first.heartbeat())["assign"]
    await first.heartbeat([report(lease, 1)])
    await asyncio.sleep(1.3)  # the first agent dies
    await second.register("second")
    got = await get_stream(client, user, stream_id)
    assert (got["status"], got["last_error"]) == (0, "agent lost")
    (taken,) = (await second.heartbeat())["assign"]
    assert taken["stream_id"] == stream_id
    await assert_error(await first.beat_raw([report(lease, 1)]), 404, 99404)  # it must re-register


async def test_janitor_reclaims_when_no_agent_is_left(
    aiohttp_client, tmp_path: Path, backend_url: str
) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(agent_config(tmp_path, backend_url, lease_seconds=1.0)))
    user = await Accounts(client).create()
    stream_id = await new_stream(client, user, stream_body(tmp_path))
    agent = AgentClient(client)
    await agent.register()
    (lease,) = (await agent.heartbeat())["assign"]
    await agent.heartbeat([report(lease, 1)])
    await asyncio.sleep(1.3)
    await janitor.sweep(client.app[DB], client.app[BLOBS], lease_seconds=1.0)
    resp = await client.get("/6/streams/logs", params={"stream_ids": stream_id, "page_size": 1}, headers=user)
    assert [(x["status"], x["error"]) for x in (await resp.json())["logs"]] == [(0, "agent lost")]
    async with client.app[DB].session() as session:
        assert await session.get(Agent, agent.agent_id) is None
        assert (await session.get(Stream, stream_id)).agent_id is None  # type: ignore[union-attr]


async def test_concurrent_heartbeats_never_share_a_stream(
    client: TestClient, user: dict, tmp_path: Path
) -> None:
    ids = {await new_stream(client, user, stream_body(tmp_path)) for _ in range(12)}
    agents = [AgentClient(client) for _ in range(3)]
    for number, agent in enumerate(agents):
        await agent.register(f"agent-{number}", max_stream_count=12)
    held: list[dict[str, dict]] = [{} for _ in agents]
    for _ in range(3):
        beats = await asyncio.gather(
            *(
                agent.heartbeat([report(x, 1) for x in mine.values()], free=3)
                for agent, mine in zip(agents, held, strict=True)
            )
        )
        for mine, beat in zip(held, beats, strict=True):
            assert beat["release"] == []
            mine.update((x["stream_id"], x) for x in beat["assign"])
    assert sum(len(mine) for mine in held) == len(ids) == len(set().union(*held))
    async with client.app[DB].session() as session:
        for agent, mine in zip(agents, held, strict=True):
            for stream_id in mine:
                assert (await session.get(Stream, stream_id)).agent_id == agent.agent_id  # type: ignore[union-attr]
