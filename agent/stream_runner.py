"""One leased stream in a thread of its own: source -> analytics -> stream events, with status.

Statuses follow the spec's ``stream_status``: 1 in_progress once frames flow, 3 restart while a
lost camera is reconnected (backoff 1 s doubling up to ``agent.reconnect_max_delay``), 2 done
when a video file ends (after its last events are emitted *and* delivered, so a client that
sees "done" finds every event), 4 failure on errors retrying cannot fix. A live stream
(``data.type`` "stream") never ends by itself: an end of data is a loss like any other.
Every status change is logged with its time for the server's stream logs.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

from agent.analytics_feed import AnalyticsFeed, Engines, ParameterError, build_analytic, source_options
from agent.stream_events import EventMaker, wall_clock
from agent.stream_source import Download, Stopped, is_http, make_source, open_source
from agent.video_source import NotAVideo, SourceOptions, VideoError, VideoSource
from api.analytics_schemas import with_stream_analytic_defaults
from api.config import Config

IN_PROGRESS, DONE, RESTART, FAILURE = 1, 2, 3, 4
FINAL = (DONE, FAILURE)
MAX_LOGS = 500  # status changes kept for the next heartbeat (the server takes up to 1000)
STATUS_NAMES = {IN_PROGRESS: "in_progress", DONE: "done", RESTART: "restart", FAILURE: "failure"}

log = logging.getLogger("argus.agent.stream")


class EventSink(Protocol):
    """Where a runner's events go (the spool): ``put`` returns once they are safe."""

    def put(self, stream_id: str, events: list[dict[str, Any]]) -> None: ...

    def pending(self, stream_id: str) -> int: ...


class Fatal(Exception):
    """An error retrying cannot fix: the stream ends with status 4 and this message."""


