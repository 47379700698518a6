"""The event spool and its sender against a real HTTP server that goes away and comes back."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

import msgpack
import pytest

from agent.agent_client import AgentClient
from agent.event_sender import EventSender, Link
from agent.spool import Spool
from tests.agent.fake_server import KEY, FakeServer
from tests.waiting import wait_until

STREAM_A = "5d7e0c2a-0000-4000-8000-00000000000a"
STREAM_B = "5d7e0c2a-0000-4000-8000-00000000000b"


def event(stream: str, number: int, image: bytes = b"\xff\xd8jpeg") -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "analytic_name": "people_count",
        "event_status": "finished",
        "time": "2026-01-01T00:00:00+00:00",
        "result": {"number": number, "stream": stream, "overview": {"image": image}},
    }


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "agent" / "spool"


def sender_for(spool: Spool, server: FakeServer, key: str = KEY) -> EventSender:
    link = Link()
    link.up("agent-1")
    sender = EventSender(spool, AgentClient(server.url, key, timeout=2.0), link)
    sender.start()
    return sender


def test_unreachable_then_back_delivers_everything_once_in_order(folder: Path, server: FakeServer) -> None:
    spool = Spool(folder, 10_000_000)
    sender = sender_for(spool, server)  # nothing listens on the port yet
    sent: dict[str, list[str]] = {STREAM_A: [], STREAM_B: []}
    try:
        for number in range(30):
            stream = STREAM_A if number % 3 else STREAM_B
            batch = [event(stream, number), event(stream, number)]
            spool.put(stream, batch)
            sent[stream] += [e["event_id"] for e in batch]
        time.sleep(1.5)
        assert len(spool) == 30 and sender.failures >= 2
        server.start()
        took = wait_until(lambda: len(spool) == 0, 15, "the spool to drain")
        print(f"30 batches delivered {took:.2f} s after the server came back")
    finally:
        sender.stop()
    for stream, ids in sent.items():
        assert [e["event_id"] for e in server.received(stream)] == ids
    assert server.state.duplicates == 0
    assert server.received(STREAM_A)[0]["result"]["overview"]["image"] == b"\xff\xd8jpeg"  # bytes stay bytes
    assert not list(folder.iterdir())


def test_leftovers_are_delivered_after_a_restart_with_their_ids(folder: Path, server: FakeServer) -> None:
    first = Spool(folder, 10_000_000)
    batches = [[event(STREAM_A, n)] for n in range(5)]
    for batch in batches:
        first.put(STREAM_A, batch)
    (folder / "000000000099_x_1.msgpack.tmp").write_bytes(b"half a batch")  # a crash mid-write
    del first  # the agent died here

    spool = Spool(folder, 10_000_000)
    assert len(spool) == 5 and spool.pending(STREAM_A) == 5
    assert not list(folder.glob("*.tmp"))
    spool.put(STREAM_A, [event(STREAM_A, 5)])  # numbering continues after the leftovers
    server.start()
    sender = sender_for(spool, server)
    try:
        wait_until(lambda: len(spool) == 0, 10, "the leftovers to go")
    finally:
        sender.stop()
    numbers = [e["result"]["number"] for e in server.received(STREAM_A)]
    assert numbers == [0, 1, 2, 3, 4, 5]
    assert [e["event_id"] for e in server.received(STREAM_A)[:5]] == [b[0]["event_id"] for b in batches]


def test_redelivery_of_a_delivered_batch_is_a_duplicate(folder: Path, server: FakeServer) -> None:
    """The agent may die between the server's 200 and deleting the file: ids make it harmless."""
    server.start()
    spool = Spool(folder, 10_000_000)
    batch = [event(STREAM_A, 1)]
    spool.put(STREAM_A, batch)
    body = (folder / spool.oldest().name).read_bytes()  # type: ignore[union-attr]
    sender = sender_for(spool, server)
    try:
        wait_until(lambda: len(spool) == 0, 10, "delivery")
        spool.folder.joinpath("000000000500_" + STREAM_A + "_1.msgpack").write_bytes(body)
        again = Spool(folder, 10_000_000)
        assert len(again) == 1
    finally:
        sender.stop()
    sender = sender_for(again, server)
    try:
        wait_until(lambda: len(again) == 0, 10, "redelivery")
    finally:
        sender.stop()
    assert len(server.received(STREAM_A)) == 1 and server.state.duplicates == 1


def test_over_the_bound_the_oldest_are_dropped_and_counted(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    image = bytes(1000)
    size = len(msgpack.packb({"events": [event(STREAM_A, 0, image)]}, use_bin_type=True))
    spool = Spool(folder, 3 * size + size // 2)  # room for three batches
    with caplog.at_level(logging.ERROR, "argus.agent.spool"):
        for number in range(10):
            spool.put(STREAM_A, [event(STREAM_A, number, image)])
    assert len(spool) == 3 and spool.size <= spool.max_bytes
    assert spool.dropped == 7
    assert "dropped the 1 oldest undelivered events" in caplog.text
    kept = [
        msgpack.unpackb(p.read_bytes())["events"][0]["result"]["number"] for p in sorted(folder.iterdir())
    ]
    assert kept == [7, 8, 9]


def test_deleted_stream_and_refused_batches_are_dropped(folder: Path, server: FakeServer) -> None:
    server.state.gone.add(STREAM_B)
    server.state.fail_events = 3  # a hiccup first: retried, not dropped
    server.start()
    spool = Spool(folder, 10_000_000)
    for number in range(4):
        spool.put(STREAM_B, [event(STREAM_B, number)])
        spool.put(STREAM_A, [event(STREAM_A, number)])
    sender = sender_for(spool, server)
    try:
        wait_until(lambda: len(spool) == 0, 20, "the spool to drain")
        server.state.reject.add(STREAM_A)
        spool.put(STREAM_A, [event(STREAM_A, 99)])
        wait_until(lambda: len(spool) == 0, 10, "the refused batch to go")
    finally:
        sender.stop()
    assert [e["result"]["number"] for e in server.received(STREAM_A)] == [0, 1, 2, 3]
    assert server.received(STREAM_B) == []


def test_a_refused_key_keeps_the_events(folder: Path, server: FakeServer) -> None:
    server.start()
    spool = Spool(folder, 10_000_000)
    spool.put(STREAM_A, [event(STREAM_A, 0)])
    sender = sender_for(spool, server, key="wrong")
    try:
        wait_until(lambda: sender.failures >= 2, 10, "retries")
        assert len(spool) == 1
    finally:
        sender.stop()


def test_posts_wait_for_a_registration_and_use_the_current_one(folder: Path, server: FakeServer) -> None:
    server.start()
    spool = Spool(folder, 10_000_000)
    link = Link()
    sender = EventSender(spool, AgentClient(server.url, KEY), link)
    sender.start()
    try:
        spool.put(STREAM_A, [event(STREAM_A, 0)])
        time.sleep(0.5)
        assert len(spool) == 1  # not registered: nothing is posted
        link.up("agent-2")
        wait_until(lambda: len(spool) == 0, 5, "delivery after registration")
    finally:
        sender.stop()
    assert server.state.posts == ["agent-2"]
