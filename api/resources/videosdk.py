"""POST /6/videosdk: the stream analytics run synchronously over one video (REST.md §3).

The handler validates, resolves the reference (``api.video.fetched``) and hands the job to
the pipeline the app was built with, in a worker pool of ``video.max_concurrent`` threads so
a long video never blocks the event loop. A timeout or a vanished client sets the job's
cancel flag; the pipeline stops at its next frame.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from aiohttp import web

from api import errors
from api.analytics_schemas import VIDEO_ANALYTICS_PARAMS, with_analytic_defaults
from api.errors import LunaError
from api.keys import CONFIG, VIDEO, VIDEO_POOL
from api.responses import respond
from api.validation import read_json
from api.video import VideoJob, fetched


def job_from_body(body: dict[str, Any], max_duration: float) -> VideoJob:
    video = body["video"]
    return VideoJob(
        source=video["url"],
        analytics=[with_analytic_defaults(item) for item in body["analytics"]],
        rotation=video.get("orientation", {}).get("angle", 0),
        start_time=float(video.get("pts", {}).get("start_time", 0.0)),
        error_action=video.get("error_handling", {}).get("action", "fail"),
        max_duration=max_duration,
    )


async def run_job(app: web.Application, job: VideoJob, timeout: float) -> dict[str, Any]:
    """Run ``job`` in the video pool; 503 (37001) after ``timeout`` seconds, cancelling it."""
    analytics = app.get(VIDEO)
    if analytics is None:
        raise LunaError(errors.NOT_IMPLEMENTED, "This server process was started without the video pipeline")
    cancel = threading.Event()
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(app[VIDEO_POOL], analytics.analyse, job, cancel)
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.shield(future)
    except TimeoutError:
        cancel.set()
        raise LunaError(
            errors.RESPONSE_TIMEOUT, f"Video analysis did not finish within {timeout:g} seconds"
        ) from None
    except asyncio.CancelledError:
        cancel.set()
        raise


async def videosdk(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    body = await read_json(request, VIDEO_ANALYTICS_PARAMS)
    job = job_from_body(body, config.video.max_duration)
    async with fetched(job.source, config) as source:
        result = await run_job(request.app, replace(job, source=source), config.video.request_timeout)
    return respond(request, result)


def make_pool(max_concurrent: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=max(1, max_concurrent), thread_name_prefix="videosdk")
