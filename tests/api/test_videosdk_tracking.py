"""POST /6/videosdk with human_tracking: faces and bodies tracked on real pixels."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from agent.app import build_app
from agent.human_tracking import faces_in_bodies
from analytics.detections import Detections
from api.descriptors import from_sdk
from engines.face.pipeline import FacePipeline, similarity_matrix
from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, MODEL_ROOT, make_config
from tests.media import load_photos, missing
from tests.videos import VTEST, vtest_h264, write_h264

FPS = 10
SECONDS = 12
# Where each face walks (row y, x at t=0, x speed px/s) and when it is visible: the
# astronaut is hidden for 4 s in the middle (longer than the tracker's 3 s lost-track buffer),
# so her walk becomes two tracks; she comes back altered (mirrored, darker, smaller).
WALKS = {
    "astronaut": (90, 40, 45.0),
    "grace_hopper": (250, 600, -35.0),
    "messi": (410, 80, 40.0),
}
HIDDEN = ("astronaut", 4.0, 8.0)


def head(photo: np.ndarray, faces: FacePipeline) -> np.ndarray:
    """The photo's largest face with some margin, about 130 px high."""
    box = max(faces.detect(photo), key=lambda f: f.box[2] - f.box[0]).box
    x1, y1, x2, y2 = box
    cx, cy, size = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * 1.5
    h, w = photo.shape[:2]
    crop = photo[
        max(int(cy - size / 2), 0) : min(int(cy + size / 2), h),
        max(int(cx - size / 2), 0) : min(int(cx + size / 2), w),
    ]
    return cv2.resize(crop, (130, 130), interpolation=cv2.INTER_AREA)


def paste(frame: np.ndarray, patch: np.ndarray, x: float, y: int) -> None:
    h, w = patch.shape[:2]
    x0 = round(x)
    lo, hi = max(x0, 0), min(x0 + w, frame.shape[1])
    if hi > lo:
        frame[y : y + h, lo:hi] = patch[:, lo - x0 : hi - x0]


@pytest.fixture(scope="module")
def faces_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not VTEST.is_file():
        missing(f"{VTEST} is missing: apt-get install -y opencv-doc")
    faces = FacePipeline.from_data_dir(MODEL_ROOT, upsample=1)
    heads = {name: head(photo, faces) for name, photo in load_photos().items()}
    altered = cv2.convertScaleAbs(cv2.flip(heads["astronaut"], 1), alpha=0.8, beta=-10)
    altered = cv2.resize(altered, (115, 115), interpolation=cv2.INTER_AREA)
    capture = cv2.VideoCapture(str(VTEST))
    ok, background = capture.read()
    capture.release()
    assert ok
    frames = []
    for i in range(SECONDS * FPS):
        t = i / FPS
        frame = background.copy()
        for name, (y, x0, speed) in WALKS.items():
            patch = heads[name]
            if name == HIDDEN[0]:
                if HIDDEN[1] <= t < HIDDEN[2]:
                    continue
                if t >= HIDDEN[2]:
                    patch = altered
            paste(frame, patch, x0 + speed * t, y)
        frames.append(frame)
    folder = tmp_path_factory.mktemp("tracking-media")
    write_h264(folder / "faces.mp4", frames, FPS, crf=18)
    vtest_h264(folder / "people.mp4", start=300, count=50)
    return folder


@pytest.fixture
async def tclient(aiohttp_client, tmp_path: Path, faces_video: Path) -> TestClient:  # type: ignore[no-untyped-def]
    config = make_config(tmp_path, video={"media_dirs": [str(faces_video)]})
    return await aiohttp_client(build_app(config))


async def track(client: TestClient, url: str, targets: list[str], **parameters: Any) -> dict:
    body = {
        "video": {"url": url},
        "analytics": [{"name": "human_tracking", "targets": targets, "parameters": parameters}],
    }
    resp = await client.post("/6/videosdk", json=body, headers=ADMIN)
    payload = await resp.json()
    assert resp.status == 200, payload
    (analytic,) = payload["analytics"]
    assert analytic["name"] == "human_tracking"
    return analytic["result"]["tracking"]


def descriptor(event: dict) -> np.ndarray:
    sdk = base64.b64decode(event["aggregated_estimations"]["face"]["descriptor"]["sdk_descriptor"])
    return from_sdk(sdk).values


