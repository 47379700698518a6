"""Delivers the spool to the server, oldest batch first, deleting each only once it is accepted.

One thread, strictly in spool order, so each stream's events reach the server in the order
they happened. While the server is away it backs off (0.5 s doubling up to 10 s) and the
spool grows; when the worker re-registers (``Link.up``) it retries at once. Posts go under
the agent id of the *current* registration, so events spooled before a re-registration are
still delivered after it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from agent.agent_client import AgentClient, Delivery
from agent.spool import Spool

log = logging.getLogger("argus.agent.sender")

FIRST_RETRY = 0.5
MAX_RETRY = 10.0
IDLE_POLL = 1.0  # seconds between checks when nothing wakes the sender (a safety net only)


class Link:
    """The registration the sender posts under: an agent id while the server answers, else None.

    The worker sets it (``up`` after a successful registration or heartbeat, ``down`` when the
    server is lost); waiting for ``up`` after an outage keeps the sender from posting under an
    agent id the server may have expired meanwhile.
    """

    def __init__(self) -> None:
        self._agent_id: str | None = None
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    @property
    def agent_id(self) -> str | None:
        with self._lock:
            return self._agent_id

    def up(self, agent_id: str) -> None:
        with self._lock:
            changed, self._agent_id = self._agent_id != agent_id, agent_id
        if changed:
            for callback in self._listeners:
                callback()

    def down(self) -> None:
        with self._lock:
            self._agent_id = None

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)


class EventSender:
    """The delivery thread; ``start``/``stop``. Counters are for logs and tests."""

    def __init__(self, spool: Spool, client: AgentClient, link: Link) -> None:
        self.spool = spool
        self.client = client
        self.link = link
        self.delivered = 0  # events
        self.failures = 0  # failed attempts
        self._stop = threading.Event()
        self._data = threading.Event()  # the spool got a batch
        self._relinked = threading.Event()  # the registration changed: retry now
        spool.subscribe(self._data.set)
        link.subscribe(self._relinked.set)
        self._thread = threading.Thread(target=self._run, name="event-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """End the thread; a post still in flight is abandoned (its batch stays spooled)."""
        self._stop.set()
        self._data.set()
        self._relinked.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        delay = FIRST_RETRY
        while not self._stop.is_set():
            self._data.clear()
            batch = self.spool.oldest()
            if batch is None:
                self._data.wait(IDLE_POLL)
                continue
            agent_id = self.link.agent_id
            if agent_id is None:
                self._relinked.wait(IDLE_POLL)
                self._relinked.clear()
                continue
            body = self.spool.read(batch)
            if body is None:  # dropped over the byte bound meanwhile
                continue
            self._relinked.clear()
            outcome, why = self.client.post_events(agent_id, batch.stream_id, body)
            if outcome is Delivery.DELIVERED:
                self.spool.remove(batch)
                self.delivered += batch.count
                delay = FIRST_RETRY
            elif outcome is Delivery.GONE:
                dropped = self.spool.drop_stream(batch.stream_id)
                log.warning("stream %s is gone (%s): dropped its %d events", batch.stream_id, why, dropped)
            elif outcome is Delivery.REJECTED:
                self.spool.remove(batch)
                log.error("stream %s: %d events refused for good: %s", batch.stream_id, batch.count, why)
            else:
                self.failures += 1
                if self.failures == 1 or delay >= MAX_RETRY:
                    log.warning("event delivery failed, retrying in %.1f s: %s", delay, why)
                self._relinked.wait(delay)
                delay = min(delay * 2, MAX_RETRY)
