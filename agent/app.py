"""The API app with the agent's video pipeline plugged in: what every ``argus`` process serves.

``argus run`` also embeds a stream agent. It talks to its own server over loopback HTTP, like
any stand-alone agent, so one code path serves both deployments; it starts once the server
accepts connections and stops before the database closes (cleanup contexts unwind in reverse).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from agent.analytics_feed import Engines
from agent.videosdk import VideoSdk
from agent.worker import AgentWorker
from api.agent_key import agent_key
from api.app import create_app
from api.config import Config

AGENT_WORKER: web.AppKey[AgentWorker] = web.AppKey("agent_worker", AgentWorker)
_WILDCARDS = ("", "0.0.0.0", "::", "localhost")


def build_app(config: Config, embed_agent: bool = False) -> web.Application:
    """``api.app.create_app`` plus the PyAV/detector pipeline that /6/videosdk runs, and with
    ``embed_agent`` the stream agent (sharing the same models)."""
    engines = Engines(config)
    app = create_app(config, video=VideoSdk(config, engines))
    if embed_agent:
        app.cleanup_ctx.append(embedded_agent(config, engines))
    return app


def local_url(config: Config) -> str:
    """Where this process's own API answers: loopback unless it listens on one address only."""
    host = config.server.host
    host = "127.0.0.1" if host in _WILDCARDS else host
    return f"http://{f'[{host}]' if ':' in host else host}:{config.server.port}"


async def _when_listening(host: str, port: int, then: Callable[[], Any]) -> None:
    """Call ``then`` once the server accepts connections (the site starts after startup hooks)."""
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        then()
        return


def embedded_agent(config: Config, engines: Engines) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        url = local_url(config)
        worker = AgentWorker(config, url, agent_key(config), engines)
        app[AGENT_WORKER] = worker
        host = url.split("//", 1)[1].rsplit(":", 1)[0].strip("[]")
        starting = asyncio.create_task(_when_listening(host, config.server.port, worker.start))
        yield
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        await asyncio.to_thread(worker.stop)

    return context
