"""People counting (LUNA ``people_count``): per-frame counts grouped into crowd events.

State machine, fed once per processed frame with the centres of the counted people (already
ROI/DROI filtered, full-frame coordinates); the count is the number of centres:

* A frame *qualifies* when ``count >= people_count_threshold`` (threshold 0: every frame,
  empty ones included).
* Consecutive qualifying frames form a run. When the run reaches ``probe_count`` frames
  (0 or 1: its first frame), a crowd event starts and includes the whole run, so the event's
  ``start_time`` is the run's first frame. ``probe_count`` guards against one-frame false
  positives without losing the frames that proved the crowd.
* While an event is active every qualifying frame is appended to it.
* The first non-qualifying frame ends the event; ``update`` returns it with ``end_time`` =
  the last qualifying frame. A non-qualifying frame also discards a pending run.
* ``finish`` (end of video) returns the active event, if any; a run shorter than
  ``probe_count`` is discarded.

The event's ``people_count`` is the maximum count; ``overview_count`` is the first frame with
that maximum. With ``keep_overview`` the caller's frame object of that estimation is kept as
``overview`` (by reference, never copied); frame references of runs that never became events
and of frames that stopped being the maximum are dropped at once, so at most one frame is held
(the best of the pending run or of the active event; both never exist together).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class FrameCount:
    """People count estimation of one processed frame."""

    time_offset: float
    people_count: int
    coordinates: np.ndarray  # (N, 2) int centre points in full-frame coordinates

    def to_result(self, with_coordinates: bool) -> dict[str, Any]:
        """LUNA ``people_count_frame_estimation``."""
        result: dict[str, Any] = {"people_count": self.people_count, "time_offset": self.time_offset}
        if with_coordinates:
            result["people_coordinates"] = self.coordinates.tolist()
        return result


@dataclass
class CrowdEvent:
    """A span of consecutive frames with at least ``threshold`` people."""

    event_id: str
    track_id: str
    people_count: int
    start_time: float
    end_time: float
    frames: list[FrameCount]
    overview: Any | None
    overview_count: FrameCount | None

    def to_result(self, with_coordinates: bool) -> dict[str, Any]:
        """LUNA ``people_count_frame_aggregated`` without ``overview`` (the caller encodes images)."""
        return {
            "event_id": self.event_id,
            "track_id": self.track_id,
            "people_count": self.people_count,
            "video_segment": {"start_time_offset": self.start_time, "end_time_offset": self.end_time},
            "frames_estimations": [frame.to_result(with_coordinates) for frame in self.frames],
        }


def _coordinates(points: np.ndarray) -> np.ndarray:
    """(N, 2) points rounded half-up to int64 pixels."""
    points = np.asarray(points, dtype=np.float64)
    if points.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be an (N, 2) array, got shape {points.shape}")
    return np.floor(points + 0.5).astype(np.int64)


class PeopleCounter:
    """Turns per-frame people counts into crowd events (see the module docstring)."""

    def __init__(
        self,
        threshold: int,
        probe_count: int,
        keep_overview: bool = False,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        if threshold < 0 or probe_count < 0:
            raise ValueError(f"threshold ({threshold}) and probe_count ({probe_count}) must be >= 0")
        self.threshold = threshold
        self.probe_count = max(probe_count, 1)
        self.keep_overview = keep_overview
        self._new_id = new_id
        self._run: list[FrameCount] = []
        self._run_best: FrameCount | None = None
        self._run_best_frame: Any | None = None
        self._active: CrowdEvent | None = None

    @property
    def active(self) -> CrowdEvent | None:
        """The crowd event in progress, if any."""
        return self._active

    def update(self, time_offset: float, points: np.ndarray, frame: Any | None = None) -> list[CrowdEvent]:
        """Feed one processed frame; returns the event this frame ended (0 or 1 events)."""
        coordinates = _coordinates(points)
        count = len(coordinates)
        if count < self.threshold:
            self._drop_run()
            ended, self._active = self._active, None
            return [ended] if ended is not None else []
        estimation = FrameCount(float(time_offset), count, coordinates)
        kept = frame if self.keep_overview else None
        event = self._active
        if event is not None:
            event.frames.append(estimation)
            event.end_time = estimation.time_offset
            if count > event.people_count:
                event.people_count = count
                event.overview_count, event.overview = estimation, kept
            return []
        self._run.append(estimation)
        if self._run_best is None or count > self._run_best.people_count:
            self._run_best, self._run_best_frame = estimation, kept
        if len(self._run) >= self.probe_count:
            best = self._run_best
            assert best is not None  # set above for the run's first frame
            self._active = CrowdEvent(
                event_id=self._new_id(),
                track_id=self._new_id(),
                people_count=best.people_count,
                start_time=self._run[0].time_offset,
                end_time=estimation.time_offset,
                frames=self._run,
                overview=self._run_best_frame,
                overview_count=best,
            )
            self._run = []
            self._run_best = self._run_best_frame = None
        return []

    def finish(self) -> list[CrowdEvent]:
        """End of video: the active event (if any); a too-short run is discarded."""
        self._drop_run()
        ended, self._active = self._active, None
        return [ended] if ended is not None else []

    def _drop_run(self) -> None:
        self._run = []
        self._run_best = self._run_best_frame = None
