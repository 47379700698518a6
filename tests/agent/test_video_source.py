"""VideoSource against real H.264 files, damaged files and RTSP servers (refusing, silent, fake).

Every video is encoded here with libx264 (tests/videos.py); nothing is mocked, so these tests
pin down what FFmpeg actually does with each kind of bad input.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from agent.video_clock import Clock
from agent.video_decode import DecodeLoop, live_damage_limit
from agent.video_errors import DecodeReport
from agent.video_source import (
    DecodeFailed,
    Frame,
    NotAVideo,
    SourceOptions,
    SourceTimeout,
    SourceUnavailable,
    VideoError,
    VideoSource,
)
from agent.video_types import VideoInfo
from tests import media
from tests.rtsp import free_port
from tests.videos import (
    VTEST,
    audio_only,
    not_a_video,
    synthetic_frames,
    synthetic_h264,
    truncate,
    vtest_h264,
    write_h264,
)

FPS = 10
SECONDS = 2
COUNT = FPS * SECONDS


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small 160x120 H.264 videos in each container, made once per module."""
    root = tmp_path_factory.mktemp("videos")
    for name, container in (("small.mp4", "mp4"), ("small.mkv", "matroska"), ("small.ts", "mpegts")):
        synthetic_h264(root / name, SECONDS, FPS, 160, 120, container=container)
    synthetic_h264(root / "small.h264", SECONDS, FPS, 160, 120, container="h264")
    synthetic_h264(root / "long.mkv", 6, FPS, 160, 120, container="matroska")
    synthetic_h264(root / "long.ts", 6, FPS, 160, 120, container="mpegts")
    frames = synthetic_frames(6, FPS, 160, 120)
    write_h264(root / "long-faststart.mp4", frames, FPS, faststart=True)
    return root


def decode(url: str | Path, **options: object) -> tuple[VideoSource, list[Frame]]:
    source = VideoSource(str(url), SourceOptions(**options))  # type: ignore[arg-type]
    with source:
        return source, list(source.frames())


def decode_until_error(source: VideoSource) -> tuple[list[Frame], VideoError | None]:
    frames: list[Frame] = []
    with source:
        try:
            for frame in source.frames():
                frames.append(frame)
        except VideoError as exc:
            return frames, exc
    return frames, None


def decode_threads_alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "video-decode" and t.is_alive()]


# -- info and frames ---------------------------------------------------------------------------


def test_vtest_info() -> None:
    if not VTEST.is_file():
        media.missing(f"{VTEST} is missing: apt-get install -y opencv-doc")
    with VideoSource(str(VTEST)) as source:
        info = source.info
    assert info is not None
    assert (info.width, info.height, info.frame_rate, info.frames_count) == (768, 576, 10.0, 795)
    assert info.duration == pytest.approx(79.5)
    assert info.is_live is False


@pytest.mark.parametrize("name", ["small.mp4", "small.mkv", "small.ts"])
def test_every_frame_in_order_with_time_offsets(videos: Path, name: str) -> None:
    source, frames = decode(videos / name)
    assert source.info is not None
    assert (source.info.width, source.info.height, source.info.frame_rate) == (160, 120, 10.0)
    assert source.info.frames_count == COUNT
    assert source.info.duration == pytest.approx(SECONDS)
    assert [f.index for f in frames] == list(range(COUNT))
    assert [f.time_offset for f in frames] == pytest.approx([i / FPS for i in range(COUNT)])
    report = source.report
    assert (report.frames_decoded, report.frames_converted, report.error_count) == (COUNT, COUNT, 0)
    assert report.processed_parts == [pytest.approx((0.0, (COUNT - 1) / FPS))]
    assert report.stopped_by_error is False and report.last_error is None


