"""Leaving unwanted disposable frames out of decoding changes nothing but the work done.

Every video is a real libx264/libx265 encode (tests/videos.py). The packet test is checked
against FFmpeg's own judgement (``skip_frame = NONREF`` decodes exactly the other frames), and
the decode loop's output with skipping is compared frame by frame, pixel by pixel, with a full
decode of the same file.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from agent.analytics_feed import AnalyticsFeed
from agent.video_skip import _annex_b, _h264_disposable, _length_prefixed, disposable_check
from agent.video_source import Frame, SourceOptions, VideoSource
from analytics.rate import Rate, RateSampler
from tests.videos import VTEST, synthetic_frames, synthetic_h264, truncate, write_h264

FPS = 10


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("skip")
    for name, container in (("h264.mp4", "mp4"), ("h264.mkv", "matroska"), ("h264.ts", "mpegts")):
        synthetic_h264(root / name, 4, FPS, 160, 120, container=container)
    write_h264(root / "hevc.mp4", synthetic_frames(4, FPS, 160, 120), FPS, codec="libx265")
    write_h264(root / "hevc.ts", synthetic_frames(2, FPS, 160, 120), FPS, codec="libx265", container="mpegts")
    # A camera dropping frames: pts jump by 5 frames after 24, a variable rate from then on.
    pts = [i for i in range(24)] + [i + 5 for i in range(24, 40)]
    write_h264(root / "gaps.mkv", synthetic_frames(4, FPS, 160, 120), FPS, container="matroska", pts=pts)
    write_h264(root / "long-faststart.mp4", synthetic_frames(6, FPS, 160, 120), FPS, faststart=True)
    return root


class Sampled:
    """The sampler part of an analytic: all the feed consults in the decode thread."""

    def __init__(self, unit: str, period: float) -> None:
        self.sampler = RateSampler(Rate(unit, period))


def decode(
    path: Path, skip: bool, *rates: tuple[str, float], **options: object
) -> tuple[VideoSource, list[Frame]]:
    feed = AnalyticsFeed([Sampled(unit, period) for unit, period in rates])  # type: ignore[misc]
    opts = SourceOptions(skip_unused_frames=skip, **options)  # type: ignore[arg-type]
    source = VideoSource(str(path), opts, feed.select, feed.wants)
    with source:
        return source, list(source.frames())


def assert_same(a: tuple[VideoSource, list[Frame]], b: tuple[VideoSource, list[Frame]]) -> None:
    (sa, fa), (sb, fb) = a, b
    assert [(f.index, f.time_offset) for f in fa] == [(f.index, f.time_offset) for f in fb]
    for x, y in zip(fa, fb, strict=True):
        np.testing.assert_array_equal(x.image, y.image)
    ra, rb = sa.report, sb.report
    assert (ra.frames_decoded, ra.error_count, ra.processed_parts) == (
        rb.frames_decoded,
        rb.error_count,
        rb.processed_parts,
    )


# -- which packets are disposable --------------------------------------------------------------


def nonref_decoded(path: Path) -> int:
    """Frames FFmpeg's decoder outputs when told to skip non-reference frames itself."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONREF"
        return sum(1 for _ in container.decode(stream))


@pytest.mark.parametrize("name", ["h264.mp4", "h264.mkv", "h264.ts", "hevc.mp4"])
def test_disposable_packets_are_the_ones_ffmpeg_skips(videos: Path, name: str) -> None:
    with av.open(str(videos / name)) as container:
        stream = container.streams.video[0]
        check = disposable_check(stream.codec_context)
        assert check is not None
        verdicts = [check(memoryview(p)) for p in container.demux(stream) if p.size]
    assert 0 < sum(verdicts) < len(verdicts)  # libx264/x265 veryfast use B-frames
    assert len(verdicts) - sum(verdicts) == nonref_decoded(videos / name)


def test_unknown_formats_are_never_skipped(videos: Path) -> None:
    """HEVC without an hvcC record may have several sub-layers; MPEG-4 Part 2 isn't parsed."""
    with av.open(str(videos / "hevc.ts")) as container:
        assert disposable_check(container.streams.video[0].codec_context) is None
    with av.open(str(VTEST)) as container:  # xvid
        assert disposable_check(container.streams.video[0].codec_context) is None


def nal(ref_idc: int, kind: int, payload: bytes = b"\x88\x84") -> bytes:
    return bytes([(ref_idc << 5) | kind]) + payload


def avcc(*units: bytes) -> memoryview:
    return memoryview(b"".join(len(u).to_bytes(4, "big") + u for u in units))


def test_h264_rules() -> None:
    disposable = lambda data: _h264_disposable(_length_prefixed(data, 4))  # noqa: E731
    assert disposable(avcc(nal(0, 6), nal(0, 1)))  # SEI + non-reference slice
    assert disposable(avcc(nal(0, 1), nal(0, 1)))  # two non-reference slices
    assert not disposable(avcc(nal(0, 1), nal(2, 1)))  # any reference slice keeps the packet
    assert not disposable(avcc(nal(3, 7), nal(0, 1)))  # a parameter set rides along
    assert not disposable(avcc(nal(0, 6)))  # no slice at all
    assert not disposable(memoryview(b"\x00\x00\x00\x09" + nal(0, 1)))  # length past the end
    assert not disposable(memoryview(b""))
    annex = b"\x00\x00\x00\x01" + nal(0, 9) + b"\x00\x00\x01" + nal(0, 1) + b"\x00\x00\x01" + nal(0, 1)
    assert _h264_disposable(_annex_b(memoryview(annex)))
    assert not _h264_disposable(_annex_b(memoryview(annex + b"\x00\x00\x01" + nal(1, 5))))


