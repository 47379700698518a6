"""PeopleCounter state machine: thresholds, probe runs, event boundaries, maxima, results."""

from __future__ import annotations

import itertools
import json
import uuid

import numpy as np
import pytest

from analytics.people_count import CrowdEvent, PeopleCounter


def people(n: int, x0: float = 10.0) -> np.ndarray:
    return np.array([[x0 + 10 * i, 20.0] for i in range(n)]).reshape(-1, 2)


def sequential_ids() -> itertools.count:
    return itertools.count(1)


def counter(threshold: int, probe_count: int, keep_overview: bool = False) -> PeopleCounter:
    ids = sequential_ids()
    return PeopleCounter(threshold, probe_count, keep_overview, new_id=lambda: f"id-{next(ids)}")


def feed(pc: PeopleCounter, counts: list[int], fps: float = 10.0) -> list[tuple[int, CrowdEvent]]:
    """(frame index at which update returned it, event) for every event, finish() as index len."""
    ended = []
    for i, n in enumerate(counts):
        ended += [(i, e) for e in pc.update(i / fps, people(n), frame=f"frame-{i}")]
    ended += [(len(counts), e) for e in pc.finish()]
    return ended


def spans(events: list[tuple[int, CrowdEvent]]) -> list[tuple[float, float, int, int]]:
    """(start, end, people_count, number of frames) per event."""
    return [(e.start_time, e.end_time, e.people_count, len(e.frames)) for _, e in events]


def test_threshold_zero_every_frame_qualifies_including_empty() -> None:
    events = feed(counter(0, 3), [0, 0, 2, 0, 1])
    assert spans(events) == [(0.0, 0.4, 2, 5)]
    assert events[0][0] == 5  # only finish() ends it
    assert [f.people_count for f in events[0][1].frames] == [0, 0, 2, 0, 1]
    assert events[0][1].frames[0].coordinates.shape == (0, 2)


@pytest.mark.parametrize("probe_count", [0, 1])
def test_probe_zero_or_one_starts_on_first_qualifying_frame(probe_count: int) -> None:
    pc = counter(2, probe_count)
    assert pc.update(0.0, people(1)) == []
    assert pc.active is None
    assert pc.update(0.1, people(2)) == []
    assert pc.active is not None
    assert pc.active.start_time == 0.1
    ended = pc.update(0.2, people(1))
    assert spans([(0, e) for e in ended]) == [(0.1, 0.1, 2, 1)]
    assert pc.active is None


def test_probe_three_event_includes_the_whole_run() -> None:
    pc = counter(2, 3)
    counts = [1, 2, 3, 2, 4, 2, 1, 0]
    seen_active = []
    ended = []
    for i, n in enumerate(counts):
        ended += pc.update(i / 10, people(n))
        seen_active.append(pc.active is not None)
    assert seen_active == [False, False, False, True, True, True, False, False]
    assert spans([(0, e) for e in ended]) == [(0.1, 0.5, 4, 5)]
    event = ended[0]
    assert [f.time_offset for f in event.frames] == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert [f.people_count for f in event.frames] == [2, 3, 2, 4, 2]
    assert pc.finish() == []


def test_run_shorter_than_probe_count_never_makes_an_event() -> None:
    assert feed(counter(1, 3), [1, 1, 0, 1, 1, 0, 0, 1, 1]) == []


def test_short_run_then_long_run_starts_at_the_long_run() -> None:
    events = feed(counter(1, 3), [1, 1, 0, 1, 1, 1, 0])
    assert events[0][0] == 6
    assert spans(events) == [(0.3, 0.5, 1, 3)]


def test_event_ends_on_first_drop_and_is_returned_once() -> None:
    pc = counter(3, 2)
    for i, n in enumerate([3, 5, 3]):
        assert pc.update(float(i), people(n)) == []
    ended = pc.update(3.0, people(2))
    assert len(ended) == 1
    assert (ended[0].start_time, ended[0].end_time) == (0.0, 2.0)
    assert pc.update(4.0, people(0)) == []
    assert pc.finish() == []


def test_two_separate_events_have_different_ids() -> None:
    events = feed(counter(1, 2), [2, 2, 0, 3, 3, 3, 0, 1])
    assert spans(events) == [(0.0, 0.1, 2, 2), (0.3, 0.5, 3, 3)]
    ids = [(e.event_id, e.track_id) for _, e in events]
    assert ids == [("id-1", "id-2"), ("id-3", "id-4")]


