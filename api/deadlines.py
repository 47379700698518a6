"""Response timeouts enforced by one watchdog instead of a timer per request.

``asyncio.timeout`` schedules and cancels a loop timer for every request (~5 us each, a
measurable share of a small request's cost). Requests instead register their task and
deadline in a dict; a watchdog wakes a few times per timeout period and cancels overdue ones,
so a request runs at most ``timeout + period`` seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class Deadlines:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.period = min(1.0, timeout / 10)
        self._running: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """Await ``call()``; raise TimeoutError when it outlives the deadline."""
        task = asyncio.current_task()
        assert task is not None
        self._running[task] = asyncio.get_running_loop().time() + self.timeout
        try:
            return await call()
        except asyncio.CancelledError:
            if task in self._expired:
                self._expired.discard(task)
                task.uncancel()
                raise TimeoutError from None
            raise
        finally:
            self._running.pop(task, None)

    def release(self) -> None:
        """Exempt the current request (a websocket lives as long as its client wants)."""
        task = asyncio.current_task()
        if task is not None:
            self._running.pop(task, None)

    async def watch(self) -> None:
        """Cancel overdue requests until cancelled itself."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.period)
            now = loop.time()
            for task, deadline in list(self._running.items()):
                if deadline <= now and task not in self._expired:
                    self._expired.add(task)
                    task.cancel()