# -- the decode loop ---------------------------------------------------------------------------


RATES = [
    [("frame", 10)],
    [("frame", 3)],
    [("frame", 1)],
    [("second", 0.5)],
    [("second", 0.0)],
    [("frame", 7), ("second", 1.3)],  # two analytics: a frame is left out only if neither wants it
]


@pytest.mark.parametrize("name", ["h264.mp4", "h264.mkv", "h264.ts", "hevc.mp4"])
@pytest.mark.parametrize("rates", RATES, ids=str)
def test_skipping_changes_nothing_but_the_work(
    videos: Path, name: str, rates: list[tuple[str, float]]
) -> None:
    full = decode(videos / name, False, *rates)
    lean = decode(videos / name, True, *rates)
    assert_same(full, lean)
    assert full[0].report.frames_skipped == 0
    every_frame = any(p in (1, 0.0) for _, p in rates)
    assert (lean[0].report.frames_skipped == 0) == every_frame
    assert lean[0].report.frames_converted == len(lean[1])


def test_period_ten_skips_nearly_every_disposable_frame(videos: Path) -> None:
    source, frames = decode(videos / "h264.mp4", True, ("frame", 10))
    assert [f.index for f in frames] == [0, 10, 20, 30]
    disposable = 4 * FPS - nonref_decoded(videos / "h264.mp4")
    wanted_disposable = 4  # at most: frames 0, 10, 20, 30
    assert disposable - wanted_disposable <= source.report.frames_skipped <= disposable
    assert source.report.frames_decoded == 4 * FPS


def test_vtest_scene_at_720p(tmp_path: Path) -> None:
    """Real footage, where x264 places B-frames by content rather than on a fixed pattern."""
    from tests.videos import read_vtest

    path = write_h264(tmp_path / "people.mp4", read_vtest(0, 60), FPS)
    full, lean = decode(path, False, ("frame", 10)), decode(path, True, ("frame", 10))
    assert_same(full, lean)
    assert lean[0].report.frames_skipped > 10


def test_a_variable_rate_turns_skipping_off_and_changes_nothing(videos: Path) -> None:
    """After the jump the pts no longer predict the index: the first miss stops skipping."""
    for rates in ([("frame", 4)], [("second", 1.0)]):
        full, lean = decode(videos / "gaps.mkv", False, *rates), decode(videos / "gaps.mkv", True, *rates)
        assert_same(full, lean)
        assert 0 < lean[0].report.frames_skipped < 24  # only before the jump


@pytest.mark.parametrize("timestamps", ["server", "frame_rate", "pts"])
def test_timestamp_sources(videos: Path, timestamps: str) -> None:
    """Server time cannot be predicted for a frame still to come: nothing is skipped."""
    lean = decode(videos / "h264.mp4", True, ("frame", 5), timestamp_source=timestamps)
    assert (lean[0].report.frames_skipped == 0) == (timestamps == "server")
    if timestamps != "server":
        assert_same(decode(videos / "h264.mp4", False, ("frame", 5), timestamp_source=timestamps), lean)


def test_nothing_is_skipped_without_wants_or_when_turned_off(videos: Path) -> None:
    feed = AnalyticsFeed([Sampled("frame", 10)])  # type: ignore[list-item]
    source = VideoSource(str(videos / "h264.mp4"), SourceOptions(), feed.select)
    with source:
        assert len(list(source.frames())) == 4
    assert source.report.frames_skipped == 0
    assert decode(videos / "h264.mp4", False, ("frame", 10))[0].report.frames_skipped == 0


def test_truncation_is_still_found(videos: Path, tmp_path: Path) -> None:
    path = truncate(videos / "long-faststart.mp4", tmp_path / "cut.mp4", 0.5)
    for skip in (False, True):
        feed = AnalyticsFeed([Sampled("frame", 10)])  # type: ignore[list-item]
        source = VideoSource(str(path), SourceOptions(skip_unused_frames=skip), feed.select, feed.wants)
        with source, pytest.raises(Exception, match="truncated"):
            list(source.frames())


def test_a_live_rtsp_camera(tmp_path: Path) -> None:
    """RTSP's first frame has no pts and B-frames arrive in decode order over RTP: the same
    frames are picked at the same offsets, and the undecoded ones are still counted."""
    from tests import rtsp
    from tests.videos import read_vtest

    clip = write_h264(tmp_path / "clip.mp4", read_vtest(0, 100), FPS)
    port = rtsp.free_port()
    camera = rtsp.start_rtsp(clip, port)
    try:
        runs = []
        for skip in (False, True):
            feed = AnalyticsFeed([Sampled("frame", 3)])  # type: ignore[list-item]
            options = SourceOptions(skip_unused_frames=skip)
            source = VideoSource(f"rtsp://127.0.0.1:{port}/vtest", options, feed.select, feed.wants)
            picked = []
            with source:
                for frame in source.frames():
                    picked.append((frame.index, round(frame.time_offset, 3)))
                    if len(picked) == 10:  # 3 s of live video
                        break
            runs.append((picked, source.report))
    finally:
        camera.terminate()
        camera.wait(10)
    (full, full_report), (lean, lean_report) = runs
    assert full == lean == [(i, round(i / FPS, 3)) for i in range(0, 30, 3)]
    assert full_report.frames_skipped == 0 and lean_report.frames_skipped >= 3
    assert full_report.error_count == lean_report.error_count == 0
