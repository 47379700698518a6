"""VideoSdk's two savings change nothing in the answer: the real analytics, on real footage.

``video.skip_unused_frames`` leaves B-frames nobody samples undecoded and
``video.detection_workers`` runs the detections of several frames at once; both must give
byte-for-byte the result of the plain pipeline (every frame decoded, one detection at a time).
The HTTP side of /6/videosdk is tested in tests/api/test_videosdk*.py.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from agent.analytics_feed import Engines
from agent.videosdk import VideoSdk
from api.analytics_schemas import with_analytic_defaults
from api.video import VideoJob
from tests.conftest import make_config
from tests.videos import read_vtest, write_h264

PLAIN = {"skip_unused_frames": False, "detection_workers": 1}
LEAN = {"skip_unused_frames": True, "detection_workers": 3}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of vtest people as H.264 with B-frames (libx264 veryfast)."""
    return write_h264(tmp_path_factory.mktemp("sdk") / "people.mp4", read_vtest(0, 80), 10)


def analyse(clip: Path, engines: Engines, video: dict[str, Any], *analytics: dict[str, Any]) -> tuple:
    sdk = VideoSdk(make_config(Path("/nonexistent"), video=video), engines)
    job = VideoJob(source=str(clip), analytics=[with_analytic_defaults(a) for a in analytics])
    result = sdk.analyse(job, threading.Event())
    return result, job


PEOPLE = {
    "name": "people_count",
    "targets": ["people_count", "coordinates", "overview"],
    "parameters": {"rate": {"unit": "frame", "period": 4}, "people_count_threshold": 2, "probe_count": 2},
}
BODIES = {
    "name": "human_tracking",
    "targets": ["body_detection", "aggregated_body_samples"],
    "parameters": {"rate": {"unit": "frame", "period": 3}, "tracking": {"detector_type": "body"}},
}


def without_ids(value: Any) -> Any:
    """The result with its random UUIDs (event_id, track_id) blanked: they differ per run."""
    if isinstance(value, dict):
        return {k: "-" if k in ("event_id", "track_id") else without_ids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def left_undecoded(caplog: pytest.LogCaptureFixture) -> int:
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("video analysed")]
    caplog.clear()
    return int(re.search(r"(\d+) left undecoded", line).group(1))  # type: ignore[union-attr]


def test_savings_give_the_plain_pipelines_answer(
    clip: Path, engines: Engines, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="argus.videosdk")
    plain, _ = analyse(clip, engines, PLAIN, PEOPLE, BODIES)
    assert left_undecoded(caplog) == 0
    lean, _ = analyse(clip, engines, LEAN, PEOPLE, BODIES)
    assert left_undecoded(caplog) > 5  # frames neither analytic samples (not 4k, not 3k), B-frames
    assert without_ids(lean) == without_ids(plain)
    crowd = plain["analytics"][0]["result"]["crowd"]["events"]
    tracks = plain["analytics"][1]["result"]["tracking"]
    assert crowd and crowd[0]["overview"]["image"]  # the comparison covers real events and images
    assert tracks["track_count"] >= 3 and tracks["events"][0]["aggregated_estimations"]
    assert plain["video_data"]["frames_count"] == 80
