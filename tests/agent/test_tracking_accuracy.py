"""Tracking accuracy of the deployed chain: person detector -> ByteTracker -> MOT metrics.

The scenes (``bench.tracking_scenes``) are real vtest.avi people pasted on known paths over
the empty square, with crossings and a pillar; the detector is the fast configuration (one
416 pass, int8, score >= 0.1); scoring is motmetrics at IoU >= 0.5 (``bench.tracker``, which
also writes these numbers to RESULTS.md). Detections are computed once per module; every rate
replays them. ``pytest -s`` prints the tables.

Floors are the measured values rounded down by a few points (default ``TrackerParams``;
every frame: MOTA 0.806, IDF1 0.837; every 2nd: 0.754, 0.831; every 3rd: 0.711, 0.812).
IDF1 >= 0.8 on every frame is the product goal. MOTA is lower because it counts every person
the detector misses (its recall at IoU 0.5 is 89-94% here at score >= 0.1, 73-84% at >= 0.5)
and the ``probe_count - 1`` frames before a track is reported.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from bench.tracker import RATES, accumulate, detect_scene, make_detector, scenes, summary, table
from bench.tracking_scenes import Scene, make_scene
from engines.provision import ensure_person_detector
from tests.conftest import MODEL_ROOT

if TYPE_CHECKING:
    import pandas as pd

    from analytics.detections import Detections

pytest.importorskip("motmetrics")

IDF1_GOAL = 0.8
FLOORS = {  # rate -> (MOTA, IDF1)
    1: (0.78, IDF1_GOAL),
    2: (0.72, 0.80),
    3: (0.68, 0.78),
}
SCENE_IDF1 = 0.75  # every scene on its own, every frame (lowest measured: 0.790)
RATE_IDF1_DROP = 0.05  # every 2nd / 3rd frame keeps IDF1 within this of every frame


@pytest.fixture(scope="session")
def int8_416() -> Path:
    """The provisioned YOLOv3-tiny 416 int8 model (built once, cached between runs)."""
    MODEL_ROOT.mkdir(parents=True, exist_ok=True)
    return ensure_person_detector(MODEL_ROOT, 416, 416, precision="int8")


@pytest.fixture(scope="module")
def detected(int8_416: Path) -> list[tuple[Scene, list[Detections]]]:
    detector = make_detector(str(MODEL_ROOT))
    return [(scene, detect_scene(detector, scene)) for scene in scenes()]


@pytest.fixture(scope="module")
def metrics(detected: list[tuple[Scene, list[Detections]]]) -> dict[int, pd.DataFrame]:
    tables = {
        rate: summary({f"scene {s.seed}": accumulate(s, d, rate) for s, d in detected}) for rate in RATES
    }
    for rate, frame in tables.items():
        print(f"\nrate {rate}: every {rate} frame(s)\n{table(frame)}")
    return tables


def test_idf1_goal_on_every_frame(metrics: dict[int, pd.DataFrame]) -> None:
    overall = metrics[1].loc["OVERALL"]
    assert overall.idf1 >= IDF1_GOAL
    assert overall.mota >= FLOORS[1][0]


@pytest.mark.parametrize("rate", [2, 3])
def test_skipping_frames_keeps_idf1_close(metrics: dict[int, pd.DataFrame], rate: int) -> None:
    overall = metrics[rate].loc["OVERALL"]
    mota, idf1 = FLOORS[rate]
    assert overall.idf1 >= idf1
    assert overall.idf1 >= metrics[1].loc["OVERALL"].idf1 - RATE_IDF1_DROP
    assert overall.mota >= mota


def test_no_scene_falls_apart(metrics: dict[int, pd.DataFrame]) -> None:
    """The overall number must not hide one broken scene."""
    per_scene = metrics[1].drop(index="OVERALL")
    assert (per_scene.idf1 >= SCENE_IDF1).all(), per_scene


def _centre(box: tuple[float, float, float, float]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _at_edge(box: tuple[float, float, float, float], size: tuple[int, int]) -> bool:
    return box[0] <= 0 or box[2] >= size[0] or box[3] >= size[1]


def test_scenes_have_crossings_an_occlusion_and_edges() -> None:
    """What the accuracy numbers rest on: every scene has the promised hard cases."""
    for seed, people, frames in [(1, 6, 120), (4, 10, 150)]:
        scene = make_scene(seed, people, frames)
        tracks: dict[int, dict[int, tuple[float, float, float, float]]] = {}
        for index, boxes in enumerate(scene.truth):
            for truth in boxes:
                tracks.setdefault(truth.person_id, {})[index] = truth.xyxy
        assert len(tracks) == people
        # person 1 walks behind the pillar: gone for 0.5-1.5 s, seen before and after
        seen = sorted(tracks[1])
        gaps = [b - a - 1 for a, b in itertools.pairwise(seen) if b - a > 1]
        assert len(gaps) == 1 and 5 <= gaps[0] <= 15, gaps
        # crossings: two people near the same depth swap sides while their boxes overlap
        crossings = 0
        for a, b in itertools.combinations(tracks, 2):
            both = sorted(set(tracks[a]) & set(tracks[b]))
            dx = [_centre(tracks[a][i])[0] - _centre(tracks[b][i])[0] for i in both]
            near = [abs(_centre(tracks[a][i])[1] - _centre(tracks[b][i])[1]) < 40 for i in both]
            if any(x * y < 0 and n for x, y, n in zip(dx, dx[1:], near, strict=False)):
                crossings += 1
        assert crossings >= 2
        # people enter and leave through the frame's edges
        size = scene.frames.size
        assert any(min(t) > 0 and _at_edge(t[min(t)], size) for t in tracks.values())
        assert any(max(t) < frames - 1 and _at_edge(t[max(t)], size) for t in tracks.values())


def test_scenes_are_deterministic() -> None:
    first, second = make_scene(7, 6, 60), make_scene(7, 6, 60)
    assert first.truth == second.truth
    assert np.array_equal(first.frames[17], second.frames[17])
    assert first.frames[17].shape == (576, 768, 3) and first.frames[17].dtype == np.uint8
