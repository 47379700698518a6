"""Real test videos written with PyAV's ``libx264``: small, deterministic and made on the fly.

Tests need genuine H.264 in real containers (not mocks) to exercise FFmpeg's demuxers and
decoders, including its behaviour on damaged input, so these helpers encode them in
milliseconds instead of shipping binary fixtures.
"""

from __future__ import annotations

import wave
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

# Debian ``opencv-doc``: 768x576, 10 fps, 795 frames of people walking. Callers skip if missing.
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")

_ROTATE_CCW = {
    90: cv2.ROTATE_90_COUNTERCLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_CLOCKWISE,
}


def write_h264(
    path: Path | str,
    frames: Iterable[np.ndarray],
    fps: float,
    container: str = "mp4",
    crf: int = 23,
    rotate_meta: int | None = None,
    first_pts: int = 0,
    pts: Sequence[int] | None = None,
    faststart: bool = False,
    codec: str = "libx264",
) -> Path:
    """Encode BGR frames to H.264 (yuv420p; ``codec="libx265"`` for HEVC) at an exact rate.

    Frame pts are ``first_pts + index`` in a ``1/fps`` Fraction time base (so rates stay
    exact), or ``pts[index]`` for gaps; ``rotate_meta`` sets the display matrix (degrees
    counter-clockwise, as ``VideoFrame.rotation`` reads it back); ``faststart`` puts an
    MP4's index first, as streaming services do.
    """
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    # Deterministic output: one thread, fixed GOP (one key frame a second).
    options = {"crf": str(crf), "preset": "veryfast", "threads": "1", "g": str(max(1, round(fps)))}
    if codec == "libx265":  # its own spelling of the same settings, and no chatter on stderr
        options = {
            "crf": str(crf),
            "preset": "veryfast",
            "x265-params": f"keyint={options['g']}:log-level=none",
        }
    muxer = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", format=container, options=muxer) as out:
        stream = None
        for index, image in enumerate(frames):
            if stream is None:
                stream = out.add_stream(codec, rate=rate, options=options)
                stream.pix_fmt = "yuv420p"
                height, width = image.shape[:2]
                stream.width, stream.height = width - width % 2, height - height % 2
                if rotate_meta is not None:
                    stream.set_display_rotation(rotate_meta)
            image = np.ascontiguousarray(image[: stream.height, : stream.width])
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = pts[index] if pts is not None else first_pts + index
            frame.time_base = 1 / rate
            out.mux(stream.encode(frame))
        if stream is None:
            raise ValueError("write_h264 needs at least one frame")
        out.mux(stream.encode(None))
    return path


def read_vtest(start: int = 0, count: int = 100) -> Iterator[np.ndarray]:
    """BGR frames [start, start+count) of vtest.avi (OpenCV reads the MJPEG/xvid AVI fine)."""
    capture = cv2.VideoCapture(str(VTEST))
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, start)
        for _ in range(count):
            ok, image = capture.read()
            if not ok:
                return
            yield image
    finally:
        capture.release()


def vtest_h264(
    path: Path | str,
    start: int = 0,
    count: int = 100,
    fps: float = 10,
    rotate: int = 0,
    scale: tuple[int, int] | None = None,
) -> Path:
    """vtest.avi frames re-encoded to H.264, pixels turned ``rotate`` degrees counter-clockwise.

    A camera mounted sideways gives exactly such a video; analysing it with orientation
    ``rotate`` (clockwise) must restore the upright scene. ``scale`` is (width, height).
    """
    if rotate not in (0, *_ROTATE_CCW):
        raise ValueError(f"rotate must be 0, 90, 180 or 270, not {rotate}")

    def frames() -> Iterator[np.ndarray]:
        for image in read_vtest(start, count):
            if scale is not None:
                image = cv2.resize(image, scale, interpolation=cv2.INTER_AREA)
            yield cv2.rotate(image, _ROTATE_CCW[rotate]) if rotate else image

    return write_h264(path, frames(), fps)


def synthetic_frames(seconds: float, fps: float, width: int, height: int) -> Iterator[np.ndarray]:
    """Moving shapes on a gradient: cheap at any size, distinct per frame, deterministic."""
    count = round(seconds * fps)
    base = np.zeros((height, width, 3), np.uint8)
    base[:, :, 0] = np.linspace(40, 200, width, dtype=np.uint8)[None, :]
    base[:, :, 1] = np.linspace(40, 200, height, dtype=np.uint8)[:, None]
    side = max(8, min(width, height) // 6)
    for index in range(count):
        image = base.copy()
        x = int((index * 7) % max(1, width - side))
        y = int((index * 5) % max(1, height - side))
        cv2.rectangle(image, (x, y), (x + side, y + side), (255, 255, 255), -1)
        cx = int(width - side - (index * 3) % max(1, width - side))
        cv2.circle(image, (cx, height // 2), side // 2, (0, 0, 255), -1)
        cv2.putText(image, str(index), (4, height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
        yield image


def synthetic_h264(
    path: Path | str,
    seconds: float,
    fps: float,
    width: int,
    height: int,
    container: str = "mp4",
    first_pts: int = 0,
) -> Path:
    """A synthetic H.264 video (e.g. 1280x720 for benchmarks, 160x120 for unit tests)."""
    return write_h264(
        path, synthetic_frames(seconds, fps, width, height), fps, container=container, first_pts=first_pts
    )


def truncate(src: Path | str, dst: Path | str, fraction: float) -> Path:
    """Copy the first ``fraction`` of ``src``'s bytes: an interrupted upload or recording."""
    data = Path(src).read_bytes()
    dst = Path(dst)
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def not_a_video(path: Path | str) -> Path:
    """Plain text under a video-like name: FFmpeg recognises no container in it.

    (Not a PNG: FFmpeg opens an image as a one-frame video.)
    """
    path = Path(path)
    path.write_text("this is not a video\n" * 20)
    return path


def audio_only(path: Path | str, seconds: float = 1.0) -> Path:
    """A silent WAV: a genuine media file without a video stream."""
    path = Path(path)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))
    return path
