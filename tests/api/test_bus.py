"""The event bus: account scoping, filters, and slow subscribers losing old events, not blocking."""

from __future__ import annotations

from api.bus import QUEUE_SIZE, EventBus, Published


def item(account: str, n: int) -> Published:
    return Published(account, {"n": n}, {"n": n})


def test_account_scope_and_filters() -> None:
    bus = EventBus()
    mine = bus.subscribe("a", lambda p: True)
    everyone = bus.subscribe(None, lambda p: p.event["n"] % 2 == 0)
    for n in range(4):
        bus.publish(item("a" if n < 2 else "b", n))
    assert [mine.queue.get_nowait().event["n"] for _ in range(mine.queue.qsize())] == [0, 1]
    assert [everyone.queue.get_nowait().event["n"] for _ in range(everyone.queue.qsize())] == [0, 2]


def test_slow_subscriber_drops_oldest_and_never_blocks() -> None:
    bus = EventBus()
    slow = bus.subscribe("a", lambda p: True)
    for n in range(QUEUE_SIZE + 10):
        bus.publish(item("a", n))  # synchronous: returns even though nobody reads
    assert slow.queue.qsize() == QUEUE_SIZE and slow.dropped == 10
    assert slow.queue.get_nowait().event["n"] == 10


def test_broken_filter_does_not_stop_others() -> None:
    bus = EventBus()
    bus.subscribe("a", lambda p: 1 / 0)  # type: ignore[arg-type,return-value]
    healthy = bus.subscribe("a", lambda p: True)
    bus.publish(item("a", 1))
    assert healthy.queue.qsize() == 1
    bus.unsubscribe(healthy)
    assert bus.subscriber_count == 1
