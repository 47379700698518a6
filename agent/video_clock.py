"""Frame time offsets from pts, the frame rate or the server clock (``timestamp_source``).

Kept apart from the decoder so the fallback rules (missing first pts on RTSP, non-monotonic
pts in broken files) are testable without crafting such videos.
"""

from __future__ import annotations

import time
from fractions import Fraction

TIMESTAMP_SOURCES = ("auto", "pts", "frame_rate", "server")
DEFAULT_RATE = 25.0  # when neither the container nor the codec knows the rate


class Clock:
    """Seconds since the first decoded frame, per ``timestamp_source``."""

    def __init__(self, source: str, frame_rate: float, time_base: Fraction | None) -> None:
        if source not in TIMESTAMP_SOURCES:
            raise ValueError(f"timestamp_source must be one of {TIMESTAMP_SOURCES}, not {source!r}")
        self.source = source
        self.interval = 1.0 / (frame_rate if frame_rate > 0 else DEFAULT_RATE)
        self.time_base = time_base
        self._first_pts: int | None = None
        self._anchor = 0.0  # offset given to the first frame that had a pts
        self._last: float | None = None
        self._started: float | None = None
        self._pts_broken = False  # auto: pts went backwards once, frame rate from then on

    def offset(self, index: int, pts: int | None) -> float:
        """Offset of decoded frame ``index`` (0-based), monotonic except with pure ``pts``."""
        if self.source == "server":
            now = time.monotonic()
            if self._started is None:
                self._started = now
            value = now - self._started
        elif self.source == "frame_rate":
            value = index * self.interval
        else:
            value = self._from_pts(index, pts)
        self._last = value
        return value

    def predict(self, index: int, pts: int | None) -> float | None:
        """The offset a coming frame will get, without moving the clock; None when only the
        frame's arrival can tell (server time, no pts yet, pts found broken)."""
        if self.source == "server":
            return None
        if self.source == "frame_rate":
            return index * self.interval
        if pts is None or not self.time_base or self._pts_broken or self._first_pts is None:
            return None
        return self._anchor + float((pts - self._first_pts) * self.time_base)

    def _from_pts(self, index: int, pts: int | None) -> float:
        following = index * self.interval if self._last is None else self._last + self.interval
        if pts is None or not self.time_base or self._pts_broken:
            return following  # e.g. RTSP's first frame: no pts yet
        if self._first_pts is None:
            self._first_pts, self._anchor = pts, following
        value = self._anchor + float((pts - self._first_pts) * self.time_base)
        if self.source == "auto" and self._last is not None and value <= self._last:
            self._pts_broken = True
            return following
        return value


class PtsSpan:
    """First and last pts of clean frames: the decoded length, whatever timestamp_source says."""

    def __init__(self) -> None:
        self.first: int | None = None
        self.last: int | None = None

    def add(self, pts: int | None) -> None:
        if pts is None:
            return
        if self.first is None:
            self.first = pts
        self.last = pts if self.last is None else max(self.last, pts)

    def seconds(self, time_base: Fraction | None, interval: float) -> float | None:
        """Seconds from the first frame to the end of the last, None without pts."""
        if self.first is None or self.last is None or not time_base:
            return None
        return float((self.last - self.first) * time_base) + interval
