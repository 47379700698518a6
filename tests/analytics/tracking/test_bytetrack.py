"""ByteTracker behaviour: ids through crossings and gaps, both association stages, probes, ends."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.detections import Detections
from analytics.tracking import ByteTracker, TrackerOutput, TrackerParams, TrackSnapshot
from analytics.tracking.assign import assign

FPS = 10.0


def box(cx: float, cy: float = 300.0, w: float = 40.0, h: float = 100.0) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def dets(boxes: list[list[float]], scores: list[float] | None = None) -> Detections:
    n = len(boxes)
    scores = [0.9] * n if scores is None else scores
    return Detections(
        np.array(boxes, np.float32).reshape(n, 4), np.array(scores, np.float32), np.zeros(n, np.int32)
    )


def by_detection(output: TrackerOutput) -> dict[int, TrackSnapshot]:
    return {t.detection_index: t for t in output.tracks if t.detection_index is not None}


def walk(tracker: ByteTracker, frames: int, start: float = 100.0, speed: float = 6.0) -> TrackerOutput:
    """One person walking right, ``speed`` px per frame, for ``frames`` frames from time 0."""
    output = TrackerOutput([], [])
    for k in range(frames):
        output = tracker.update(dets([box(start + speed * k)]), k / FPS)
    return output


def test_probe_count_three_reports_on_the_third_hit() -> None:
    tracker = ByteTracker(TrackerParams(probe_count=3))
    outputs = [tracker.update(dets([box(100 + 5 * k)]), k / FPS) for k in range(5)]
    assert [len(o.tracks) for o in outputs] == [0, 0, 1, 1, 1]
    assert [(t.track_id, t.status, t.hits) for o in outputs[2:] for t in o.tracks] == [
        (1, "started", 3),
        (1, "in_process", 4),
        (1, "in_process", 5),
    ]
    assert tracker.track_count == 1


@pytest.mark.parametrize("probe_count", [0, 1])
def test_probe_count_zero_or_one_reports_at_once(probe_count: int) -> None:
    tracker = ByteTracker(TrackerParams(probe_count=probe_count))
    first = tracker.update(dets([box(100)]), 0.0)
    assert [(t.track_id, t.status, t.hits, t.detection_index) for t in first.tracks] == [(1, "started", 1, 0)]
    second = tracker.update(dets([box(105)]), 0.1)
    assert [t.status for t in second.tracks] == ["in_process"]


def test_a_probe_that_misses_vanishes_silently() -> None:
    tracker = ByteTracker(TrackerParams(probe_count=3))
    tracker.update(dets([box(100)]), 0.0)
    tracker.update(dets([box(105)]), 0.1)
    outputs = [tracker.update(Detections.empty(), 0.2 + k / FPS) for k in range(40)]
    assert all(o.tracks == [] and o.finished == [] for o in outputs)
    assert tracker.track_count == 0 and tracker.finish() == []


def test_low_detections_need_a_high_one_to_start() -> None:
    tracker = ByteTracker(TrackerParams(probe_count=1))
    assert tracker.update(dets([box(100)], [0.55]), 0.0).tracks == []  # >= high, < new_track_score
    assert tracker.update(dets([box(100)], [0.3]), 0.1).tracks == []
    assert len(tracker.update(dets([box(100)], [0.65]), 0.2).tracks) == 1


def test_two_people_crossing_keep_their_ids() -> None:
    """Opposite directions, 8 px/frame, boxes overlapping fully at the crossing."""
    tracker = ByteTracker()
    ids: dict[str, set[int]] = {"a": set(), "b": set()}
    for k in range(40):
        a, b = box(100 + 8 * k, 300), box(412 - 8 * k, 310)
        # the one behind scores low while the other covers it (ByteTrack's second stage)
        behind = 0.3 if abs(k - 19.5) < 3 else 0.85
        snaps = by_detection(tracker.update(dets([a, b], [0.9, behind]), k / FPS))
        for name, index in (("a", 0), ("b", 1)):
            if index in snaps:
                ids[name].add(snaps[index].track_id)
    assert ids == {"a": {1}, "b": {2}}


def test_low_score_detection_keeps_a_track_alive() -> None:
    """Stage 2: a tracked person whose score drops below high_score is still followed."""
    for low_score, followed in ((0.1, True), (0.5, False)):
        tracker = ByteTracker(TrackerParams(low_score=low_score))
        walk(tracker, 5)
        outputs = [tracker.update(dets([box(100 + 6 * k)], [0.3]), k / FPS) for k in range(5, 10)]
        snaps = [o.tracks[0] for o in outputs]
        assert {s.track_id for s in snaps} == {1}
        if followed:
            assert [s.score for s in snaps] == pytest.approx([0.3] * 5)
            assert [s.detection_index for s in snaps] == [0] * 5
        else:
            assert all(s.score is None and s.detection_index is None for s in snaps)


def test_lost_track_is_predicted_then_reacquired_within_lost_time() -> None:
    tracker = ByteTracker()
    walk(tracker, 15)  # 6 px per frame = 60 px/s, last seen at x = 184 at t = 1.4
    gap = [tracker.update(Detections.empty(), k / FPS) for k in range(15, 35)]  # 2 s unseen
    for k, output in zip(range(15, 35), gap, strict=True):
        (snap,) = output.tracks
        assert snap.track_id == 1 and snap.score is None and snap.detection_index is None
        assert snap.status == "in_process" and output.finished == []
        assert abs((snap.xyxy[0] + snap.xyxy[2]) / 2 - (100 + 6 * k)) < 15  # predicted along the path
    back = tracker.update(dets([box(100 + 6 * 35)]), 3.5)
    assert [(t.track_id, t.detection_index, t.status) for t in back.tracks] == [(1, 0, "in_process")]
    assert tracker.track_count == 1


def test_track_lost_beyond_lost_time_finishes_and_a_new_id_follows() -> None:
    tracker = ByteTracker(TrackerParams(lost_time=3.0))
    walk(tracker, 5, speed=0.0)  # last seen at t = 0.4
    finished_at = {}
    for k in range(5, 40):
        output = tracker.update(Detections.empty(), k / FPS)
        if output.finished:
            finished_at[k] = output.finished
        if k / FPS - 0.4 <= 3.0 + 1e-9:
            assert [t.track_id for t in output.tracks] == [1]
    assert finished_at == {35: [1]}  # first update more than 3 s after t = 0.4
    outputs = [tracker.update(dets([box(100)]), 4.0 + k / FPS) for k in range(3)]
    assert [t.track_id for t in outputs[-1].tracks] == [2]
    assert tracker.track_count == 2


def test_finish_ends_tracked_and_lost_tracks_but_not_probes() -> None:
    tracker = ByteTracker()
    for k in range(4):
        tracker.update(dets([box(100 + 5 * k), box(400 + 5 * k)]), k / FPS)
    tracker.update(dets([box(120)]), 0.4)  # second one lost
    tracker.update(dets([box(125), box(700)]), 0.5)  # a probe appears
    assert tracker.finish() == [1, 2]
    assert tracker.finish() == []
    # a fresh start after finish(): no predictions from the old time, ids keep counting
    outputs = [tracker.update(dets([box(50)]), 100.0 + k / FPS) for k in range(3)]
    assert [t.track_id for t in outputs[-1].tracks] == [3]


def test_ids_are_per_instance() -> None:
    first, second = ByteTracker(), ByteTracker()
    walk(first, 5)
    walk(first, 5, start=500.0)  # same tracker, later person (time restarts: tiny dt)
    assert walk(second, 5).tracks[0].track_id == 1
    assert first.track_count == 2 and second.track_count == 1


def test_empty_detections() -> None:
    tracker = ByteTracker()
    output = tracker.update(Detections.empty(), 0.0)
    assert output.tracks == [] and output.finished == []
    walk(tracker, 4)
    output = tracker.update(Detections.empty(), 0.4)
    assert [(t.track_id, t.score) for t in output.tracks] == [(1, None)]


def test_skipped_frames_keep_ids_with_time_steps() -> None:
    """Every 2nd or 3rd frame (LUNA rate), 40-50 px/s: one id per person, matched every update."""
    for stride in (1, 2, 3):
        tracker = ByteTracker()
        ids = set()
        for k in range(0, 60, stride):
            people = [box(100 + 5 * k), box(700 - 4 * k, 200)]
            ids |= {(t.detection_index, t.track_id) for t in tracker.update(dets(people), k / FPS).tracks}
        assert ids == {(0, 1), (1, 2)}  # never predicted: every update is matched


def test_velocity_is_per_second_when_the_rate_drops() -> None:
    """Learned at 10 fps, a fast walker (80 px/s, 40 px wide) stays matched when only every 4th
    frame arrives (32 px per update). Counting updates as frames instead (ByteTrack's clock)
    predicts 8 px per update and loses the walker at the first jump."""
    frames = [*range(10), *range(13, 60, 4)]
    for clock, followed in (("seconds", True), ("updates", False)):
        tracker = ByteTracker()
        for n, k in enumerate(frames):
            time = k / FPS if clock == "seconds" else n / FPS
            output = tracker.update(dets([box(100 + 8 * k)], [0.7]), time)
        assert [t.track_id for t in output.tracks] == [1]
        assert (output.tracks[0].detection_index == 0) is followed


def test_repeated_timestamps_do_not_break_tracking() -> None:
    tracker = ByteTracker(TrackerParams(probe_count=1))
    for k in range(6):
        output = tracker.update(dets([box(100 + 5 * k)]), 1.0)
    assert [t.track_id for t in output.tracks] == [1]


def test_fifty_objects() -> None:
    rng = np.random.default_rng(1)
    start = np.stack([np.arange(50) % 10 * 180 + 60, np.arange(50) // 10 * 200 + 80], axis=1)
    velocity = rng.uniform(-5, 5, (50, 2))
    tracker = ByteTracker()
    owner: dict[int, int] = {}
    for k in range(40):
        centres = start + velocity * k + rng.normal(0, 1.0, (50, 2))
        shown = np.flatnonzero(rng.random(50) > 0.1) if k > 3 else np.arange(50)  # 10% missed
        boxes = [box(x, y, 40, 100) for x, y in centres[shown]]
        for snap in tracker.update(dets(boxes), k / FPS).tracks:
            if snap.detection_index is not None:
                person = int(shown[snap.detection_index])
                assert owner.setdefault(snap.track_id, person) == person
    assert sorted(owner) == list(range(1, 51)) and tracker.track_count == 50


def test_output_ordered_by_id_with_float32_boxes() -> None:
    tracker = ByteTracker(TrackerParams(probe_count=1))
    output = tracker.update(dets([box(500), box(100), box(300)]), 0.0)
    assert [t.track_id for t in output.tracks] == [1, 2, 3]
    assert [t.detection_index for t in output.tracks] == [0, 1, 2]
    assert all(t.xyxy.dtype == np.float32 and t.xyxy.shape == (4,) for t in output.tracks)


@pytest.mark.parametrize(
    "kwargs", [{"low_score": 0.6, "high_score": 0.5}, {"first_match_iou": 1.5}, {"lost_time": -1}]
)
def test_invalid_params(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TrackerParams(**kwargs)


def test_assignment_leaves_pairs_over_the_limit_out_of_the_optimum() -> None:
    """lapjv(cost_limit) semantics: (0,1) at 0.9 is not allowed, so (0,0) is best, not (1,0)."""
    pairs, rows, cols = assign(np.array([[0.1, 0.9], [0.2, 5.0]]), 0.8)
    assert pairs.tolist() == [[0, 0]] and rows.tolist() == [1] and cols.tolist() == [1]
    pairs, rows, cols = assign(np.zeros((0, 3)), 0.8)
    assert pairs.shape == (0, 2) and cols.tolist() == [0, 1, 2]


def test_fuse_score_weights_iou_by_the_detection_score() -> None:
    """IoU 0.31 with a 0.6 box: enough alone (>= 0.2), not once weighted (0.19)."""
    for fuse, same_id in ((False, True), (True, False)):
        tracker = ByteTracker(TrackerParams(probe_count=1, fuse_score=fuse, kalman_period=0.1))
        tracker.update(dets([box(100)]), 0.0)
        output = tracker.update(dets([box(121)], [0.6]), 0.1)
        assert [t.track_id for t in output.tracks if t.detection_index == 0] == [1 if same_id else 2]