def test_default_ids_are_uuid4() -> None:
    pc = PeopleCounter(1, 1)
    pc.update(0.0, people(1))
    (event,) = pc.finish()
    assert uuid.UUID(event.event_id).version == 4
    assert uuid.UUID(event.track_id).version == 4
    assert event.event_id != event.track_id


def test_finish_returns_active_event_and_resets() -> None:
    pc = counter(1, 1)
    pc.update(0.0, people(1))
    pc.update(0.5, people(2))
    (event,) = pc.finish()
    assert (event.start_time, event.end_time, event.people_count) == (0.0, 0.5, 2)
    assert pc.active is None
    assert pc.finish() == []
    # A new event after finish starts from scratch.
    pc.update(7.0, people(1))
    assert pc.active is not None
    assert pc.active.start_time == 7.0
    assert pc.active.event_id == "id-3"


def test_max_count_and_overview_pick_first_maximum() -> None:
    pc = counter(1, 3, keep_overview=True)
    counts = [2, 4, 1, 4, 3, 4, 0]
    ended = []
    for i, n in enumerate(counts):
        ended += pc.update(float(i), people(n, x0=i), frame=f"frame-{i}")
    (event,) = ended
    assert event.people_count == 4
    assert event.overview == "frame-1"
    assert event.overview_count is event.frames[1]
    assert event.overview_count.time_offset == 1.0
    assert event.overview_count.coordinates.tolist() == [[1, 20], [11, 20], [21, 20], [31, 20]]


def test_overview_maximum_found_after_the_event_started() -> None:
    pc = counter(1, 2, keep_overview=True)
    frames = [object() for _ in range(5)]
    for i, n in enumerate([1, 1, 5, 5, 2]):
        pc.update(float(i), people(n), frame=frames[i])
    (event,) = pc.finish()
    assert event.overview is frames[2]  # the same object, not a copy
    assert event.overview_count is event.frames[2]


def test_overview_frames_of_discarded_runs_are_dropped() -> None:
    pc = counter(1, 3, keep_overview=True)
    pc.update(0.0, people(9), frame="discarded")
    pc.update(1.0, people(0), frame="gap")
    assert pc._run_best_frame is None
    for i in range(2, 5):
        pc.update(float(i), people(1), frame=f"frame-{i}")
    (event,) = pc.finish()
    assert event.people_count == 1
    assert event.overview == "frame-2"


def test_without_keep_overview_no_frame_is_held() -> None:
    pc = counter(1, 1)
    pc.update(0.0, people(3), frame="frame-0")
    (event,) = pc.finish()
    assert event.overview is None
    assert event.overview_count is event.frames[0]


def test_coordinates_are_rounded_ints() -> None:
    pc = counter(1, 1)
    pc.update(0.0, np.array([[10.4, 20.5], [0.5, 99.6]], dtype=np.float32))
    (event,) = pc.finish()
    coordinates = event.frames[0].coordinates
    assert coordinates.dtype.kind == "i"
    assert coordinates.tolist() == [[10, 21], [1, 100]]


def test_points_must_be_pairs() -> None:
    with pytest.raises(ValueError, match="shape"):
        counter(1, 1).update(0.0, np.zeros((3, 3)))


def test_negative_parameters_rejected() -> None:
    with pytest.raises(ValueError, match="threshold"):
        PeopleCounter(-1, 3)


def test_to_result_with_and_without_coordinates() -> None:
    pc = counter(1, 2)
    pc.update(np.float64(0.04), people(1))
    pc.update(0.08, np.array([[5.2, 6.7], [100.0, 200.0]], dtype=np.float32))
    (event,) = pc.update(0.12, people(0))

    expected = {
        "event_id": "id-1",
        "track_id": "id-2",
        "people_count": 2,
        "video_segment": {"start_time_offset": 0.04, "end_time_offset": 0.08},
        "frames_estimations": [
            {"people_count": 1, "time_offset": 0.04},
            {"people_count": 2, "time_offset": 0.08},
        ],
    }
    plain = event.to_result(with_coordinates=False)
    assert plain == expected
    assert json.loads(json.dumps(plain)) == expected

    full = event.to_result(with_coordinates=True)
    assert [f["people_coordinates"] for f in full["frames_estimations"]] == [[[10, 20]], [[5, 7], [100, 200]]]
    assert json.loads(json.dumps(full)) == full
    coordinate = full["frames_estimations"][1]["people_coordinates"][0][0]
    assert type(coordinate) is int
    assert type(full["video_segment"]["start_time_offset"]) is float
