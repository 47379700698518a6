"""Video source errors, the decode report, and the mapping of PyAV/FFmpeg exceptions onto them.

FFmpeg's exceptions name absolute paths and full URLs (with RTSP credentials); callers turn
these errors into API messages, so every message here is built from a safe ``label`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import av


class VideoError(Exception):
    """Base; message is a human-readable detail suitable for an API error."""


class SourceUnavailable(VideoError):
    """File missing/unreadable, RTSP host not answering/refusing, open timeout."""


class NotAVideo(VideoError):
    """Opens but has no video stream, container not recognised, or invalid data at open."""


@dataclass
class DecodeReport:
    """What the decode thread did; complete once ``frames()`` is exhausted."""

    frames_decoded: int = 0  # frames the video went through, frames_skipped included
    error_count: int = 0
    processed_parts: list[tuple[float, float]] = field(default_factory=list)
    stopped_by_error: bool = False
    last_error: str | None = None
    frames_converted: int = 0  # frames turned into ndarrays: proves `select` saves the work
    frames_skipped: int = 0  # disposable frames nobody wanted, counted but never decoded


class DecodeFailed(VideoError):
    """A decoding error mid-video with error_action "fail"."""

    def __init__(self, message: str, report: DecodeReport) -> None:
        super().__init__(message)
        self.report = report


class SourceTimeout(VideoError):
    """No packet for read_timeout seconds while streaming (e.g. an RTSP server stalls)."""


# Exceptions PyAV raises from FFmpeg calls; av.FFmpegError covers av.error.*.
AV_ERRORS: tuple[type[BaseException], ...] = (av.FFmpegError, OSError)


def safe_label(url: str) -> str:
    """The URL without user:password (RTSP) or the bare file name (no server directories)."""
    parts = urlsplit(url)
    if parts.scheme in ("rtsp", "rtsps"):
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))
    return url.rstrip("/").rsplit("/", 1)[-1] or url


def reason(exc: BaseException) -> str:
    """FFmpeg's error text without the file name it appends."""
    text = getattr(exc, "strerror", None)
    return str(text) if text else type(exc).__name__


def open_error(exc: BaseException, label: str, live: bool, elapsed: float, open_timeout: float) -> VideoError:
    """Map an ``av.open``/probe failure to the error the API reports."""
    if not live:
        if isinstance(exc, av.error.InvalidDataError):
            return NotAVideo(f"video file '{label}' is not a recognised video (unknown format or truncated)")
        if isinstance(exc, OSError):
            return SourceUnavailable(f"video file '{label}' cannot be read: {reason(exc)}")
        return NotAVideo(f"video file '{label}' cannot be opened: {reason(exc)}")
    if isinstance(exc, ConnectionRefusedError):
        return SourceUnavailable(f"RTSP source '{label}' refused the connection")
    timed_out = isinstance(exc, av.error.ExitError | TimeoutError) or elapsed >= 0.9 * open_timeout
    if timed_out:
        return SourceUnavailable(f"RTSP source '{label}' did not answer within {open_timeout:g} s")
    return SourceUnavailable(f"RTSP source '{label}' is unavailable: {reason(exc)}")


def is_timeout(exc: BaseException) -> bool:
    """PyAV's read-timeout interrupt surfaces as ExitError ("Immediate exit requested")."""
    return isinstance(exc, av.error.ExitError | TimeoutError)


def is_source_loss(exc: BaseException) -> bool:
    """I/O failures (connection reset, EIO) mean the source went away, not that data is bad."""
    return isinstance(exc, OSError) and not isinstance(exc, av.error.InvalidDataError)
