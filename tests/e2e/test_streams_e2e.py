"""Streams end to end with real processes: `argus serve`, `argus agent`s and an RTSP camera.

The camera is GStreamer's RTSP server on loopback looping an H.264 copy of vtest.avi. A client
registers a stream with people_count through the public API and receives stored events over
`/6/ws`; the camera, the API server and an agent are killed and restarted along the way.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import MODEL_ROOT
from tests.e2e.test_cli import ARGUS, _env, _free_port
from tests.media import missing
from tests.rtsp import rtsp_available, start_rtsp, stop, url
from tests.videos import VTEST, vtest_h264

LOGIN, PASSWORD = "admin@argus.e2e", "e2e-password"
AUTH = {"Authorization": aiohttp.encode_basic_auth(LOGIN, PASSWORD)}
KEY = "e2e-agent-key"
LEASE = 4.0  # seconds: a killed agent's stream is reclaimed after this


@dataclass
class Deployment:
    """An `argus serve` plus agents sharing one data folder (SQLite) and agent key."""

    root: Path
    media: Path
    lease: float = LEASE
    port: int = field(default_factory=_free_port)
    server: subprocess.Popen[bytes] | None = None
    agents: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return _env(
            ARGUS_ADMIN_LOGIN=LOGIN,
            ARGUS_ADMIN_PASSWORD=PASSWORD,
            ARGUS_AGENT__KEY=KEY,
            ARGUS_AGENT__LEASE_SECONDS=str(self.lease),
            ARGUS_AGENT__RECONNECT_MAX_DELAY="2",
            ARGUS_STORAGE__MODEL_ROOT=str(MODEL_ROOT),
            ARGUS_VIDEO__MEDIA_DIRS=str(self.media),
            ARGUS_VIDEO__READ_TIMEOUT="3",
            ARGUS_VIDEO__OPEN_TIMEOUT="3",
        )

    def start_server(self) -> None:
        log = (self.root / "server.log").open("ab")
        self.server = subprocess.Popen(
            [ARGUS, "serve", "--port", str(self.port), "--data-dir", str(self.root / "data")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env(),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/version", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"argus serve did not start: {(self.root / 'server.log').read_text()[-2000:]}")

    def stop_server(self) -> None:
        assert self.server is not None
        self.server.send_signal(signal.SIGINT)
        self.server.wait(timeout=30)
        self.server = None

    def start_agent(self, name: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("ab")
        agent = subprocess.Popen(
            [ARGUS, "agent", "--server", self.base, "--data-dir", str(self.root / name)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**self.env(), "ARGUS_AGENT__NAME": name, "ARGUS_AGENT__MAX_STREAM_COUNT": "2"},
        )
        self.agents.append(agent)
        return agent

    def close(self) -> None:
        for process in [*self.agents, self.server]:
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not VTEST.is_file():
        missing(f"{VTEST} is missing: apt-get install -y opencv-doc")
    if not rtsp_available():
        missing("GStreamer's RTSP server is not installed (see Makefile APT_PACKAGES)")
    return vtest_h264(tmp_path_factory.mktemp("camera") / "vtest.mp4", start=0, count=795, fps=10)


@pytest.fixture
def deployment(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Deployment]:
    media = tmp_path / "media"
    media.mkdir()
    # a long lease for the server-restart test: its streams must not be reclaimed meanwhile
    lease = 60.0 if "server_restart" in request.node.name else LEASE
    found = Deployment(tmp_path, media, lease)
    try:
        yield found
    finally:
        found.close()


def people_count(handler_id: str, threshold: int = 6) -> dict[str, Any]:
    return {
        "analytic_name": "people_count",
        "parameters": {
            "targets": ["overview"],
            "callbacks": [{"type": "luna-event", "handler_id": handler_id}, {"type": "luna-ws-notification"}],
            "parameters": {
                "people_count_threshold": threshold,
                "probe_count": 1,
                "rate": {"unit": "frame", "period": 5},
            },
        },
    }


async def create_stream(session: aiohttp.ClientSession, base: str, kind: str, reference: str) -> str:
    async with session.post(f"{base}/6/handlers", json={"policies": {}}) as resp:
        assert resp.status == 201, await resp.text()
        handler_id = (await resp.json())["handler_id"]
    body = {
        "name": f"e2e {kind}",
        "data": {"type": kind, "reference": reference},
        "analytics": [people_count(handler_id)],
    }
    async with session.post(f"{base}/6/streams", json=body) as resp:
        assert resp.status == 201, await resp.text()
        return (await resp.json())["stream_id"]


async def stream_status(session: aiohttp.ClientSession, base: str, stream_id: str) -> int:
    async with session.get(f"{base}/6/streams/{stream_id}") as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["status"]


async def wait_status(
    session: aiohttp.ClientSession, base: str, stream_id: str, wanted: int, within: float
) -> None:
    deadline = time.monotonic() + within
    seen = []
    while time.monotonic() < deadline:
        status = await stream_status(session, base, stream_id)
        seen.append(status)
        if status == wanted:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"stream never reached status {wanted} in {within} s; saw {sorted(set(seen))}")


async def stored_events(session: aiohttp.ClientSession, base: str, stream_id: str) -> list[dict]:
    async with session.get(f"{base}/6/events", params={"stream_ids": stream_id, "page_size": 1000}) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["events"]


async def wait_events(
    session: aiohttp.ClientSession, base: str, stream_id: str, more_than: int, within: float
) -> list[dict]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        events = await stored_events(session, base, stream_id)
        if len(events) > more_than:
            return events
        await asyncio.sleep(0.5)
    raise AssertionError(f"no more than {more_than} stored events after {within} s")


async def log_statuses(session: aiohttp.ClientSession, base: str, stream_id: str) -> list[int]:
    async with session.get(f"{base}/6/streams/logs", params={"stream_ids": stream_id}) as resp:
        assert resp.status == 200, await resp.text()
        return [log["status"] for log in (await resp.json())["logs"]]


async def released_at(log: Path, stream_id: str, within: float) -> float:
    """Wall time (epoch seconds) of the agent's "released: stopping it" line for the stream."""
    deadline = time.monotonic() + within
    needle = f"stream {stream_id} released"
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if needle in line:
                stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                return stamp.timestamp()
        await asyncio.sleep(0.1)
    raise AssertionError(f"the agent never released stream {stream_id}")


