"""Analytic outputs -> the stream events an agent posts (``event_status`` started / finished).

The server de-duplicates on ``event_id``, so every id here is fixed by the analytic's own
result: a finished event reuses the result's ``event_id`` and a crowd's started event gets a
name-based uuid of it. A batch redelivered from the spool after a crash therefore never
creates a second event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from agent.analytics_feed import Analytic
from agent.people_count import PeopleCount
from analytics.people_count import CrowdEvent

STARTED_NAMESPACE = uuid.UUID("9a3c0c1e-3f57-4c1b-9d0e-5b0f4f1e2a61")


def wall_clock() -> str:
    return datetime.now(UTC).isoformat()


def envelope(analytic_name: str, status: str, result: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "analytic_name": analytic_name,
        "event_status": status,
        "time": wall_clock(),
        "result": result,
    }


def started_id(crowd_event_id: str) -> str:
    """The started event's id: derived from the crowd's id, so a redelivery keeps it."""
    return str(uuid.uuid5(STARTED_NAMESPACE, f"{crowd_event_id}:started"))


def crowd_started(run: PeopleCount, event: CrowdEvent) -> dict[str, Any]:
    """The frame that opened a crowd event, as the ws ``crowd`` started message shows it."""
    frame = event.frames[-1]
    result: dict[str, Any] = {
        "event_id": event.event_id,
        "track_id": event.track_id,
        "people_count": frame.people_count,
        "time_offset": frame.time_offset,
    }
    if "coordinates" in run.targets:
        result["people_coordinates"] = frame.coordinates.tolist()
    return envelope(run.name, "started", result, started_id(event.event_id))


class EventMaker:
    """Turns one analytic's ``process``/``finish`` output into stream events."""

    def __init__(self, run: Analytic) -> None:
        self.run = run
        self._open_crowd: str | None = None  # event_id of the crowd already announced

    def after_process(self, output: list[Any]) -> list[dict[str, Any]]:
        """Events for what one processed frame changed: crowds that ended, then one that began."""
        events = self._finished(output)
        if isinstance(self.run, PeopleCount):
            active = self.run.counter.active
            if active is not None and active.event_id != self._open_crowd:
                self._open_crowd = active.event_id
                events.append(crowd_started(self.run, active))
        return events

    def finish(self) -> list[dict[str, Any]]:
        """End of the video or loss of the camera: what the analytic still had open."""
        return self._finished(self.run.finish())

    def _finished(self, output: list[Any]) -> list[dict[str, Any]]:
        run = self.run
        # The analytics also collect every event for /6/videosdk's one answer; on an endless
        # stream that list (with its overview frames) would grow forever, and it is posted here.
        run.events.clear()
        events = []
        for item in output:
            if isinstance(run, PeopleCount):
                assert isinstance(item, CrowdEvent)
                result = run.event_result(item)
            else:
                result = item
            events.append(envelope(run.name, "finished", result, str(result["event_id"])))
        return events
