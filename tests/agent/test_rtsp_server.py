"""The GStreamer RTSP test camera: PyAV reads an endless, well-timed stream from it."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from tests import rtsp
from tests.media import missing
from tests.videos import VTEST, vtest_h264

CLIP_FRAMES = 20


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not VTEST.is_file():
        missing(f"{VTEST} is missing: apt-get install -y opencv-doc")
    return vtest_h264(tmp_path_factory.mktemp("rtsp") / "clip.mp4", start=300, count=CLIP_FRAMES)


@pytest.fixture
def camera(clip: Path) -> Iterator[int]:
    port = rtsp.free_port()
    process = rtsp.start_rtsp(clip, port)
    yield port
    rtsp.stop(process)


def test_serves_the_clip_in_an_endless_loop(camera: int) -> None:
    container = av.open(rtsp.url(camera), options={"rtsp_transport": "tcp"}, timeout=(10, 10))
    try:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (768, 576)
        times: list[float] = []
        for packet in container.demux(stream):
            for frame in packet.decode():
                if frame.pts is not None:  # RTSP's first frame may come without one
                    times.append(float(frame.pts * stream.time_base))
            if len(times) >= 2 * CLIP_FRAMES + 5:
                break
    finally:
        container.close()
    # Past the clip's end without a jump back: the loop continues the timeline.
    steps = [round(b - a, 3) for a, b in itertools.pairwise(times)]
    assert all(step == pytest.approx(0.1, abs=0.011) for step in steps), steps


def test_stop_closes_the_port(clip: Path) -> None:
    port = rtsp.free_port()
    process = rtsp.start_rtsp(clip, port)
    rtsp.stop(process)
    assert process.returncode is not None
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
