"""The event bus: saved events to live websocket subscribers, without ever blocking saving.

Each subscriber has a bounded queue. Publishing never awaits: when a subscriber's queue is
full, its oldest message is dropped (and counted) so a slow dashboard loses old events rather
than stalling the pipeline or growing memory without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("argus.bus")
QUEUE_SIZE = 256


@dataclass(frozen=True)
class Published:
    """One saved event as subscribers see it."""

    account_id: str
    message: dict[str, Any]  # the websocket message (message_from_ws, L15376)
    event: dict[str, Any]  # the stored event body, for subscriber filters
    # Type for /6/general/ws subscribers; every saved event is "event_created".
    event_type: str = "event_created"
    # Which sockets it is for: "events" (/6/ws, /6/general/ws) or "stream" (/6/streams/{id}/ws,
    # whose messages are stream statuses and analytics results rather than saved events).
    channel: str = "events"


@dataclass(eq=False)
class Subscription:
    account_id: str | None  # None = every account (admin/advanced scope)
    accepts: Callable[[Published], bool]
    channel: str = "events"
    queue: asyncio.Queue[Published] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: int = 0

    def offer(self, item: Published) -> None:
        if item.channel != self.channel:
            return
        if self.account_id is not None and item.account_id != self.account_id:
            return
        if not self.accepts(item):
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(item)


class EventBus:
    """In-process delivery; ``forward``, when set (``api.bus_pg``), also shares every published
    item with the other server processes."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self.forward: Callable[[Published], None] | None = None

    def subscribe(
        self, account_id: str | None, accepts: Callable[[Published], bool], channel: str = "events"
    ) -> Subscription:
        subscription = Subscription(account_id, accepts, channel)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        if subscription.dropped:
            log.info("websocket subscriber dropped %d events it was too slow to take", subscription.dropped)

    def publish(self, item: Published) -> None:
        """Deliver to this process's subscribers and forward to the other processes."""
        self.deliver(item)
        if self.forward is not None:
            self.forward(item)

    def deliver(self, item: Published) -> None:
        """Deliver to this process's subscribers only."""
        for subscription in tuple(self._subscriptions):
            try:
                subscription.offer(item)
            except Exception:  # a broken filter must not stop delivery to the others
                log.exception("subscriber filter failed")

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)