async def test_face_tracks_split_by_occlusion_match_each_other(tclient: TestClient) -> None:
    targets = [
        "face_detection",
        "landmarks5",
        "aggregated_face_samples",
        "aggregated_face_thumbnail",
        "aggregated_face_descriptor",
    ]
    tracking = await track(tclient, "faces.mp4", targets, face_samples={"count": 3})
    events = tracking["events"]
    assert tracking["track_count"] == len(events) == 4, [e["video_segment"] for e in events]

    def row(event: dict) -> int:
        boxes = [f["estimated"]["face"]["detection"]["bbox"] for f in event["frames_estimations"]]
        return int(np.median([b["y"] + b["height"] / 2 for b in boxes]))  # walks at y 90, 250, 410

    by_row = sorted(events, key=lambda e: (row(e) // 160, e["video_segment"]["start_time_offset"]))
    before, after, *_others = by_row
    assert (
        before["video_segment"]["end_time_offset"] < 4.0 < 8.0 <= after["video_segment"]["start_time_offset"]
    )
    for event in events:
        face = event["aggregated_estimations"]["face"]
        assert 1 <= len(face["samples"]) <= 3 and face["thumbnail"] == face["samples"][0]
        assert event["aggregated_estimations"]["body"] is None
        first = event["frames_estimations"][0]["estimated"]
        assert first["body"] is None and len(first["face"]["landmarks5"]) == 5
        scores = [f["estimated"]["face"]["detection"]["score"] for f in event["frames_estimations"]]
        assert scores[0] is not None and scores[-1] is not None  # trailing predictions trimmed
    sims = similarity_matrix(
        np.stack([descriptor(e) for e in by_row]), np.stack([descriptor(e) for e in by_row])
    )
    same = sims[0, 1]
    assert same > 0.5, sims
    assert same > max(sims[0, 2], sims[0, 3], sims[1, 2], sims[1, 3]), sims


async def test_body_tracking_on_people(tclient: TestClient) -> None:
    targets = ["body_detection", "aggregated_body_samples", "aggregated_body_thumbnail", "overview"]
    tracking = await track(
        tclient,
        "people.mp4",
        targets,
        probe_count=3,
        body_samples={"count": 2},
        tracking={"detector_type": "body"},
    )
    events = tracking["events"]
    assert tracking["track_count"] == len(events) >= 3
    for event in events:
        frames = event["frames_estimations"]
        assert len(frames) >= 3
        assert all(f["estimated"]["face"] is None for f in frames)
        assert event["aggregated_estimations"]["face"] is None
        body = event["aggregated_estimations"]["body"]
        assert 1 <= len(body["samples"]) <= 2
        image = cv2.imdecode(np.frombuffer(base64.b64decode(body["thumbnail"]["image"]), np.uint8), 1)
        assert image.shape == (256, 128, 3)
        overview = event["overview"]
        assert overview["detection"]["face"] is None and overview["detection"]["body"]["score"] > 0
        assert event["video_segment"]["start_time_offset"] == frames[0]["time_offset"]
    ids = {e["track_id"] for e in events} | {e["event_id"] for e in events}
    assert len(ids) == 2 * len(events)


@pytest.mark.parametrize(
    ("targets", "parameters", "path", "words"),
    [
        (["face_detection", "emotions", "mask"], {}, "analytics.0.targets", "['emotions', 'mask']"),
        (
            ["body_detection"],
            {"tracking": {"detector_type": "face"}},
            "analytics.0.parameters.tracking.detector_type",
            "body",
        ),
        (
            ["face_detection"],
            {"tracking": {"detector_type": "body"}},
            "analytics.0.parameters.tracking.detector_type",
            "face",
        ),
        ([], {}, "analytics.0.targets", "should be non-empty"),
    ],
)
async def test_unavailable_or_incompatible_targets(
    tclient: TestClient, targets: list[str], parameters: dict, path: str, words: str
) -> None:
    body = {
        "video": {"url": "people.mp4"},
        "analytics": [{"name": "human_tracking", "targets": targets, "parameters": parameters}],
    }
    resp = await tclient.post("/6/videosdk", json=body, headers=ADMIN)
    error = await assert_error(resp, 400, 12022)
    assert f"Path: '{path}'" in error["detail"] and words in error["detail"]


def test_faces_belong_to_the_upper_part_of_a_body() -> None:
    bodies = np.array([[100, 100, 200, 400], [300, 100, 400, 400]], np.float32)
    faces = Detections(
        np.array([[130, 110, 170, 150], [330, 300, 370, 340], [320, 105, 380, 160]], np.float32),
        np.array([0.9, 0.95, 0.7], np.float32),
        np.zeros(3, np.int32),
    )
    # face 1 sits in body 1's lower half (a face on a T-shirt): not its face
    assert faces_in_bodies(bodies, faces) == {0: 0, 1: 2}


async def test_head_pose_filters_apply_when_pose_is_estimable(
    aiohttp_client,
    tmp_path: Path,
    faces_video: Path,  # type: ignore[no-untyped-def]
) -> None:
    """With the opt-in 68-point model, head angles filter samples; impossible limits keep none."""
    config = make_config(tmp_path, video={"media_dirs": [str(faces_video)]}, faces={"landmarks68": True})
    client = await aiohttp_client(build_app(config))
    targets = ["face_detection", "aggregated_face_samples"]
    wide = {"score": 0.0, "head_yaw": 90, "head_pitch": 90, "head_roll": 90}
    strict = {"score": 0.0, "head_yaw": 0, "head_pitch": 0, "head_roll": 0}

    async def samples(filters: dict) -> int:
        tracking = await track(client, "faces.mp4", targets, face_samples={"count": 5, "filters": filters})
        return sum(len(e["aggregated_estimations"]["face"]["samples"]) for e in tracking["events"])

    assert await samples(wide) == 20  # 4 tracks x 5 samples
    assert await samples(strict) == 0
