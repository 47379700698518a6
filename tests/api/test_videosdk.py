"""POST /6/videosdk with people_count on real video (vtest.avi and H.264 clips made from it)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import cv2
import msgpack
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent.app import build_app
from tests.api.test_middlewares import assert_error
from tests.conftest import ADMIN, make_config
from tests.media import missing
from tests.videos import VTEST, not_a_video, truncate, vtest_h264

PEOPLE_COUNT = {"name": "people_count", "targets": ["coordinates"]}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The media folder the test server may read: clips made once per module."""
    if not VTEST.is_file():
        missing(f"{VTEST} is missing: apt-get install -y opencv-doc")
    folder = tmp_path_factory.mktemp("media")
    vtest_h264(folder / "clip.mp4", start=200, count=60)
    vtest_h264(folder / "rotated.mp4", start=200, count=60, rotate=90)
    not_a_video(folder / "notes.txt")
    truncate(folder / "clip.mp4", folder / "truncated.mp4", 0.5)
    return folder


def video_config(tmp_path: Path, media: Path, **video: Any):  # type: ignore[no-untyped-def]
    return make_config(
        tmp_path,
        video={"media_dirs": [str(media), str(VTEST.parent)], **video},
        fetch={"allowed_networks": ["127.0.0.1/32"]},
    )


@pytest.fixture
async def vclient(aiohttp_client, tmp_path: Path, media: Path) -> TestClient:  # type: ignore[no-untyped-def]
    return await aiohttp_client(build_app(video_config(tmp_path, media)))


async def analyse(client: TestClient, url: str, *analytics: dict, status: int = 200, **video: Any) -> Any:
    body = {"video": {"url": url, **video}, "analytics": list(analytics)}
    resp = await client.post("/6/videosdk", json=body, headers=ADMIN)
    payload = await resp.json()
    assert resp.status == status, payload
    return payload


def frames_of(result: dict) -> list[dict]:
    """Every frame estimation of the first analytic, over all its events, in time order."""
    events = result["analytics"][0]["result"]["crowd"]["events"]
    return [frame for event in events for frame in event["frames_estimations"]]


def every_frame(**parameters: Any) -> dict:
    """people_count that reports each processed frame: threshold 0 makes one endless event."""
    params = {"people_count_threshold": 0, "probe_count": 0, **parameters}
    return {"name": "people_count", "targets": ["coordinates"], "parameters": params}


async def test_vtest_crowd_events_with_overview(vclient: TestClient) -> None:
    analytic = {
        "name": "people_count",
        "targets": ["coordinates", "overview"],
        "parameters": {
            "people_count_threshold": 3,
            "probe_count": 2,
            "image_retain_policy": {"max_size": 320},
        },
    }
    result = await analyse(vclient, str(VTEST), analytic)
    data = result["video_data"]
    assert data["frames_count"] == 795 and data["frame_rate"] == pytest.approx(10)
    assert data["duration"] == pytest.approx(79.5, abs=0.2)
    assert data["error_count"] == 0
    assert data["processed_parts"][0]["start_offset"] == pytest.approx(0)
    assert data["processed_parts"][0]["end_offset"] == pytest.approx(79.4, abs=0.2)
    (people_count,) = result["analytics"]
    assert people_count["name"] == "people_count"
    events = people_count["result"]["crowd"]["events"]
    assert events, "vtest.avi has crowds of 3+ people"
    for event in events:
        counts = [f["people_count"] for f in event["frames_estimations"]]
        assert len(counts) >= 2 and min(counts) >= 3 and event["people_count"] == max(counts)
        offsets = [f["time_offset"] for f in event["frames_estimations"]]
        assert offsets == sorted(offsets)
        assert event["video_segment"] == {"start_time_offset": offsets[0], "end_time_offset": offsets[-1]}
        assert all(len(f["people_coordinates"]) == f["people_count"] for f in event["frames_estimations"])
        overview = event["overview"]
        image = cv2.imdecode(np.frombuffer(__import__("base64").b64decode(overview["image"]), np.uint8), 1)
        assert image.shape == (240, 320, 3)  # 768x576 fitted into 320
        assert len(overview["people_coordinates"]) == event["people_count"]
        xy = np.asarray(overview["people_coordinates"])
        assert (xy >= 0).all() and (xy[:, 0] < 320).all() and (xy[:, 1] < 240).all()
    ids = [e["event_id"] for e in events] + [e["track_id"] for e in events]
    assert len(set(ids)) == len(ids)


