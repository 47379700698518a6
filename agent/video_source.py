"""The agent's video source: PyAV decoding of a local file or an RTSP stream in a thread of its own.

Decoding runs in a daemon thread feeding a bounded queue so it overlaps the consumer's
inference; a ``select`` callback drops frames before any pixel conversion, which is most of
the per-frame cost. Every FFmpeg failure becomes a ``VideoError`` and decode-thread errors
re-raise in the consumer. Nothing here knows about HTTP or LUNA: callers hand over a local
path or an ``rtsp://`` URL.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

import av

from agent.video_decode import DecodeLoop
from agent.video_errors import (
    AV_ERRORS,
    DecodeFailed,
    DecodeReport,
    NotAVideo,
    SourceTimeout,
    SourceUnavailable,
    VideoError,
    open_error,
    reason,
    safe_label,
)
from agent.video_types import Frame, SourceOptions, VideoInfo

__all__ = [
    "DecodeFailed",
    "DecodeReport",
    "Frame",
    "NotAVideo",
    "SourceOptions",
    "SourceTimeout",
    "SourceUnavailable",
    "VideoError",
    "VideoInfo",
    "VideoSource",
]

_LIVE_SCHEMES = ("rtsp", "rtsps")
# Containers whose header states the length, so ending well short of it means truncation.
# (MPEG-TS and raw streams only estimate it; FFmpeg flags their cut last frame corrupt.)
_DECLARED_LENGTH_FORMATS = {"matroska", "mov", "avi"}
_END = object()  # queue sentinel: the decode thread finished normally
_POLL = 0.05  # seconds between stop checks while waiting on the queue


class VideoSource:
    """Open once, iterate ``frames()`` once, ``close()`` (or use it as a context manager)."""

    def __init__(
        self,
        url: str,
        options: SourceOptions = SourceOptions(),  # noqa: B008 - frozen, so sharing is safe
        select: Callable[[int, float], bool] = lambda index, t: True,
        wants: Callable[[int, float], bool] | None = None,
    ) -> None:
        """``select`` picks frames (it may keep state); ``wants`` answers the same question
        for a frame still to come without side effects, which lets the decode loop leave out
        frames nobody wants (``agent.video_skip``). Without it every frame is decoded."""
        options.validate()
        self.url = url
        self.options = options
        self.select = select
        self.wants = wants if options.skip_unused_frames else None
        self.label = safe_label(url)
        self.is_live = urlsplit(url).scheme.lower() in _LIVE_SCHEMES
        self.report = DecodeReport()
        self.info: VideoInfo | None = None
        self._container: av.container.InputContainer | None = None
        self._loop: DecodeLoop | None = None
        self._queue: queue.Queue[object] = queue.Queue(options.queue_size)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- opening -------------------------------------------------------------------------------

    def open(self) -> VideoInfo:
        """Open and probe the source; raises SourceUnavailable or NotAVideo. Idempotent."""
        if self.info is not None:
            return self.info
        if self._closed:
            raise RuntimeError("VideoSource is closed")
        target, kwargs = self._target()
        started = time.monotonic()
        try:
            container = av.open(target, **kwargs)
        except AV_ERRORS as exc:
            elapsed = time.monotonic() - started
            raise open_error(exc, self.label, self.is_live, elapsed, self.options.open_timeout) from None
        try:
            self.info = self._probe(container)
        except BaseException:
            container.close()
            raise
        self._container = container
        return self.info

    def _target(self) -> tuple[str, dict[str, object]]:
        """What to hand av.open: no network URL but RTSP, no FFmpeg pseudo-protocol."""
        options = self.options
        if self.is_live:
            rtsp = {"rtsp_transport": "tcp", "timeout": str(int(options.read_timeout * 1e6))}
            return self.url, {"options": rtsp, "timeout": (options.open_timeout, options.read_timeout)}
        parts = urlsplit(self.url)
        if parts.scheme.lower() == "file":
            if parts.netloc not in ("", "localhost"):
                raise SourceUnavailable(f"video file '{self.label}' is not on this host")
            path = Path(unquote(parts.path))
        elif "://" in self.url:
            raise SourceUnavailable(f"unsupported scheme '{parts.scheme}' for a video source")
        else:
            path = Path(self.url)
        if not path.exists():
            raise SourceUnavailable(f"video file '{self.label}' not found")
        if not path.is_file():
            raise SourceUnavailable(f"video file '{self.label}' is not a regular file")
        # "file:" stops FFmpeg reading "concat:", "subfile," etc. as protocols; the whitelist
        # stops a playlist inside the file from reaching the network.
        return f"file:{path.resolve()}", {"options": {"protocol_whitelist": "file"}}

    def _probe(self, container: av.container.InputContainer) -> VideoInfo:
        if not container.streams.video:
            raise NotAVideo(f"'{self.label}' has no video stream")
        stream = container.streams.video[0]
        codec = stream.codec_context
        if codec is None:
            raise NotAVideo(f"'{self.label}' has a video codec this server cannot decode")
        stream.thread_type = "AUTO"
        if self.options.decoder_threads > 0:
            codec.thread_count = self.options.decoder_threads
        rate_q = stream.average_rate or stream.guessed_rate
        rate = float(rate_q) if rate_q else 0.0
        declared = self._declared(container, stream)
        duration = 0.0
        if not self.is_live:
            # Matroska's header states the end time, not the span: _declared() corrects that.
            stated = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0
            duration = declared or stated or (container.duration or 0) / 1e6
        frames = stream.frames if stream.frames > 0 else round(duration * rate) if duration and rate else 0
        width, height = codec.width, codec.height
        if self.options.rotation in (90, 270):
            width, height = height, width
        info = VideoInfo(width, height, rate, frames, duration, self.is_live)
        self._loop = DecodeLoop(
            stream,
            info,
            self.options,
            self.select,
            self._put,
            self._stop,
            self.label,
            declared,
            self.report,
            self.wants,
        )
        return info

    def _declared(self, container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
        """The video's span as its header states it, when the container stores one."""
        if self.is_live or not _DECLARED_LENGTH_FORMATS & set(container.format.name.split(",")):
            return None
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        if len(container.streams) == 1 and container.duration:
            return (container.duration - (container.start_time or 0)) / 1e6
        return None

    # -- consuming -----------------------------------------------------------------------------

    def frames(self) -> Iterator[Frame]:
        """Selected frames in order; decode errors re-raise here. Iterate once."""
        self.open()
        if self._thread is not None or self._closed:
            raise RuntimeError("VideoSource.frames() can be iterated only once")
        thread = threading.Thread(target=self._run, name="video-decode", daemon=True)
        self._thread = thread
        thread.start()
        try:
            while not self._stop.is_set():
                try:
                    item = self._queue.get(timeout=_POLL)
                except queue.Empty:
                    if not thread.is_alive() and self._queue.empty():
                        raise VideoError(f"decoding of '{self.label}' ended unexpectedly") from None
                    continue
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, Frame)
                yield item
        finally:
            self._stop.set()
            thread.join(timeout=0.5)  # a stalled RTSP read may hold it longer: close() waits

    def stop(self) -> None:
        """Ask decoding to end; safe from any thread, frames() returns within a poll interval."""
        self._stop.set()

    def close(self) -> None:
        """Stop, join the decode thread, release the container; idempotent."""
        self._stop.set()
        self._closed = True
        thread = self._thread
        if thread is not None:
            thread.join(timeout=self.options.read_timeout + 2.0)
            if thread.is_alive():
                return  # still inside an FFmpeg read: the thread closes the container itself
        self._close_container()

    def _close_container(self) -> None:
        with self._lock:
            container, self._container = self._container, None
        if container is not None:
            container.close()

    def __enter__(self) -> VideoSource:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the decode thread ---------------------------------------------------------------------

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        try:
            loop.run()
            item: object = _END
        except VideoError as exc:
            item = exc
        except av.FFmpegError as exc:  # outside demux/decode, e.g. a pixel-format conversion
            loop.report.error_count += 1
            item = loop.failed(reason(exc))
        except BaseException as exc:  # select() raised: the consumer sees its own exception
            item = exc
        try:
            self._put(item)
        finally:
            self._close_container()  # after the put: closing RTSP waits for TEARDOWN's answer

    def _put(self, item: object) -> None:
        """Blocks while the consumer is behind, gives up once stopped."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue
