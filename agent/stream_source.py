"""Where a leased stream's frames come from: local file, RTSP camera, or an http(s) video.

A ``downloadable`` http(s) video is fetched whole first (through the fetch network policy and
the video size cap), anything else is handed to FFmpeg as is. Both the download and opening a
camera can take many seconds, so both are done so that ``stop`` interrupts them at once: a
released stream must let go within 2 s even while a camera does not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.analytics_feed import AnalyticsFeed
from agent.video_source import SourceOptions, SourceUnavailable, VideoInfo, VideoSource
from api.config import Config
from api.fetch import FetchError, download_to_file

HTTP_SCHEMES = ("http", "https")


class Stopped(Exception):
    """The stream was stopped while waiting for its source."""


class HttpVideoSource(VideoSource):
    """A video FFmpeg streams over http(s) itself (a non-``downloadable`` reference).

    ``VideoSource`` refuses network URLs other than RTSP because /6/videosdk must never let
    FFmpeg fetch what the network policy did not vet; a stream's reference was registered by
    an operator, so the agent reads it as given, with the same open/read timeouts as a camera.
    """

    def _target(self) -> tuple[str, dict[str, object]]:
        opts = self.options
        ffmpeg = {"rw_timeout": str(int(opts.read_timeout * 1e6)), "reconnect": "0"}
        return self.url, {"options": ffmpeg, "timeout": (opts.open_timeout, opts.read_timeout)}


def is_http(reference: str) -> bool:
    return urlsplit(reference).scheme.lower() in HTTP_SCHEMES


def make_source(reference: str, options: SourceOptions, feed: AnalyticsFeed) -> VideoSource:
    kind = HttpVideoSource if is_http(reference) else VideoSource
    return kind(reference, options, feed.select, feed.wants)


def open_source(source: VideoSource, stop: threading.Event) -> VideoInfo:
    """``source.open()`` that gives up as soon as ``stop`` is set.

    FFmpeg's open blocks up to ``open_timeout`` and cannot be interrupted from outside, so it
    runs in a helper thread; when stopped, the helper closes the source once FFmpeg returns.
    """
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def attempt() -> None:
        try:
            outcome["info"] = source.open()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc
        finally:
            finished.set()
            if stop.is_set():
                source.close()

    threading.Thread(target=attempt, name="video-open", daemon=True).start()
    while not finished.wait(0.05):
        if stop.is_set():
            raise Stopped()
    if "error" in outcome:
        raise outcome["error"]
    if stop.is_set():
        raise Stopped()
    return outcome["info"]


class Download:
    """An http(s) video fetched into ``<data_dir>/agent/downloads``; ``cancel`` from any thread."""

    def __init__(self, config: Config, reference: str) -> None:
        self.config = config
        self.reference = reference
        folder = config.data_path / "agent" / "downloads"
        folder.mkdir(parents=True, exist_ok=True)
        self.path: Path = folder / f"video-{uuid.uuid4().hex}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[int] | None = None
        self._cancelled = False
        self._lock = threading.Lock()

    def fetch(self) -> Path:
        """Download (blocking); raises SourceUnavailable on failure, Stopped when cancelled."""
        video = self.config.video
        coro = download_to_file(
            self.reference, self.config.fetch, self.path, video.max_download_bytes, video.download_timeout
        )
        loop = asyncio.new_event_loop()
        try:
            with self._lock:
                if self._cancelled:
                    coro.close()
                    raise Stopped()
                self._loop, self._task = loop, loop.create_task(coro)
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            raise Stopped() from None
        except FetchError as exc:
            raise SourceUnavailable(f"failed to download video '{self.reference}': {exc}") from None
        finally:
            with self._lock:
                self._loop = self._task = None
            loop.close()
        return self.path

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._loop is not None and self._task is not None:
                with contextlib.suppress(RuntimeError):  # the loop just closed
                    self._loop.call_soon_threadsafe(self._task.cancel)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