async def test_msgpack_answer_carries_binary_images(vclient: TestClient, media: Path) -> None:
    body = {
        "video": {"url": "clip.mp4"},
        "analytics": [
            {
                "name": "people_count",
                "targets": ["overview"],
                "parameters": {"image_retain_policy": {"mimetype": "PNG"}},
            }
        ],
    }
    resp = await vclient.post("/6/videosdk", json=body, headers={**ADMIN, "Accept": "application/msgpack"})
    assert resp.status == 200 and resp.content_type == "application/msgpack"
    result = msgpack.unpackb(await resp.read())
    (event, *_) = result["analytics"][0]["result"]["crowd"]["events"]
    assert event["overview"]["image"][:8] == b"\x89PNG\r\n\x1a\n"
    assert "people_coordinates" not in event["frames_estimations"][0]


async def test_rotation_restores_the_scene(vclient: TestClient) -> None:
    """The rotated clip holds the same frames turned 90 degrees counter-clockwise."""
    upright = [f["people_count"] for f in frames_of(await analyse(vclient, "clip.mp4", every_frame()))]
    turned = await analyse(vclient, "rotated.mp4", every_frame(), orientation={"angle": 90})
    restored = [f["people_count"] for f in frames_of(turned)]
    sideways = [f["people_count"] for f in frames_of(await analyse(vclient, "rotated.mp4", every_frame()))]
    assert len(upright) == len(restored) == 6
    assert np.abs(np.subtract(upright, restored)).mean() <= 0.5
    assert np.abs(np.subtract(upright, sideways)).mean() > np.abs(np.subtract(upright, restored)).mean()


async def test_percent_roi_crops_before_detection(vclient: TestClient) -> None:
    full = frames_of(await analyse(vclient, "clip.mp4", every_frame()))
    roi = {"mode": "percent", "x": 50, "y": 0, "width": 50, "height": 100}
    right = frames_of(await analyse(vclient, "clip.mp4", every_frame(roi=roi)))
    assert sum(f["people_count"] for f in right) < sum(f["people_count"] for f in full)
    for frame in right:
        assert all(x >= 384 for x, _ in frame["people_coordinates"])


async def test_droi_excluding_part_of_the_scene_lowers_counts(vclient: TestClient) -> None:
    full = frames_of(await analyse(vclient, "clip.mp4", every_frame()))
    lower_half = [{"x": 0, "y": 288}, {"x": 767, "y": 288}, {"x": 767, "y": 575}, {"x": 0, "y": 575}]
    droi = {"area": [lower_half], "mode": "abs", "form": "common"}
    kept = frames_of(await analyse(vclient, "clip.mp4", every_frame(droi=droi)))
    assert 0 < sum(f["people_count"] for f in kept) < sum(f["people_count"] for f in full)
    assert all(y >= 288 for frame in kept for _, y in frame["people_coordinates"])
    # the same region in percent gives the same answer
    percent = {
        "area": [[{"x": 0, "y": 50}, {"x": 100, "y": 50}, {"x": 100, "y": 100}, {"x": 0, "y": 100}]],
        "mode": "percent",
        "form": "common",
    }
    again = frames_of(await analyse(vclient, "clip.mp4", every_frame(droi=percent)))
    assert [f["people_count"] for f in again] == [f["people_count"] for f in kept]


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        ({"unit": "frame", "period": 1}, 60),
        ({"unit": "frame", "period": 7}, 9),
        ({"unit": "second", "period": 1}, 6),
        ({"unit": "second", "period": 2.5}, 3),
    ],
)
async def test_rate_in_frames_and_seconds(vclient: TestClient, rate: dict, expected: int) -> None:
    frames = frames_of(await analyse(vclient, "clip.mp4", every_frame(rate=rate)))
    assert len(frames) == expected
    step = rate["period"] / 10 if rate["unit"] == "frame" else rate["period"]
    assert [f["time_offset"] for f in frames] == pytest.approx([i * step for i in range(expected)])