def test_frames_are_bgr_uint8_contiguous_and_match_the_source(videos: Path) -> None:
    _, frames = decode(videos / "small.mp4")
    originals = list(synthetic_frames(SECONDS, FPS, 160, 120))
    for frame, original in zip(frames, originals, strict=True):
        assert frame.image.dtype == np.uint8 and frame.image.shape == (120, 160, 3)
        assert frame.image.flags["C_CONTIGUOUS"]
        diff = np.abs(frame.image.astype(int) - original).mean()
        swapped = np.abs(frame.image[:, :, ::-1].astype(int) - original).mean()
        assert diff < 6 < swapped  # lossy, but BGR (not RGB) and the right frame


def test_odd_width_is_still_contiguous(tmp_path: Path) -> None:
    """FFmpeg pads rows (linesize), so a raw to_ndarray view would be strided."""
    path = synthetic_h264(tmp_path / "odd.mp4", 0.3, FPS, 170, 126)
    _, frames = decode(path)
    assert frames and all(f.image.shape == (126, 170, 3) and f.image.flags["C_CONTIGUOUS"] for f in frames)


def test_frames_count_without_a_container_count(videos: Path) -> None:
    with VideoSource(str(videos / "small.h264")) as raw:
        assert raw.info is not None
        assert (raw.info.frames_count, raw.info.duration) == (0, 0.0)  # raw H.264: no length
    with VideoSource(str(videos / "small.ts")) as ts:
        assert ts.info is not None and ts.info.frames_count == COUNT  # duration * rate


def test_file_url(videos: Path) -> None:
    source, frames = decode((videos / "small.mkv").as_uri())
    assert len(frames) == COUNT and source.info is not None and source.info.is_live is False


# -- select, rotation, timing ------------------------------------------------------------------


def test_select_runs_in_the_decode_thread_and_skips_conversion(videos: Path) -> None:
    calls: list[tuple[int, float, str]] = []

    def every_third(index: int, t: float) -> bool:
        calls.append((index, t, threading.current_thread().name))
        return index % 3 == 0

    source = VideoSource(str(videos / "small.mp4"), select=every_third)
    with source:
        frames = list(source.frames())
    assert [f.index for f in frames] == list(range(0, COUNT, 3))
    assert [f.time_offset for f in frames] == pytest.approx([i / FPS for i in range(0, COUNT, 3)])
    assert [c[0] for c in calls] == list(range(COUNT))
    assert [c[1] for c in calls] == pytest.approx([i / FPS for i in range(COUNT)])
    assert {c[2] for c in calls} == {"video-decode"}
    assert source.report.frames_decoded == COUNT
    assert source.report.frames_converted == len(frames) == 7  # rejected frames never converted


def test_select_exception_reaches_the_consumer(videos: Path) -> None:
    def broken(index: int, t: float) -> bool:
        if index == 4:
            raise ZeroDivisionError("select broke")
        return True

    source = VideoSource(str(videos / "small.mp4"), select=broken)
    frames: list[Frame] = []
    with source, pytest.raises(ZeroDivisionError, match="select broke"):
        frames.extend(source.frames())
    assert len(frames) == 4
    assert not decode_threads_alive()


@pytest.mark.parametrize(
    ("rotation", "code"),
    [(90, cv2.ROTATE_90_CLOCKWISE), (180, cv2.ROTATE_180), (270, cv2.ROTATE_90_COUNTERCLOCKWISE)],
)
def test_rotation(videos: Path, rotation: int, code: int) -> None:
    _, upright = decode(videos / "small.mp4")
    source, rotated = decode(videos / "small.mp4", rotation=rotation)
    assert source.info is not None
    expected = (160, 120) if rotation == 180 else (120, 160)
    assert (source.info.width, source.info.height) == expected
    for plain, turned in zip(upright, rotated, strict=True):
        assert turned.image.shape == (expected[1], expected[0], 3)
        assert turned.image.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(turned.image, cv2.rotate(plain.image, code))


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotation_restores_a_sideways_camera(tmp_path: Path, rotation: int) -> None:
    """vtest_h264(rotate=r) is a camera turned r° counter-clockwise; rotation=r undoes it."""
    if not VTEST.is_file():
        media.missing(f"{VTEST} is missing: apt-get install -y opencv-doc")
    upright = vtest_h264(tmp_path / "upright.mp4", count=5, scale=(192, 144))
    sideways = vtest_h264(tmp_path / "sideways.mp4", count=5, scale=(192, 144), rotate=rotation)
    _, expected = decode(upright)
    source, restored = decode(sideways, rotation=rotation)
    assert source.info is not None and (source.info.width, source.info.height) == (192, 144)
    for want, got in zip(expected, restored, strict=True):
        assert np.abs(want.image.astype(int) - got.image).mean() < 4


