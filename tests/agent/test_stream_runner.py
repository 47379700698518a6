"""StreamRunner on real videos and a real RTSP camera (GStreamer), with the real person detector.

Status and events are what the server will see: 1 in_progress once frames flow, 2 done at a
video file's end, 3 restart while a lost camera is reconnected, 4 failure with the reason.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from agent.analytics_feed import Engines
from agent.stream_events import started_id
from agent.stream_runner import StreamRunner
from api.config import Config
from tests import rtsp
from tests.conftest import make_config
from tests.media import missing
from tests.videos import VTEST, not_a_video, vtest_h264
from tests.waiting import wait_until


class ListSink:
    """The spool's interface, in memory: batches in the order the runner emitted them."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self._lock = threading.Lock()

    def put(self, stream_id: str, events: list[dict[str, Any]]) -> None:
        with self._lock:
            self.batches.append(events)

    def pending(self, stream_id: str) -> int:
        return 0

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [event for batch in self.batches for event in batch]


def people_count(**parameters: Any) -> dict[str, Any]:
    params = {"people_count_threshold": 1, "probe_count": 1, "rate": {"unit": "frame", "period": 5}}
    return {
        "analytic_name": "people_count",
        "parameters": {"targets": ["coordinates", "overview"], "parameters": {**params, **parameters}},
    }


def lease(reference: str, *analytics: dict[str, Any], kind: str = "videofile", **data: Any) -> dict:
    return {
        "stream_id": "0b5c4f7e-8d3a-4c1e-9f00-000000000001",
        "account_id": "0b5c4f7e-8d3a-4c1e-9f00-0000000000aa",
        "version": 3,
        "name": "cam",
        "data": {"type": kind, "reference": reference, **data},
        "analytics": list(analytics) or [people_count()],
        "autorestart": {"restart": 0},
    }


def statuses(runner: StreamRunner) -> list[int]:
    return [entry["status"] for entry in runner.report()["logs"]]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not VTEST.is_file():
        missing(f"{VTEST} is missing: apt-get install -y opencv-doc")
    folder = tmp_path_factory.mktemp("media")
    vtest_h264(folder / "clip.mp4", start=200, count=40)
    vtest_h264(folder / "sideways.mp4", start=200, count=10, rotate=90)  # a camera mounted sideways
    not_a_video(folder / "notes.mp4")
    return folder


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(
        tmp_path,
        video={"open_timeout": 3.0, "read_timeout": 2.0},
        agent={"reconnect_max_delay": 2.0},
        fetch={"allowed_networks": ["127.0.0.1/32"]},
        person_detector={"input_width": 416, "input_height": 416, "score_threshold": 0.1},
    )


def run_to_end(runner: StreamRunner, timeout: float = 60) -> None:
    runner.start()
    assert runner.join(timeout), "the runner did not end"


def test_videofile_ends_done_with_crowd_events(media: Path, config: Config, engines: Engines) -> None:
    sink = ListSink()
    runner = StreamRunner(lease(str(media / "clip.mp4")), config, engines, sink)
    run_to_end(runner)
    report = runner.report()
    assert (report["status"], report["error"], report["version"]) == (2, None, 3)
    assert statuses(runner) == [1, 2]
    events = sink.events
    assert [e["event_status"] for e in events][:1] == ["started"]
    assert events[-1]["event_status"] == "finished"
    started = events[0]
    crowd_id = started["result"]["event_id"]
    assert started["event_id"] == started_id(crowd_id)
    assert set(started["result"]) == {
        "event_id",
        "track_id",
        "people_count",
        "time_offset",
        "people_coordinates",
    }
    assert started["result"]["people_count"] == len(started["result"]["people_coordinates"]) >= 1
    finished = [e for e in events if e["event_status"] == "finished"]
    assert all(e["event_id"] == e["result"]["event_id"] for e in finished)
    assert finished[0]["event_id"] == crowd_id  # started and finished name the same crowd
    assert finished[-1]["result"]["video_segment"]["end_time_offset"] == pytest.approx(3.5)
    assert isinstance(finished[0]["result"]["overview"]["image"], bytes)
    assert all(e["analytic_name"] == "people_count" and e["time"].endswith("+00:00") for e in events)


