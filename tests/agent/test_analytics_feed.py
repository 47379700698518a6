"""AnalyticsFeed plumbing: frames reach the analytics that sampled them, detections may run
ahead on several threads, and analytics' state still changes in frame order.

The analytic here is a stand-in recording what it is given (the real ones are exercised on
real video in tests/api/test_videosdk*.py); this file is about the hand-over only.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from agent.analytics_feed import AnalyticsFeed
from agent.video_source import Frame
from analytics.rate import Rate, RateSampler


class Recorder:
    """Samples every ``period``-th frame; 'detects' the frame's index, then records updates."""

    def __init__(self, period: int, fail_at: int | None = None) -> None:
        self.sampler = RateSampler(Rate("frame", period))
        self.fail_at = fail_at
        self.updates: list[tuple[int, int, str]] = []
        self.detect_threads: set[str] = set()
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def detections(self, frame: Frame) -> int:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.detect_threads.add(threading.current_thread().name)
        time.sleep(0.01)  # an inference's worth of waiting, so detections can overlap
        with self._lock:
            self.running -= 1
        if frame.index == self.fail_at:
            raise RuntimeError(f"model failed on frame {frame.index}")
        return frame.index * 100

    def update(self, frame: Frame, seen: int) -> list[int]:
        self.updates.append((frame.index, seen, threading.current_thread().name))
        return [seen]

    def process(self, frame: Frame) -> list[int]:
        return self.update(frame, self.detections(frame))


def frames(feed: AnalyticsFeed, count: int = 40) -> list[Frame]:
    """Frames as the source delivers them: ``select`` ran first, only picked ones come."""
    image = np.zeros((4, 4, 3), np.uint8)
    return [Frame(i, i / 10, image) for i in range(count) if feed.select(i, i / 10)]


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_same_results_in_frame_order(workers: int) -> None:
    every, third = Recorder(1), Recorder(3)
    feed = AnalyticsFeed([every, third])  # type: ignore[list-item]
    outputs = list(feed.feed_ahead(frames(feed), workers))
    assert len(outputs) == 40
    assert [[(id(run), out) for run, out in per_frame] for per_frame in outputs] == [
        [(id(every), [i * 100])] + ([(id(third), [i * 100])] if i % 3 == 0 else []) for i in range(40)
    ]
    consumer = threading.current_thread().name
    assert every.updates == [(i, i * 100, consumer) for i in range(40)]
    assert [u[0] for u in third.updates] == list(range(0, 40, 3))


def test_detections_overlap_on_worker_threads() -> None:
    run = Recorder(1)
    feed = AnalyticsFeed([run])  # type: ignore[list-item]
    list(feed.feed_ahead(frames(feed), 3))
    assert run.most_at_once >= 2
    assert run.detect_threads and all(name.startswith("detect") for name in run.detect_threads)


def test_one_worker_detects_in_the_consumer_thread() -> None:
    run = Recorder(2)
    feed = AnalyticsFeed([run])  # type: ignore[list-item]
    list(feed.feed_ahead(frames(feed), 1))
    assert run.detect_threads == {threading.current_thread().name} and run.most_at_once == 1


def test_a_detection_error_reaches_the_consumer_in_order() -> None:
    run = Recorder(1, fail_at=7)
    feed = AnalyticsFeed([run])  # type: ignore[list-item]
    with pytest.raises(RuntimeError, match="frame 7"):
        list(feed.feed_ahead(frames(feed), 3))
    assert [u[0] for u in run.updates] == list(range(7))


def test_stopping_early_leaves_nothing_running() -> None:
    run = Recorder(1)
    feed = AnalyticsFeed([run])  # type: ignore[list-item]
    outputs = feed.feed_ahead(frames(feed), 3)
    next(outputs)
    outputs.close()
    assert run.running == 0
    assert [u[0] for u in run.updates] == [0]


def test_picks_of_undelivered_frames_are_dropped() -> None:
    run: Any = Recorder(1)
    feed = AnalyticsFeed([run])
    for i in range(5):
        feed.select(i, i / 10)
    image = np.zeros((4, 4, 3), np.uint8)
    # Frames 1 and 3 never arrive (e.g. the source stopped converting them): no stale picks.
    delivered = [Frame(i, i / 10, image) for i in (0, 2, 4)]
    assert [len(out) for out in feed.feed_ahead(delivered, 2)] == [1, 1, 1]
    assert [u[0] for u in run.updates] == [0, 2, 4]