async def test_threshold_and_probe_count(vclient: TestClient) -> None:
    nobody = {"people_count_threshold": 1000, "probe_count": 0}
    result = await analyse(vclient, "clip.mp4", {"name": "people_count", "parameters": nobody})
    assert result["analytics"][0]["result"]["crowd"]["events"] == []
    # probe_count longer than the processed frames: no event either
    never = {"people_count_threshold": 0, "probe_count": 7, "rate": {"unit": "frame", "period": 10}}
    result = await analyse(vclient, "clip.mp4", {"name": "people_count", "parameters": never})
    assert result["analytics"][0]["result"]["crowd"]["events"] == []
    exactly = {**never, "probe_count": 6}
    (event,) = (await analyse(vclient, "clip.mp4", {"name": "people_count", "parameters": exactly}))[
        "analytics"
    ][0]["result"]["crowd"]["events"]
    assert len(event["frames_estimations"]) == 6


async def test_pts_start_time_shifts_offsets(vclient: TestClient) -> None:
    frames = frames_of(await analyse(vclient, "clip.mp4", every_frame(), pts={"start_time": 100}))
    assert frames[0]["time_offset"] == pytest.approx(100) and frames[1]["time_offset"] == pytest.approx(101)


async def test_two_analytics_share_one_decode(vclient: TestClient) -> None:
    roi = {"mode": "abs", "x": 0, "y": 0, "width": 384, "height": 576}
    result = await analyse(
        vclient, "clip.mp4", every_frame(), every_frame(roi=roi, rate={"unit": "frame", "period": 20})
    )
    assert [len(frames_of({"analytics": [a]})) for a in result["analytics"]] == [6, 3]


async def test_http_download(aiohttp_client, aiohttp_server, tmp_path: Path, media: Path) -> None:  # type: ignore[no-untyped-def]
    async def clip(_: web.Request) -> web.FileResponse:
        return web.FileResponse(media / "clip.mp4")

    app = web.Application()
    app.router.add_get("/clip.mp4", clip)
    server = await aiohttp_server(app)
    client = await aiohttp_client(build_app(video_config(tmp_path, media)))
    result = await analyse(client, str(server.make_url("/clip.mp4")), every_frame())
    assert len(frames_of(result)) == 6
    assert not list((tmp_path / "data" / "tmp").iterdir()), "the downloaded copy is removed"
    await analyse(client, str(server.make_url("/missing.mp4")), PEOPLE_COUNT, status=400)
    # the default policy denies loopback: the server cannot be turned on itself
    strict = await aiohttp_client(
        build_app(make_config(tmp_path / "strict", video={"media_dirs": [str(media)]}))
    )
    resp = await strict.post(
        "/6/videosdk",
        json={"video": {"url": str(server.make_url("/clip.mp4"))}, "analytics": [PEOPLE_COUNT]},
        headers=ADMIN,
    )
    await assert_error(resp, 400, 11027)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("missing.mp4", 400, 99400),
        ("notes.txt", 400, 99400),
        ("/etc/passwd", 403, 99403),
        ("../../../../etc/hostname", 403, 99403),
        ("file:///etc/passwd", 403, 99403),
        ("ftp://example.com/video.mp4", 400, 99400),
    ],
)
async def test_bad_references(vclient: TestClient, url: str, status: int, code: int) -> None:
    resp = await vclient.post(
        "/6/videosdk", json={"video": {"url": url}, "analytics": [PEOPLE_COUNT]}, headers=ADMIN
    )
    await assert_error(resp, status, code)


async def test_dead_rtsp_source(vclient: TestClient) -> None:
    url = f"rtsp://127.0.0.1:{closed_port()}/live"
    resp = await vclient.post(
        "/6/videosdk", json={"video": {"url": url}, "analytics": [PEOPLE_COUNT]}, headers=ADMIN
    )
    body = await assert_error(resp, 400, 11027)
    assert "not available" in body["detail"]