def test_display_matrix_is_not_applied(tmp_path: Path) -> None:
    """Orientation comes from the analysis (SourceOptions.rotation), never from file tags."""
    path = write_h264(tmp_path / "tagged.mp4", synthetic_frames(0.3, FPS, 64, 48), FPS, rotate_meta=90)
    source, frames = decode(path)
    assert source.info is not None and (source.info.width, source.info.height) == (64, 48)
    assert frames[0].image.shape == (48, 64, 3)


def test_start_time_is_added(videos: Path) -> None:
    _, frames = decode(videos / "small.mkv", start_time=100.0)
    assert [f.time_offset for f in frames] == pytest.approx([100.0 + i / FPS for i in range(COUNT)])


@pytest.fixture(scope="module")
def gapped(videos: Path) -> Path:
    """First pts 35, then a half-second hole after 10 frames (a camera dropping frames)."""
    pts = [35 + i for i in range(10)] + [50 + i for i in range(10)]
    frames = synthetic_frames(SECONDS, FPS, 160, 120)
    return write_h264(videos / "gapped.mkv", frames, FPS, container="matroska", pts=pts)


@pytest.mark.parametrize("source_name", ["pts", "auto"])
def test_pts_timestamps_start_at_zero_and_keep_gaps(gapped: Path, source_name: str) -> None:
    _, frames = decode(gapped, timestamp_source=source_name)
    expected = [i / FPS for i in range(10)] + [1.5 + i / FPS for i in range(10)]
    assert [f.time_offset for f in frames] == pytest.approx(expected)


def test_frame_rate_timestamps_ignore_pts(gapped: Path) -> None:
    source, frames = decode(gapped, timestamp_source="frame_rate")
    assert source.info is not None and source.info.frame_rate > 0
    assert [f.time_offset for f in frames] == pytest.approx([i / source.info.frame_rate for i in range(20)])


def test_server_timestamps_are_monotonic_from_zero(videos: Path) -> None:
    _, frames = decode(videos / "small.mp4", timestamp_source="server", start_time=5.0)
    offsets = [f.time_offset for f in frames]
    assert offsets[0] == pytest.approx(5.0)
    assert offsets == sorted(offsets)


def test_clock_fallbacks() -> None:
    """RTSP's first frame may lack a pts; broken files send pts backwards."""
    auto = Clock("auto", 10.0, Fraction(1, 1000))
    assert [auto.offset(i, p) for i, p in enumerate([None, 1000, 1100, 1050, None])] == pytest.approx(
        [0.0, 0.1, 0.2, 0.3, 0.4]  # anchored after the pts-less frame; backwards: frame rate
    )
    strict = Clock("pts", 10.0, Fraction(1, 1000))
    assert [strict.offset(i, p) for i, p in enumerate([500, 600, 550])] == pytest.approx([0.0, 0.1, 0.05])
    unknown_rate = Clock("frame_rate", 0.0, None)
    assert unknown_rate.offset(5, None) == pytest.approx(0.2)  # 25 fps assumed
    with pytest.raises(ValueError):
        Clock("wall", 10.0, None)


# -- bad input ---------------------------------------------------------------------------------


def test_missing_file_names_only_the_file(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match=r"video file 'nope\.mp4' not found") as caught:
        VideoSource(str(tmp_path / "nope.mp4")).open()
    assert str(tmp_path) not in str(caught.value)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="not a regular file"):
        VideoSource(str(tmp_path)).open()