def test_rotation_and_start_time_reach_the_analytics(media: Path, config: Config, engines: Engines) -> None:
    sink = ListSink()
    ref = (media / "sideways.mp4").as_uri()  # file:// URLs are read as files
    runner = StreamRunner(lease(ref, rotation=90, pts={"start_time": 100}), config, engines, sink)
    run_to_end(runner)
    assert runner.status == 2
    started = sink.events[0]["result"]
    assert started["time_offset"] == pytest.approx(100.0)
    # Turned upright again: people are found, in the landscape frame's coordinates.
    assert started["people_count"] >= 1
    assert any(x > 576 for x, _ in started["people_coordinates"])


@pytest.mark.parametrize(
    ("reference", "analytic", "error"),
    [
        ("missing.mp4", None, "not found"),
        ("notes.mp4", None, "not a recognised video"),
        (
            "clip.mp4",
            people_count(roi={"x": 700, "y": 0, "width": 500, "height": 100}),
            "analytics.0.parameters",
        ),
    ],
)
def test_fatal_errors_end_in_failure(
    media: Path, config: Config, engines: Engines, reference: str, analytic: dict | None, error: str
) -> None:
    runner = StreamRunner(
        lease(str(media / reference), *([analytic] if analytic else [])), config, engines, ListSink()
    )
    run_to_end(runner)
    report = runner.report()
    assert report["status"] == 4
    assert error in report["error"]
    assert statuses(runner) == [4]


def test_human_tracking_reports_finished_tracks(media: Path, config: Config, engines: Engines) -> None:
    analytic = {
        "analytic_name": "human_tracking",
        "parameters": {
            "targets": ["body_detection", "aggregated_body_thumbnail"],
            "parameters": {"tracking": {"detector_type": "body"}, "rate": {"unit": "frame", "period": 2}},
        },
    }
    sink = ListSink()
    runner = StreamRunner(lease(str(media / "clip.mp4"), analytic), config, engines, sink)
    run_to_end(runner, timeout=120)
    assert runner.status == 2, runner.report()
    events = sink.events
    assert events and all(e["event_status"] == "finished" for e in events)
    assert len({e["event_id"] for e in events}) == len(events)
    assert all(e["event_id"] == e["result"]["event_id"] and e["result"]["frames_estimations"] for e in events)


async def serve_clip(media: Path, slow: bool = False) -> TestServer:
    """The clip over http; ``slow`` trickles it (a download that takes minutes)."""

    async def clip(request: web.Request) -> web.StreamResponse:
        if not slow:
            return web.FileResponse(media / "clip.mp4")
        response = web.StreamResponse(headers={"Content-Length": str(10**8)})
        await response.prepare(request)
        for _ in range(10_000):
            await response.write(b"\0" * 1000)
            await asyncio.sleep(0.05)
        return response

    app = web.Application()
    app.router.add_get("/clip.mp4", clip)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def finish_runner(runner: StreamRunner, timeout: float = 60) -> None:
    """Wait without blocking the loop the test's http server runs in."""
    deadline = time.monotonic() + timeout
    while runner.alive and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not runner.alive


@pytest.mark.parametrize("downloadable", [True, False])
async def test_http_video(media: Path, config: Config, engines: Engines, downloadable: bool) -> None:
    server = await serve_clip(media)
    try:
        reference = str(server.make_url("/clip.mp4"))
        sink = ListSink()
        runner = StreamRunner(lease(reference, downloadable=downloadable), config, engines, sink)
        runner.start()
        await finish_runner(runner)
    finally:
        await server.close()
    assert runner.status == 2, runner.report()
    assert sink.events
    assert not list((config.data_path / "agent" / "downloads").glob("*"))  # a copy is removed after