async def test_truncated_video(vclient: TestClient) -> None:
    resp = await vclient.post(
        "/6/videosdk", json={"video": {"url": "truncated.mp4"}, "analytics": [PEOPLE_COUNT]}, headers=ADMIN
    )
    await assert_error(resp, 400, 99400)


@pytest.mark.parametrize(
    ("analytic", "path"),
    [
        ({"name": "crowd_count"}, "analytics.0.name"),
        (
            {"name": "people_count", "parameters": {"rate": {"unit": "frame", "period": 0}}},
            "analytics.0.parameters.rate.period",
        ),
        (
            {"name": "people_count", "parameters": {"rate": {"unit": "minute", "period": 1}}},
            "analytics.0.parameters.rate.unit",
        ),
        ({"name": "people_count", "parameters": {"probe_count": -1}}, "analytics.0.parameters.probe_count"),
        ({"name": "people_count", "parameters": {"threshold": 3}}, "analytics.0.parameters"),
        ({"name": "people_count", "targets": ["faces"]}, "analytics.0.targets.0"),
        (
            {
                "name": "people_count",
                "parameters": {"roi": {"mode": "percent", "x": 0, "y": 0, "width": 0, "height": 5}},
            },
            "analytics.0.parameters.roi.width",
        ),
        (
            {
                "name": "people_count",
                "parameters": {
                    "droi": {"area": [[{"x": 0, "y": 0}, {"x": 1, "y": 1}]], "mode": "abs", "form": "common"}
                },
            },
            "analytics.0.parameters.droi.area.0",
        ),
        (
            {
                "name": "people_count",
                "parameters": {"roi": {"mode": "abs", "x": 700, "y": 0, "width": 100, "height": 100}},
            },
            "analytics.0.parameters.roi",
        ),
    ],
)
async def test_invalid_parameters_name_the_field(vclient: TestClient, analytic: dict, path: str) -> None:
    resp = await vclient.post(
        "/6/videosdk", json={"video": {"url": "clip.mp4"}, "analytics": [analytic]}, headers=ADMIN
    )
    body = await assert_error(resp, 400, 12022)
    assert f"Path: '{path}'" in body["detail"]


async def test_request_shape_errors(vclient: TestClient) -> None:
    resp = await vclient.post("/6/videosdk", data=b"{", headers={**ADMIN, "Content-Type": "application/json"})
    await assert_error(resp, 400, 12022)
    resp = await vclient.post("/6/videosdk", data=b"x", headers={**ADMIN, "Content-Type": "text/plain"})
    await assert_error(resp, 400, 12017)
    resp = await vclient.post("/6/videosdk", json={"video": {"url": "clip.mp4"}})
    assert resp.status == 401


async def test_limits_answer_spec_errors(aiohttp_client, tmp_path: Path, media: Path) -> None:  # type: ignore[no-untyped-def]
    short = await aiohttp_client(build_app(video_config(tmp_path / "a", media, max_duration=2.0)))
    resp = await short.post(
        "/6/videosdk", json={"video": {"url": "clip.mp4"}, "analytics": [PEOPLE_COUNT]}, headers=ADMIN
    )
    await assert_error(resp, 413, 37003)
    hasty = await aiohttp_client(build_app(video_config(tmp_path / "b", media, request_timeout=0.05)))
    body = {"video": {"url": str(VTEST)}, "analytics": [every_frame(rate={"unit": "frame", "period": 1})]}
    resp = await hasty.post("/6/videosdk", json=body, headers=ADMIN)
    await assert_error(resp, 503, 37001)


async def test_long_video_does_not_block_other_requests(vclient: TestClient) -> None:
    # ~80 inferences at the default 1024x768: seconds of work, while /version takes milliseconds.
    body = {"video": {"url": str(VTEST)}, "analytics": [every_frame(rate={"unit": "frame", "period": 10})]}
    analysis = asyncio.create_task(vclient.post("/6/videosdk", json=body, headers=ADMIN))
    await asyncio.sleep(0.3)
    answered = 0
    while not analysis.done() and answered < 5:
        resp = await vclient.get("/version")
        assert resp.status == 200
        answered += 1
    assert answered == 5 and not analysis.done(), "other requests were served while the video ran"
    assert (await analysis).status == 200
