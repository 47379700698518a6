"""AgentWorker against a fake server speaking the agent contract (tests/agent/fake_server.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.worker import AgentWorker
from api.config import Config
from tests.agent.fake_server import KEY, FakeServer
from tests.agent.test_stream_runner import lease, people_count
from tests.conftest import make_config
from tests.media import missing
from tests.videos import VTEST, vtest_h264
from tests.waiting import wait_until

FILE_STREAM = "0b5c4f7e-8d3a-4c1e-9f00-000000000001"  # the id test_stream_runner.lease() gives


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not VTEST.is_file():
        missing(f"{VTEST} is missing: apt-get install -y opencv-doc")
    return vtest_h264(tmp_path_factory.mktemp("media") / "clip.mp4", start=200, count=30)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(
        tmp_path,
        agent={"key": KEY, "max_stream_count": 2, "lease_seconds": 3.0},
        video={"open_timeout": 3.0, "read_timeout": 2.0},
        person_detector={"input_width": 416, "input_height": 416, "score_threshold": 0.1},
    )


@pytest.fixture
def worker(config: Config, server: FakeServer) -> Iterator[AgentWorker]:
    agent = AgentWorker(config, server.url, KEY)
    yield agent
    agent.stop()


def looping(clip: Path, stream_id: str) -> dict[str, Any]:
    """A "stream" over a file: each end of the file is a lost camera, reconnected: never ends."""
    item = lease(str(clip), people_count(), kind="stream")
    item["stream_id"] = stream_id
    return item


def logged(server: FakeServer, stream_id: str) -> list[int]:
    return [entry["status"] for report in server.reports(stream_id) for entry in report["logs"]]


def test_waits_for_the_server_then_runs_a_video_to_done(
    clip: Path, server: FakeServer, worker: AgentWorker
) -> None:
    worker.start()  # nothing listens yet: the worker keeps trying
    time.sleep(1.5)
    assert worker.agent_id is None
    server.state.assign.append(lease(str(clip)))
    server.start()
    wait_until(lambda: (server.last_report(FILE_STREAM) or {}).get("status") == 2, 30, "status 2")
    # "done" comes after the events: a client seeing it finds them all.
    events = server.received(FILE_STREAM)
    assert [e["event_status"] for e in events][-1:] == ["finished"]
    assert logged(server, FILE_STREAM) == [1, 2]  # each change sent once (acknowledged)
    beats = len(server.state.heartbeats)
    wait_until(lambda: len(server.state.heartbeats) >= beats + 2, 5, "two more heartbeats")
    # The final status is reported once, then the stream is forgotten.
    assert [report["status"] for report in server.reports(FILE_STREAM)].count(2) == 1
    assert server.state.heartbeats[-1][2]["streams"] == []
    assert server.state.heartbeats[-1][2]["free"] == 2


def test_release_stops_a_stream_within_two_seconds(
    clip: Path, server: FakeServer, worker: AgentWorker
) -> None:
    stream_id = "0b5c4f7e-8d3a-4c1e-9f00-0000000000b1"
    server.state.assign.append(looping(clip, stream_id))
    server.start()
    worker.start()
    wait_until(
        lambda: stream_id in worker.runners and worker.runners[stream_id].status == 1, 20, "the stream"
    )
    runner = worker.runners[stream_id]
    server.state.release.append(stream_id)
    wait_until(lambda: stream_id in server.state.released_at, 5, "the release to go out")
    assert runner.join(2.0)
    took = time.monotonic() - server.state.released_at[stream_id]
    print(f"released stream stopped {took:.3f} s after the server answered")
    assert took < 2.0
    wait_until(lambda: server.state.heartbeats[-1][2]["streams"] == [], 5, "a heartbeat without it")


def test_forgotten_agent_stops_its_streams_and_registers_again(
    clip: Path, server: FakeServer, worker: AgentWorker
) -> None:
    stream_id = "0b5c4f7e-8d3a-4c1e-9f00-0000000000c1"
    server.state.assign.append(looping(clip, stream_id))
    server.start()
    worker.start()
    wait_until(lambda: stream_id in worker.runners, 10, "the stream")
    runner, first = worker.runners[stream_id], worker.agent_id
    with server.lock:
        server.state.agents.clear()  # the lease expired on the server
    wait_until(lambda: server.state.registrations == 2, 10, "a new registration")
    assert runner.join(2.0)
    assert worker.agent_id not in (None, first)
    assert stream_id not in worker.runners


def test_outage_streams_keep_running_and_events_arrive_afterwards(
    clip: Path, server: FakeServer, worker: AgentWorker
) -> None:
    stream_id = "0b5c4f7e-8d3a-4c1e-9f00-0000000000d1"
    server.state.assign.append(looping(clip, stream_id))
    server.start()
    worker.start()
    wait_until(lambda: len(server.received(stream_id)) >= 2, 30, "events")
    server.stop()
    wait_until(lambda: worker.spool.pending(stream_id) >= 2, 30, "events spooled during the outage")
    spooled = worker.spool.pending(stream_id)
    server.start()
    took = wait_until(lambda: worker.spool.pending(stream_id) == 0, 15, "the spool to drain")
    print(f"{spooled}+ spooled events delivered {took:.2f} s after the server came back")
    events = server.received(stream_id)
    assert server.state.duplicates == 0
    assert len(events) >= spooled + 2
    # One crowd after another, in order: started, finished, started, finished...
    statuses = [e["event_status"] for e in events]
    assert statuses[: len(statuses) // 2 * 2] == ["started", "finished"] * (len(statuses) // 2)
    assert logged(server, stream_id)[:2] == [1, 3]  # the file's end counts as a lost camera