async def test_stop_during_a_download(media: Path, config: Config, engines: Engines) -> None:
    server = await serve_clip(media, slow=True)
    try:
        reference = str(server.make_url("/clip.mp4"))
        runner = StreamRunner(lease(reference, downloadable=True), config, engines, ListSink())
        runner.start()
        folder = config.data_path / "agent" / "downloads"
        deadline = time.monotonic() + 10
        while not (folder.is_dir() and any(p.stat().st_size for p in folder.iterdir())):
            assert time.monotonic() < deadline, "the download did not start"
            await asyncio.sleep(0.05)
        started = time.monotonic()
        runner.stop()
        await finish_runner(runner, timeout=2)
        assert time.monotonic() - started < 2
    finally:
        await server.close()
    assert runner.report()["logs"] == []  # released: nothing to report
    assert not list(folder.iterdir())


def test_rtsp_camera_lost_and_back(media: Path, config: Config, engines: Engines) -> None:
    port = rtsp.free_port()
    camera = rtsp.start_rtsp(media / "clip.mp4", port)
    sink = ListSink()
    runner = StreamRunner(lease(rtsp.url(port), kind="stream"), config, engines, sink)
    try:
        runner.start()
        wait_until(lambda: statuses(runner) == [1], 20, "frames to flow")
        wait_until(lambda: any(e["event_status"] == "started" for e in sink.events), 20, "a crowd event")
        rtsp.stop(camera)
        lost = wait_until(lambda: runner.status == 3, 15, "status 3 after the camera died")
        print(f"camera loss noticed after {lost:.2f} s")
        # The open crowd ends where the camera did.
        wait_until(lambda: sink.events[-1]["event_status"] == "finished", 5, "the crowd to finish")
        before = len(sink.events)
        camera = rtsp.start_rtsp(media / "clip.mp4", port)
        back = wait_until(lambda: runner.status == 1, 20, "status 1 after the camera came back")
        print(f"frames flowing again {back:.2f} s after the camera restarted")
        assert statuses(runner) == [1, 3, 1]
        wait_until(lambda: len(sink.events) > before, 20, "events after the reconnection")
        offsets = [e["result"]["time_offset"] for e in sink.events if e["event_status"] == "started"]
        assert offsets == sorted(offsets) and len(offsets) >= 2  # one timeline across connections
        started = time.monotonic()
        runner.stop()
        assert runner.join(2.0)
        print(f"stopped in {time.monotonic() - started:.3f} s")
    finally:
        runner.stop()
        rtsp.stop(camera)


def test_camera_down_at_start_is_a_restart(config: Config, engines: Engines) -> None:
    runner = StreamRunner(lease(rtsp.url(rtsp.free_port()), kind="stream"), config, engines, ListSink())
    runner.start()
    wait_until(lambda: runner.status == 3, 10, "status 3")
    assert "refused" in (runner.error or "")
    started = time.monotonic()
    runner.stop()
    assert runner.join(2.0)
    assert time.monotonic() - started < 2.0


@pytest.fixture
def silent_camera() -> Iterator[int]:
    """Accepts connections and never answers: opening it blocks until the open timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


def test_stop_while_connecting_is_prompt(config: Config, engines: Engines, silent_camera: int) -> None:
    config.video.open_timeout = 10.0
    reference = f"rtsp://127.0.0.1:{silent_camera}/vtest"
    runner = StreamRunner(lease(reference, kind="stream"), config, engines, ListSink())
    runner.start()
    time.sleep(0.5)  # inside FFmpeg's open now
    started = time.monotonic()
    runner.stop()
    assert runner.join(2.0)
    assert time.monotonic() - started < 1.0
    assert runner.status == 1 and statuses(runner) == []  # never had frames, never failed