def test_text_file_is_not_a_video(tmp_path: Path) -> None:
    path = not_a_video(tmp_path / "notes.mp4")
    with pytest.raises(NotAVideo, match=r"'notes\.mp4' is not a recognised video") as caught:
        VideoSource(str(path)).open()
    assert str(tmp_path) not in str(caught.value)


def test_audio_only_is_not_a_video(tmp_path: Path) -> None:
    with pytest.raises(NotAVideo, match="has no video stream"):
        VideoSource(str(audio_only(tmp_path / "sound.wav"))).open()


@pytest.mark.parametrize("url", ["http://example.com/a.mp4", "https://example.com/a.mp4", "ftp://x/a"])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(SourceUnavailable, match="unsupported scheme"):
        VideoSource(url).open()


def test_truncated_mp4_fails_to_open(videos: Path, tmp_path: Path) -> None:
    """libx264 MP4s carry their index (moov) at the end: half a file has none."""
    path = truncate(videos / "small.mp4", tmp_path / "half.mp4", 0.5)
    with pytest.raises(NotAVideo, match="not a recognised video"):
        VideoSource(str(path)).open()


@pytest.mark.parametrize(
    ("threads", "detail"),
    [(1, "Invalid data found"), (0, r"ends at 2\.\d+ s of 6\.00 s \(truncated\)")],
)
def test_truncated_faststart_mp4(videos: Path, tmp_path: Path, threads: int, detail: str) -> None:
    """With the index first, a cut MP4 opens. One decoder thread raises InvalidDataError at
    the cut; frame threading swallows it, so only the missing length reveals the damage."""
    path = truncate(videos / "long-faststart.mp4", tmp_path / "half.mp4", 0.5)
    source = VideoSource(str(path), SourceOptions(decoder_threads=threads))
    frames, error = decode_until_error(source)
    assert isinstance(error, DecodeFailed) and re.search(detail, str(error))
    assert error.report is source.report and source.report.error_count == 1
    assert 15 <= len(frames) < 60
    assert source.report.processed_parts == [pytest.approx((0.0, frames[-1].time_offset))]


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("long.mkv", "truncated"),  # FFmpeg: "File ended prematurely", no error, no corrupt frame
        ("long.ts", "conceal errors"),  # the cut last frame comes out flagged corrupt
    ],
)
@pytest.mark.parametrize("action", ["fail", "stop"])
def test_truncated_stream_decodes_the_first_part(
    videos: Path, tmp_path: Path, name: str, detail: str, action: str
) -> None:
    path = truncate(videos / name, tmp_path / f"half-{name}", 0.5)
    source = VideoSource(str(path), SourceOptions(error_action=action))
    frames, error = decode_until_error(source)
    report = source.report
    assert 15 <= len(frames) <= 45
    assert [f.index for f in frames] == list(range(len(frames)))
    assert report.frames_decoded == len(frames)
    assert report.processed_parts == [pytest.approx((0.0, frames[-1].time_offset))]
    assert report.error_count == 1 and report.stopped_by_error is True
    assert report.last_error is not None and detail in report.last_error
    if action == "fail":
        assert isinstance(error, DecodeFailed) and str(error) == report.last_error
    else:
        assert error is None


