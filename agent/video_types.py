"""Plain data shared by the video source and its decode loop: options, stream facts, frames."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from agent.video_clock import TIMESTAMP_SOURCES

# Clockwise rotations, as the analysis's orientation angle states them.
ROTATIONS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@dataclass(frozen=True)
class SourceOptions:
    """How to decode and time a source."""

    rotation: int = 0  # 0/90/180/270, clockwise, applied to every delivered frame
    start_time: float = 0.0  # pts.start_time: added to every time_offset
    timestamp_source: str = "auto"  # auto | pts | frame_rate | server
    error_action: str = "fail"  # fail | stop
    open_timeout: float = 10.0  # seconds to open (RTSP connect + probe)
    read_timeout: float = 10.0  # seconds without a packet before SourceTimeout
    decoder_threads: int = 0  # 0 = PyAV/FFmpeg auto; thread_type "AUTO" (frame+slice)
    queue_size: int = 8  # frames buffered between the decode thread and the consumer
    skip_unused_frames: bool = True  # drop disposable frames `wants` declines (video_skip)

    def validate(self) -> None:
        """Bad options are programming errors: fail before touching the source."""
        if self.rotation not in (0, *ROTATIONS):
            raise ValueError(f"rotation must be 0, 90, 180 or 270, not {self.rotation}")
        if self.timestamp_source not in TIMESTAMP_SOURCES:
            raise ValueError(f"timestamp_source must be one of {TIMESTAMP_SOURCES}")
        if self.error_action not in ("fail", "stop"):
            raise ValueError(f"error_action must be 'fail' or 'stop', not {self.error_action!r}")
        if self.queue_size < 1:
            raise ValueError("queue_size must be at least 1")


@dataclass(frozen=True)
class VideoInfo:
    """Stream facts known after opening (dimensions already rotated)."""

    width: int
    height: int
    frame_rate: float  # average rate (0.0 if unknown)
    frames_count: int  # from the container (0 if unknown)
    duration: float  # seconds (0.0 if unknown / live)
    is_live: bool  # rtsp://


@dataclass
class Frame:
    """A selected frame, converted and rotated in the decode thread."""

    index: int  # 0-based index among decoded frames
    time_offset: float  # seconds + start_time
    image: np.ndarray  # BGR uint8 HxWx3, rotated, C-contiguous