class StreamRunner:
    """Processes one lease until stopped, or until a video file ends or fails."""

    def __init__(self, lease: dict[str, Any], config: Config, engines: Engines, sink: EventSink) -> None:
        self.lease = lease
        self.stream_id: str = lease["stream_id"]
        self.version: int = int(lease.get("version", 0))
        self.config = config
        self.engines = engines
        self.sink = sink
        data = lease.get("data") or {}
        self.data = data
        self.live = data.get("type", "videofile") == "stream"
        self.status = IN_PROGRESS  # reported while starting; logged once frames flow
        self.error: str | None = None
        self._logged: int | None = None
        self._logs: list[tuple[int, dict[str, Any]]] = []  # (sequence number, log entry)
        self._log_seq = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._source: VideoSource | None = None
        self._download: Download | None = None
        self._last_offset: float | None = None  # of the last frame of the current connection
        self._flowed = False  # whether the current connection delivered a frame
        # Real-time lag of a live stream, seconds: how much later than at its best moment this
        # connection analyses a frame (wall clock minus video time, against the smallest value
        # seen; a camera may burst buffered frames at first). Grows without bound when the
        # agent cannot keep up (frames queue in the socket); the streams benchmark reads it.
        self.lag = 0.0
        self._ahead: float | None = None  # smallest (monotonic - time_offset) of this connection
        self._thread = threading.Thread(target=self._run, name=f"stream-{self.stream_id[:8]}", daemon=True)

    # -- control (any thread) ------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the runner to end; it lets go of its source within a poll interval."""
        self._stop.set()
        source, download = self._source, self._download
        if source is not None:
            source.stop()
        if download is not None:
            download.cancel()

    def join(self, timeout: float | None = None) -> bool:
        """True when the thread has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def final(self) -> bool:
        """Ended with done or failure (nothing changes after): report it once, then forget it."""
        return self.status in FINAL

    def report(self) -> dict[str, Any]:
        """The heartbeat item: status, error and the status changes not yet acknowledged."""
        return self.snapshot()[0]

    def snapshot(self) -> tuple[dict[str, Any], int]:
        """``report()`` and the mark to ``acknowledge`` once the server has it."""
        with self._lock:
            item = {
                "stream_id": self.stream_id,
                "version": self.version,
                "status": self.status,
                "error": self.error,
                "logs": [entry for _, entry in self._logs],
            }
            return item, self._log_seq

    def acknowledge(self, mark: int) -> None:
        """The server stored the logs up to ``mark``: never send them again."""
        with self._lock:
            self._logs = [(seq, entry) for seq, entry in self._logs if seq > mark]

    # -- status --------------------------------------------------------------------------------

    def _set_status(self, status: int, error: str | None = None) -> None:
        with self._lock:
            self.status, self.error = status, error
            if status == self._logged:
                return
            self._logged = status
            self._log_seq += 1
            self._logs.append((self._log_seq, {"time": wall_clock(), "status": status, "error": error}))
            del self._logs[:-MAX_LOGS]  # a camera flapping through a long outage: keep the latest
        name = STATUS_NAMES[status]
        if error:
            log.warning("stream %s: %s: %s", self.stream_id, name, error)
        else:
            log.info("stream %s: %s", self.stream_id, name)

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._main()
        except Stopped:
            pass
        except Fatal as exc:
            self._set_status(FAILURE, str(exc))
        except Exception as exc:  # a bug must still end the stream visibly, not kill it silently
            log.exception("stream %s: unexpected error", self.stream_id)
            self._set_status(FAILURE, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            if self._download is not None:
                self._download.remove()

    def _main(self) -> None:
        try:
            analytics = [with_stream_analytic_defaults(item) for item in self.lease.get("analytics", [])]
        except (KeyError, TypeError) as exc:
            raise Fatal(f"bad analytics in the stream lease: {exc}") from None
        reference = str(self.data.get("reference", ""))
        if is_http(reference) and self.data.get("downloadable"):
            self._download = Download(self.config, reference)
            if self._stop.is_set():
                raise Stopped()
            try:
                reference = str(self._download.fetch())
            except VideoError as exc:
                raise Fatal(str(exc)) from None
        start_time = float((self.data.get("pts") or {}).get("start_time", 0.0))
        delay = 1.0
        while not self._stop.is_set():
            try:
                self._session(reference, analytics, start_time)
            except (VideoError, Fatal) as exc:
                if self._stop.is_set():  # the error is the stop itself (the source was closed)
                    return
                if not self.live or isinstance(exc, NotAVideo | Fatal):
                    raise Fatal(str(exc)) from None
                self._set_status(RESTART, str(exc))
            else:
                if self._stop.is_set():
                    return
                if not self.live:
                    self._await_delivery()
                    self._set_status(DONE)
                    return
                self._set_status(RESTART, "the stream ended")
            if self._flowed:
                delay = 1.0
            if self._last_offset is not None:  # time offsets keep growing across reconnections
                start_time = self._last_offset
            lost_at = time.monotonic()
            if self._stop.wait(delay):
                return
            start_time += time.monotonic() - lost_at
            delay = min(delay * 2, max(self.config.agent.reconnect_max_delay, 1.0))

    def _options(self, start_time: float) -> SourceOptions:
        try:
            options = source_options(
                self.config,
                rotation=int(self.data.get("rotation", 0)),
                start_time=start_time,
                timestamp_source=str(self.data.get("timestamp_source", "auto")),
            )
            options.validate()
        except (TypeError, ValueError) as exc:
            raise Fatal(f"bad stream data: {exc}") from None
        return options

    def _session(self, reference: str, analytics: list[dict[str, Any]], start_time: float) -> None:
        """One connection: open, analyse until the end or an error.

        Records the last frame's time offset and whether frames flowed (for the reconnection).
        On a source error the analytics are finished first, so their open events end where
        the video did.
        """
        feed = AnalyticsFeed()
        source = make_source(reference, self._options(start_time), feed)
        self._source = source  # from here on stop() reaches it; before, the checks below do
        self._last_offset, self._flowed, self._ahead = None, False, None
        makers: dict[int, EventMaker] = {}
        try:
            info = open_source(source, self._stop)
            for index, analytic in enumerate(analytics):
                try:
                    run = build_analytic(analytic, info, self.engines)
                except ParameterError as exc:
                    raise Fatal(f"analytics.{index}.parameters.{exc.field}: {exc.message}") from None
                makers[id(run)] = EventMaker(run)
                feed.runs.append(run)
            for frame in source.frames():
                if not self._flowed:
                    self._flowed = True
                    self._set_status(IN_PROGRESS)
                self._emit([e for run, out in feed.feed(frame) for e in makers[id(run)].after_process(out)])
                self._last_offset = frame.time_offset
                behind = time.monotonic() - frame.time_offset
                self._ahead = behind if self._ahead is None else min(self._ahead, behind)
                self.lag = behind - self._ahead
        except VideoError:
            if not self._stop.is_set():
                self._emit([e for maker in makers.values() for e in maker.finish()])
            raise
        finally:
            self._source = None
            self._close(source)
        if not self._stop.is_set():
            self._emit([e for maker in makers.values() for e in maker.finish()])

    def _close(self, source: VideoSource) -> None:
        if self._stop.is_set():
            # close() may wait for a stalled camera read; the stream must let go at once.
            threading.Thread(target=source.close, name="video-close", daemon=True).start()
        else:
            source.close()

    def _emit(self, events: list[dict[str, Any]]) -> None:
        if events:
            self.sink.put(self.stream_id, events)

    def _await_delivery(self) -> None:
        """Hold "done" back until the server has every event of the video (or dropped them)."""
        while self.sink.pending(self.stream_id) and not self._stop.wait(0.1):
            pass
        if self._stop.is_set():
            raise Stopped()
