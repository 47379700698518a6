"""Frame processing rate (LUNA ``rate``): which decoded frames an analytic gets to see.

The sampler runs on every decoded frame before any pixel conversion, so skipped frames cost
nothing but decoding. It is driven only by the frame index and time offset passed in (no clock),
which keeps it exact and testable.

* ``unit: frame``: take the first frame, then every frame whose index is at least ``period``
  past the last taken one (indices 0, p, 2p... when every frame is offered).
* ``unit: second``: take the first frame, then the first frame whose time offset is at least
  ``period`` seconds past the last taken one; ``period`` 0 takes every frame. If time goes
  backwards (timestamps reset) the frame is taken and the schedule restarts from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

UNITS = ("frame", "second")

# Timestamps such as 0.1 * k accumulate rounding error; without a tolerance a 0.1-second
# period at 10 fps would lose frames whose offset lands a hair below the due time.
EPSILON = 1e-6


@dataclass(frozen=True)
class Rate:
    """One frame is processed each ``period`` units (frames or seconds)."""

    unit: str
    period: float

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"rate unit must be one of {UNITS}, got {self.unit!r}")
        if self.unit == "frame" and (self.period < 1 or self.period != int(self.period)):
            raise ValueError(f"rate period in frames must be an integer >= 1, got {self.period}")
        if self.unit == "second" and self.period < 0:
            raise ValueError(f"rate period in seconds must be >= 0, got {self.period}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None, default: Rate) -> Rate:
        """The request's ``rate`` object, or the analytic's default when it is absent."""
        if params is None:
            return default
        return cls(unit=str(params["unit"]), period=float(params["period"]))


class RateSampler:
    """Decides per decoded frame, before any pixel conversion, whether analytics see it."""

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self._last_index: int | None = None
        self._last_time: float | None = None

    def ahead(self, index: int, time_offset: float) -> bool:
        """Whether a frame still to come may be taken, if every frame before it is offered.

        No side effect: the decoder asks this to leave unwanted frames undecoded, while the
        frames between the last taken one and this one are still in flight. Frame periods
        then follow a fixed schedule (last, last + period, ...); for seconds a False is as
        certain as ``due``'s, since frames taken in between only push the next due time later.
        """
        last = self._last_index
        if self.rate.unit == "frame" and last is not None and index > last:
            return (index - last) % self.rate.period == 0
        return self.due(index, time_offset)

    def due(self, index: int, time_offset: float) -> bool:
        """Whether ``take`` would take this frame now; no side effect."""
        if self.rate.unit == "frame":
            last = self._last_index
            # A smaller index means the counter restarted: treat it like the first frame.
            return last is None or not last <= index < last + self.rate.period
        last_time = self._last_time
        return (
            last_time is None
            or time_offset < last_time - EPSILON
            or time_offset >= last_time + self.rate.period - EPSILON
        )

    def take(self, index: int, time_offset: float) -> bool:
        """True when the frame with this 0-based decode index and offset (seconds) is due."""
        if not self.due(index, time_offset):
            return False
        if self.rate.unit == "frame":
            self._last_index = index
        else:
            self._last_time = time_offset
        return True

    def reset(self) -> None:
        """Forget the schedule (e.g. after an RTSP reconnect): the next frame is taken."""
        self._last_index = None
        self._last_time = None
