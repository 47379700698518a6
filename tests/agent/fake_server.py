"""The server's internal agent API as the agent contract states it, in memory, for agent tests.

A real aiohttp server on 127.0.0.1 run in a thread of its own, so the agent's blocking HTTP
threads talk to it over TCP exactly as to Argus, and tests can take it down and bring it back
on the same port (an outage) while the agent keeps running.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgpack
from aiohttp import web

KEY = "test-agent-key"


@dataclass
class State:
    """Everything the fake saw and will answer; guard with ``FakeServer.lock``."""

    agents: dict[str, str] = field(default_factory=dict)  # agent_id -> name
    registrations: int = 0
    heartbeats: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    assign: list[dict[str, Any]] = field(default_factory=list)  # handed out at the next heartbeat
    release: list[str] = field(default_factory=list)
    released_at: dict[str, float] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # stream -> in arrival order
    seen: set[str] = field(default_factory=set)
    duplicates: int = 0
    posts: list[str] = field(default_factory=list)  # agent ids events were posted under
    gone: set[str] = field(default_factory=set)  # streams answering 404
    reject: set[str] = field(default_factory=set)  # streams whose events get 400
    fail_events: int = 0  # answer this many event posts with 500 first


class FakeServer:
    def __init__(self, port: int, lease_seconds: float = 3.0, heartbeat_seconds: float = 0.3) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.state = State()
        self.lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle (from the test's thread) ----------------------------------------------------

    def start(self) -> FakeServer:
        ready = threading.Event()
        loop = self._loop = asyncio.new_event_loop()

        def serve() -> None:
            # This thread's own loop and runner: after an outage (stop, start) a new thread
            # serves with new ones while this one may still be closing its connections.
            asyncio.set_event_loop(loop)
            runner = self._runner = web.AppRunner(self._app(), shutdown_timeout=1.0)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
            loop.run_until_complete(site.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-argus", daemon=True)
        self._thread.start()
        assert ready.wait(10), "the fake server did not start"
        return self

    def stop(self) -> None:
        """Close the port (an outage); ``start`` brings it back with the same state."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None

    # -- views ---------------------------------------------------------------------------------

    def received(self, stream_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.state.events.get(stream_id, []))

    def last_report(self, stream_id: str) -> dict[str, Any] | None:
        with self.lock:
            for _, _, body in reversed(self.state.heartbeats):
                for item in body["streams"]:
                    if item["stream_id"] == stream_id:
                        return item
        return None

    def reports(self, stream_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                i for _, _, b in self.state.heartbeats for i in b["streams"] if i["stream_id"] == stream_id
            ]

    # -- the API -------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        @web.middleware
        async def key_check(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.headers.get("Argus-Agent-Key") != KEY:
                return web.json_response({"error_code": 12001, "detail": "bad agent key"}, status=401)
            return await handler(request)

        app = web.Application(middlewares=[key_check])
        app.router.add_post("/internal/agents", self._register)
        app.router.add_post("/internal/agents/{agent_id}/heartbeat", self._heartbeat)
        app.router.add_post("/internal/agents/{agent_id}/streams/{stream_id}/events", self._events)
        return app

    async def _register(self, request: web.Request) -> web.Response:
        body = await request.json()
        agent_id = str(uuid.uuid4())
        with self.lock:
            self.state.agents[agent_id] = body["name"]
            self.state.registrations += 1
        answer = {
            "agent_id": agent_id,
            "lease_seconds": self.lease_seconds,
            "heartbeat_seconds": self.heartbeat_seconds,
        }
        return web.json_response(answer, status=201)

    async def _heartbeat(self, request: web.Request) -> web.Response:
        agent_id = request.match_info["agent_id"]
        body = await request.json()
        with self.lock:
            if agent_id not in self.state.agents:
                return web.json_response({"detail": "agent not found"}, status=404)
            now = time.monotonic()
            self.state.heartbeats.append((now, agent_id, body))
            assign, self.state.assign = self.state.assign, []
            release, self.state.release = self.state.release, []
            for stream_id in release:
                self.state.released_at[stream_id] = now
        return web.json_response({"assign": assign, "release": release})

    async def _events(self, request: web.Request) -> web.Response:
        stream_id = request.match_info["stream_id"]
        body = msgpack.unpackb(await request.read(), raw=False)
        with self.lock:
            state = self.state
            state.posts.append(request.match_info["agent_id"])
            if state.fail_events > 0:
                state.fail_events -= 1
                return web.json_response({"detail": "try later"}, status=500)
            if stream_id in state.gone:
                return web.json_response({"detail": "stream not found"}, status=404)
            if stream_id in state.reject:
                return web.json_response({"detail": "bad events"}, status=400)
            accepted, duplicates = [], []
            for event in body["events"]:
                if event["event_id"] in state.seen:
                    duplicates.append(event["event_id"])
                    state.duplicates += 1
                    continue
                state.seen.add(event["event_id"])
                state.events.setdefault(stream_id, []).append(event)
                accepted.append(event["event_id"])
        return web.json_response({"accepted": accepted, "duplicates": duplicates})