def analytic_ids(events: list[dict]) -> list[str]:
    return [e["meta"]["analytic_event_id"] for e in events]


async def test_rtsp_camera_events_live_through_camera_loss_and_agent_loss(
    clip: Path, deployment: Deployment
) -> None:
    rtsp_port = _free_port()
    camera = start_rtsp(clip, rtsp_port)
    try:
        deployment.start_server()
        first = deployment.start_agent("agent-a")
        async with aiohttp.ClientSession(headers=AUTH) as session:
            base = deployment.base
            stream_id = await create_stream(session, base, "stream", url(rtsp_port))
            await wait_status(session, base, stream_id, 1, within=30)
            # a stored event arrives on /6/ws while the video plays, and GET /6/events finds it
            async with session.ws_connect(f"{base}/6/ws", params={"stream_ids": stream_id}) as ws:
                message = await asyncio.wait_for(ws.receive_json(), timeout=90)
            assert message["event"]["stream_id"] == stream_id
            events = await stored_events(session, base, stream_id)
            assert message["event"]["event_id"] in {e["event_id"] for e in events}
            assert all(
                e["meta"]["analytic"] == "people_count" and e["meta"]["people_count"] >= 6 for e in events
            )

            # the camera goes away: restart; it comes back: in progress again, events resume
            stop(camera)
            await wait_status(session, base, stream_id, 3, within=20)
            camera = start_rtsp(clip, rtsp_port)
            await wait_status(session, base, stream_id, 1, within=30)
            before = len(await stored_events(session, base, stream_id))
            await wait_events(session, base, stream_id, before, within=90)

            # the agent dies: after its lease the stream returns to pending and another agent
            # takes it over (the log shows the reclaim, then in_progress again)
            deployment.start_agent("agent-b")
            reclaims = (await log_statuses(session, base, stream_id)).count(0)
            first.kill()
            first.wait(timeout=10)
            deadline = time.monotonic() + LEASE + 20
            while (await log_statuses(session, base, stream_id)).count(0) == reclaims:
                assert time.monotonic() < deadline, "the dead agent's stream was never reclaimed"
                await asyncio.sleep(0.5)
            await wait_status(session, base, stream_id, 1, within=30)  # agent-b runs it
            before = len(await stored_events(session, base, stream_id))
            events = await wait_events(session, base, stream_id, before, within=90)
            ids = analytic_ids(events)
            assert len(ids) == len(set(ids)), "no analytic event is stored twice"
            assert {1, 3, 0} <= set(await log_statuses(session, base, stream_id))

            # PATCH stop: the agent lets the stream go within 2 s (its next heartbeat)
            stop_time = time.time()
            async with session.patch(f"{base}/6/streams/{stream_id}", params={"action": "stop"}) as resp:
                assert resp.status == 204, await resp.text()
            released = await released_at(deployment.root / "agent-b.log", stream_id, within=10)
            assert released - stop_time < 2.0
            assert await stream_status(session, base, stream_id) == 5
    finally:
        stop(camera)


async def test_server_restart_loses_and_duplicates_nothing(deployment: Deployment) -> None:
    """A video file processed while the API server restarts: the agent spools the events it
    cannot deliver and delivers them once the server is back; the stored events then equal
    what /6/videosdk finds in the same file with the same parameters."""
    if not VTEST.is_file():
        missing(f"{VTEST} is missing: apt-get install -y opencv-doc")
    video = vtest_h264(deployment.media / "vtest.mp4", start=0, count=795, fps=10)
    deployment.start_server()
    deployment.start_agent("agent-a")
    async with aiohttp.ClientSession(headers=AUTH) as session:
        base = deployment.base
        analytic = people_count(str(uuid.uuid4()))["parameters"]
        body = {
            "video": {"url": video.name},
            "analytics": [{"name": "people_count", "targets": [], "parameters": analytic["parameters"]}],
        }
        async with session.post(f"{base}/6/videosdk", json=body) as resp:
            assert resp.status == 200, await resp.text()
            expected = (await resp.json())["analytics"][0]["result"]["crowd"]["events"]
        assert len(expected) >= 3
        stream_id = await create_stream(session, base, "videofile", video.name)
        await wait_events(session, base, stream_id, 0, within=120)
        deployment.stop_server()  # events produced meanwhile wait in the agent's spool
        await asyncio.sleep(2.0)
        deployment.start_server()
        await wait_status(session, base, stream_id, 2, within=180)
        events = await stored_events(session, base, stream_id)
    ids = analytic_ids(events)
    assert len(ids) == len(set(ids)), "an event was stored twice"
    segments = sorted(
        (e["meta"]["video_segment"]["start_time_offset"], e["meta"]["people_count"]) for e in events
    )
    want = sorted((e["video_segment"]["start_time_offset"], e["people_count"]) for e in expected)
    assert segments == want