def test_garbage_mid_file_stops_at_the_damage(videos: Path, tmp_path: Path) -> None:
    data = bytearray((videos / "long.mkv").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = np.random.default_rng(7).integers(0, 256, 3000, np.uint8).tobytes()
    path = tmp_path / "garbage.mkv"
    path.write_bytes(bytes(data))
    source = VideoSource(str(path), SourceOptions(error_action="stop"))
    frames, error = decode_until_error(source)
    assert error is None and source.report.stopped_by_error and source.report.error_count == 1
    assert 10 <= len(frames) < 60


def test_bad_options_are_programming_errors() -> None:
    for options in (
        SourceOptions(rotation=45),
        SourceOptions(error_action="skip"),
        SourceOptions(timestamp_source="wall"),
        SourceOptions(queue_size=0),
    ):
        with pytest.raises(ValueError):
            VideoSource("x.mp4", options)


# -- lifecycle ---------------------------------------------------------------------------------


def test_open_is_idempotent_and_frames_iterates_once(videos: Path) -> None:
    with VideoSource(str(videos / "small.mp4")) as source:
        assert source.open() is source.info
        assert len(list(source.frames())) == COUNT
        with pytest.raises(RuntimeError):
            list(source.frames())
    source.close()  # idempotent
    assert not decode_threads_alive()


def test_early_break_joins_the_decode_thread(videos: Path) -> None:
    with VideoSource(str(videos / "long.mkv"), SourceOptions(queue_size=2)) as source:
        for frame in source.frames():
            if frame.index == 2:
                break
        assert not decode_threads_alive()  # joined by the generator's close, before close()
    frames = VideoSource(str(videos / "long.mkv")).frames()
    next(frames)
    frames.close()
    assert not decode_threads_alive()


def test_stop_from_another_thread(videos: Path) -> None:
    source = VideoSource(str(videos / "long.mkv"), SourceOptions(queue_size=1))
    seen: list[int] = []
    with source:
        for frame in source.frames():
            seen.append(frame.index)
            if frame.index == 3:
                threading.Thread(target=source.stop).start()
            time.sleep(0.01)
    assert 4 <= len(seen) < 60
    assert source.report.stopped_by_error is False and source.report.error_count == 0
    assert not decode_threads_alive()


# -- RTSP --------------------------------------------------------------------------------------


def test_rtsp_closed_port_fails_fast() -> None:
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match="refused the connection"):
        VideoSource(f"rtsp://127.0.0.1:{free_port()}/live", SourceOptions(open_timeout=5)).open()
    assert time.monotonic() - started < 4  # refused at once, not after the open timeout


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in accepted:
        conn.close()


def test_rtsp_silent_server_times_out_on_open(silent_server: int) -> None:
    started = time.monotonic()
    source = VideoSource(f"rtsp://127.0.0.1:{silent_server}/live", SourceOptions(open_timeout=2))
    with pytest.raises(SourceUnavailable, match="did not answer within 2 s"):
        source.open()
    assert time.monotonic() - started < 10


