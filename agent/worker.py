"""The stream agent: registers with the server, leases streams, runs them, reports, delivers.

The heartbeat loop is the only conversation about streams: each heartbeat carries every
stream's status and new log lines and brings back what to start (``assign``) and stop
(``release``). Events travel separately (spool -> sender), so an unreachable server never
stalls analysis: streams keep running, events keep spooling, and the loop retries with
backoff. A 404 means the server forgot this agent (lease expired): its streams may already
run elsewhere, so all of them stop and the agent registers afresh.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

from agent.agent_client import AgentClient, AgentUnknown, ServerUnavailable
from agent.analytics_feed import Engines
from agent.event_sender import EventSender, Link
from agent.spool import Spool
from agent.stream_runner import FINAL, StreamRunner
from api.config import Config

log = logging.getLogger("argus.agent")

STOP_GRACE = 3.0  # seconds shutdown waits for stream threads to let go
UNREACHABLE_LOG_EVERY = 30.0  # seconds between "still unreachable" lines


def agent_name(config: Config) -> str:
    return config.agent.name or f"{socket.gethostname()}-{os.getpid()}"


class AgentWorker:
    """``run()`` blocks (the ``argus agent`` command); ``start()``/``stop()`` embed it in a thread."""

    def __init__(self, config: Config, server_url: str, key: str, engines: Engines | None = None) -> None:
        self.config = config
        self.server_url = server_url
        self.client = AgentClient(server_url, key)
        self.engines = engines or Engines(config)
        self.spool = Spool(config.data_path / "agent" / "spool", config.agent.spool_max_bytes)
        self.link = Link()
        self.sender = EventSender(self.spool, self.client, self.link)
        self.runners: dict[str, StreamRunner] = {}
        self.agent_id: str | None = None
        self.heartbeat_seconds = max(config.agent.lease_seconds / 3, 0.5)
        self._released: list[StreamRunner] = []  # stopped, their threads still winding down
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unreachable_since: float | None = None
        self._last_unreachable_log = 0.0

    # -- embedding -----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="agent-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop streams and delivery; safe from any thread (a signal handler too)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> None:
        log.info(
            "agent %r works for %s (up to %d streams)",
            agent_name(self.config),
            self.server_url,
            self.config.agent.max_stream_count,
        )
        self.sender.start()
        delay = 1.0
        try:
            while not self._stop.is_set():
                if self._beat():
                    delay = 1.0
                    self._pause(self.heartbeat_seconds)
                else:
                    self._pause(delay)
                    delay = min(delay * 2, max(self.heartbeat_seconds, 1.0))
        finally:
            self._shutdown()

    def _pause(self, seconds: float) -> None:
        """Wait for the next heartbeat; a stream reaching its final status brings it forward."""
        deadline = time.monotonic() + seconds
        ended = self._ended()
        while not self._stop.wait(min(0.1, max(deadline - time.monotonic(), 0))):
            if time.monotonic() >= deadline or self._ended() - ended:
                return

    def _ended(self) -> set[str]:
        return {sid for sid, runner in self.runners.items() if runner.final}

    def _beat(self) -> bool:
        """Register if needed, then one heartbeat; False when the server could not be reached."""
        try:
            if self.agent_id is None:
                self._register()
            assert self.agent_id is not None
            reports = {sid: runner.snapshot() for sid, runner in self.runners.items()}
            items = [item for item, _ in reports.values()]
            answer = self.client.heartbeat(self.agent_id, items, self._free())
        except AgentUnknown:
            log.warning(
                "the server no longer knows agent %s: stopping its streams, registering again", self.agent_id
            )
            self.link.down()
            self.agent_id = None
            self._stop_all()
            return True
        except ServerUnavailable as exc:
            self.link.down()
            self._unreachable(str(exc))
            return False
        self._reachable()
        self.link.up(self.agent_id)
        for sid, (item, mark) in reports.items():
            self.runners[sid].acknowledge(mark)
            if item["status"] in FINAL:
                del self.runners[sid]  # its final status has been reported: forget it
        self._apply(answer)
        return True

    def _register(self) -> None:
        answer = self.client.register(agent_name(self.config), self.config.agent.max_stream_count)
        self.agent_id = str(answer["agent_id"])
        beat = answer.get("heartbeat_seconds") or answer.get("lease_seconds", 3 * self.heartbeat_seconds) / 3
        self.heartbeat_seconds = max(float(beat), 0.2)
        log.info(
            "registered with %s as agent %s (heartbeat every %.1f s)",
            self.server_url,
            self.agent_id,
            self.heartbeat_seconds,
        )

    def _free(self) -> int:
        busy = sum(1 for runner in self.runners.values() if not runner.final)
        return max(self.config.agent.max_stream_count - busy, 0)

    def _apply(self, answer: dict[str, Any]) -> None:
        for stream_id in answer.get("release") or []:
            runner = self.runners.pop(str(stream_id), None)
            if runner is not None:
                log.info("stream %s released: stopping it", stream_id)
                self._release(runner)
        for lease in answer.get("assign") or []:
            self._assign(lease)
        self._released = [runner for runner in self._released if runner.alive]

    def _assign(self, lease: dict[str, Any]) -> None:
        stream_id = str(lease.get("stream_id", ""))
        current = self.runners.get(stream_id)
        if current is not None:
            if current.version == int(lease.get("version", 0)) and not current.final:
                return  # already running this version
            self._release(self.runners.pop(stream_id))
        if self._free() <= 0:
            log.warning(
                "stream %s assigned beyond capacity (%d streams): ignored",
                stream_id,
                self.config.agent.max_stream_count,
            )
            return
        try:
            runner = StreamRunner(lease, self.config, self.engines, self.spool)
        except (KeyError, TypeError, ValueError) as exc:
            log.error("stream lease %s is malformed: %s", stream_id or lease, exc)
            return
        log.info("stream %s assigned (version %d): starting", stream_id, runner.version)
        self.runners[stream_id] = runner
        runner.start()

    def _release(self, runner: StreamRunner) -> None:
        runner.stop()
        self._released.append(runner)

    def _stop_all(self) -> None:
        for runner in self.runners.values():
            self._release(runner)
        self.runners.clear()

    def _shutdown(self) -> None:
        self._stop_all()
        deadline = time.monotonic() + STOP_GRACE
        for runner in self._released:
            runner.join(max(deadline - time.monotonic(), 0.0))
        self.sender.stop()
        log.info("agent stopped")

    # -- logging an unreachable server without flooding the log --------------------------------

    def _unreachable(self, why: str) -> None:
        now = time.monotonic()
        if self._unreachable_since is None:
            self._unreachable_since = now
            self._last_unreachable_log = now
            log.warning("%s; retrying (streams keep running, events are spooled)", why)
        elif now - self._last_unreachable_log >= UNREACHABLE_LOG_EVERY:
            self._last_unreachable_log = now
            log.warning(
                "%s for %.0f s; still retrying (%d event batches spooled)",
                why,
                now - self._unreachable_since,
                len(self.spool),
            )

    def _reachable(self) -> None:
        if self._unreachable_since is not None:
            log.info(
                "server %s reachable again after %.0f s",
                self.server_url,
                time.monotonic() - self._unreachable_since,
            )
            self._unreachable_since = None