def h264_access_units(count: int, width: int = 160, height: int = 120) -> list[list[bytes]]:
    """NAL units per frame from libx264 (no B-frames, SPS/PPS at every key frame)."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base, codec.framerate = Fraction(1, FPS), Fraction(FPS)
    codec.options = {"preset": "veryfast", "tune": "zerolatency", "x264-params": "repeat-headers=1:keyint=10"}
    units: list[list[bytes]] = []
    images: list[np.ndarray | None] = [*synthetic_frames(count / FPS, FPS, width, height), None]
    for index, image in enumerate(images):
        frame = None
        if image is not None:
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = index
        for packet in codec.encode(frame):
            units.append([nal for nal in re.split(rb"\x00\x00\x00\x01|\x00\x00\x01", bytes(packet)) if nal])
    return units


class FakeRtspServer:
    """Just enough RTSP (TCP interleaved, RFC 6184 single NAL units) to stream some frames and
    then stall with the connection open, as a frozen camera does."""

    def __init__(self, frames: int) -> None:
        self.units = h264_access_units(frames)
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.port = self.server.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn = self.server.accept()[0]
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while data := conn.recv(4096):
                buffer += data
                while b"\r\n\r\n" in buffer:
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    self._answer(conn, head.decode())
        except OSError:
            return  # the client hung up

    def _answer(self, conn: socket.socket, request: str) -> None:
        method = request.split(" ", 1)[0]
        cseq = re.search(r"(?im)^cseq:\s*(\d+)", request)
        body, headers = "", ""
        if method == "DESCRIBE":
            body = (
                "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=argus\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
                "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                "a=fmtp:96 packetization-mode=1\r\na=control:track1\r\n"
            )
            headers = f"Content-Type: application/sdp\r\nContent-Base: rtsp://127.0.0.1:{self.port}/live/\r\n"
        elif method == "SETUP":
            headers = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 12345678\r\n"
        elif method in ("PLAY", "TEARDOWN"):
            headers = "Session: 12345678\r\n"
        reply = f"RTSP/1.0 200 OK\r\nCSeq: {cseq.group(1) if cseq else 0}\r\n{headers}"
        conn.sendall(f"{reply}Content-Length: {len(body)}\r\n\r\n{body}".encode())
        if method == "PLAY":
            self._stream(conn)

    def _stream(self, conn: socket.socket) -> None:
        sequence = 0
        for index, nals in enumerate(self.units):
            for position, nal in enumerate(nals):
                marker = 0x80 if position == len(nals) - 1 else 0
                header = struct.pack("!BBHII", 0x80, marker | 96, sequence, index * 90000 // FPS, 0x5EED)
                conn.sendall(b"$\x00" + struct.pack("!H", len(header) + len(nal)) + header + nal)
                sequence += 1

    def close(self) -> None:
        self.server.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def rtsp_server() -> Iterator[FakeRtspServer]:
    server = FakeRtspServer(frames=30)
    yield server
    server.close()


def test_rtsp_stream_then_stall_is_a_source_timeout(rtsp_server: FakeRtspServer) -> None:
    url = f"rtsp://viewer:secret@127.0.0.1:{rtsp_server.port}/live"
    source = VideoSource(url, SourceOptions(open_timeout=5, read_timeout=1))
    frames, error = decode_until_error(source)
    assert source.info is not None
    assert (source.info.width, source.info.height, source.info.is_live) == (160, 120, True)
    assert (source.info.frames_count, source.info.duration) == (0, 0.0)
    assert 20 <= len(frames) <= 30  # the decoder may still hold the last frames when it stalls
    assert [f.time_offset for f in frames] == pytest.approx([i / FPS for i in range(len(frames))])
    assert isinstance(error, SourceTimeout) and "for 1 s" in str(error)
    assert "secret" not in str(error) and f"rtsp://127.0.0.1:{rtsp_server.port}/live" in str(error)
    assert source.report.error_count == 0
    assert not decode_threads_alive()


def test_rtsp_stop_while_the_server_stalls(rtsp_server: FakeRtspServer) -> None:
    source = VideoSource(f"rtsp://127.0.0.1:{rtsp_server.port}/live", SourceOptions(read_timeout=4))
    with source:
        frames = source.frames()
        for _ in range(20):
            next(frames)
        threading.Timer(0.3, source.stop).start()
        started = time.monotonic()
        rest = list(frames)  # the decode thread now waits on a silent socket
        assert time.monotonic() - started < 3  # ended by stop(), not by the 4 s read timeout
    assert len(rest) <= 10
    assert not decode_threads_alive()  # close() waited for the blocked read to give up


def _loop(is_live: bool) -> DecodeLoop:
    info = VideoInfo(width=64, height=48, frame_rate=10.0, frames_count=0, duration=0.0, is_live=is_live)
    report = DecodeReport(frames_decoded=5)
    return DecodeLoop(
        None,  # type: ignore[arg-type]  # damage handling never touches the stream
        info,
        SourceOptions(),
        lambda index, t: True,
        lambda frame: None,
        threading.Event(),
        "rtsp://camera/live",
        None,
        report,
    )


def test_a_camera_may_deliver_isolated_damaged_frames() -> None:
    """Live: up to ~1 s of consecutive damaged frames are skipped and counted; then it is a loss."""
    loop = _loop(is_live=True)
    assert all(loop._corrupt_frame() for _ in range(live_damage_limit(10.0)))
    assert loop.report.error_count == 10 and "skipped a damaged frame" in (loop.report.last_error or "")
    with pytest.raises(DecodeFailed):
        loop._corrupt_frame()
    # a file's damage applies error_action at once
    with pytest.raises(DecodeFailed):
        _loop(is_live=False)._corrupt_frame()
