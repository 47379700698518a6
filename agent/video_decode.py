"""The decode thread's loop: demux, decode, time, select, convert, and apply ``error_action``.

FFmpeg reports damage in three ways and all three count as decoding errors here: an exception
from demuxing/decoding, a frame it flags corrupt (error concealment: a truncated MPEG-TS, raw
H.264 or AVI, garbage mid-file), and, silently, a file that just ends early (a truncated
Matroska, or any truncation the frame-threaded decoder swallows), which only the length the
header states reveals. A live source heals at its next key frame, so there up to ~1 s of
consecutive damaged frames are skipped and counted before the damage counts as a loss.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import av
import cv2
import numpy as np

from agent.video_clock import Clock, PtsSpan
from agent.video_errors import (
    AV_ERRORS,
    DecodeFailed,
    DecodeReport,
    SourceTimeout,
    SourceUnavailable,
    is_source_loss,
    is_timeout,
    reason,
)
from agent.video_skip import SkipPlan, disposable_check
from agent.video_types import ROTATIONS, Frame, SourceOptions, VideoInfo


def live_damage_limit(frame_rate: float) -> int:
    """Consecutive damaged frames a live source may deliver before it counts as lost (~1 s)."""
    return max(1, round(frame_rate or 25.0))


class DecodeLoop:
    """One pass over an opened stream; raises VideoErrors, ``emit``s selected frames."""

    def __init__(
        self,
        stream: av.VideoStream,
        info: VideoInfo,
        options: SourceOptions,
        select: Callable[[int, float], bool],
        emit: Callable[[Frame], None],
        stop: threading.Event,
        label: str,
        declared_span: float | None,
        report: DecodeReport,
        wants: Callable[[int, float], bool] | None = None,
    ) -> None:
        self.stream = stream
        self.info = info
        self.options = options
        self.select = select
        self.emit = emit
        self.stop = stop
        self.label = label
        self.declared_span = declared_span
        self.report = report
        self.wants = wants  # side-effect-free peek at select(); enables dropping unwanted frames
        self._damaged_run = 0  # consecutive corrupt frames of a live source

    def run(self) -> None:
        """Decode until EOF, stop, or an error (raised, or recorded for error_action "stop")."""
        clock = Clock(self.options.timestamp_source, self.info.frame_rate, self.stream.time_base)
        span = PtsSpan()
        plan = self._skip_plan(clock)
        index = 0
        packets = self.stream.container.demux(self.stream)
        while not self.stop.is_set():
            try:
                packet = next(packets, None)
                if packet is None:
                    break
                if plan is not None and plan.drop(packet):
                    continue
                decoded = packet.decode()
            except AV_ERRORS as exc:
                self._packet_error(exc)
                return
            for frame in decoded:
                if plan is not None:
                    for pts in plan.before(frame.pts):
                        index = self._dropped(clock, span, index, pts)
                if frame.is_corrupt:
                    if not self._corrupt_frame():
                        return
                    continue
                self._damaged_run = 0
                offset = clock.offset(index, frame.pts) + self.options.start_time
                self._decoded(offset)
                span.add(frame.pts)
                if plan is not None:
                    plan.decoded(index, frame.pts)
                # select() first: a rejected frame never pays for pixel conversion.
                if self.select(index, offset):
                    self.emit(Frame(index, offset, self._convert(frame)))
                index += 1
                if self.stop.is_set():
                    return
        else:
            return  # stopped: not the end of the video
        for pts in plan.rest() if plan is not None else ():
            index = self._dropped(clock, span, index, pts)
        self._check_complete(span.seconds(self.stream.time_base, clock.interval))

    def _skip_plan(self, clock: Clock) -> SkipPlan | None:
        """Dropping of unwanted disposable frames, when asked for and the bitstream allows it."""
        if self.wants is None:
            return None
        disposable = disposable_check(self.stream.codec_context)
        if disposable is None:
            return None
        # The base rate (FFmpeg's guess: the smallest frame spacing) predicts pts; the average
        # rate of a file that once dropped frames would not.
        guessed = self.stream.guessed_rate
        rate = float(guessed) if guessed else self.info.frame_rate
        return SkipPlan(disposable, self.wants, clock, rate, self.stream.time_base, self.options.start_time)

    def _dropped(self, clock: Clock, span: PtsSpan, index: int, pts: int) -> int:
        """Count a frame left undecoded where it is displayed; the next frame's index."""
        self._decoded(clock.offset(index, pts) + self.options.start_time)
        span.add(pts)
        self.report.frames_skipped += 1
        return index + 1

    def _decoded(self, offset: float) -> None:
        report = self.report
        report.frames_decoded += 1
        parts = report.processed_parts
        parts[-1:] = [(parts[-1][0] if parts else offset, offset)]

    def _convert(self, frame: av.VideoFrame) -> np.ndarray:
        image = frame.to_ndarray(format="bgr24")
        code = ROTATIONS.get(self.options.rotation)
        image = cv2.rotate(image, code) if code is not None else np.ascontiguousarray(image)
        self.report.frames_converted += 1
        return image

    # -- errors --------------------------------------------------------------------------------

    def failed(self, detail: str) -> DecodeFailed:
        """A DecodeFailed carrying this loop's report (also for errors outside the loop)."""
        self.report.last_error = f"video '{self.label}' is damaged {self._where()}: {detail}"
        return DecodeFailed(self.report.last_error, self.report)

    def _where(self) -> str:
        parts = self.report.processed_parts
        return f"after {parts[-1][1]:.2f} s" if parts else "before the first frame"

    def _error(self, detail: str) -> None:
        """Count a decoding error and apply error_action: raise for "fail", end for "stop"."""
        self.report.error_count += 1
        self.report.stopped_by_error = True
        error = self.failed(detail)
        if self.options.error_action == "fail":
            raise error

    def _packet_error(self, exc: BaseException) -> None:
        if is_timeout(exc):
            self.report.last_error = f"no data from '{self.label}' for {self.options.read_timeout:g} s"
            raise SourceTimeout(self.report.last_error)
        if self.info.is_live and is_source_loss(exc):
            self.report.last_error = f"lost connection to '{self.label}': {reason(exc)}"
            raise SourceUnavailable(self.report.last_error)
        self._error(reason(exc))

    def _corrupt_frame(self) -> bool:
        """False ends decoding. Before any clean frame damage is expected and only counted:
        a stream joined mid-GOP or an open-GOP cut yields frames with missing references."""
        if self.report.frames_decoded == 0:
            self.report.error_count += 1
            self.report.last_error = f"skipped a damaged leading frame of '{self.label}'"
            return True
        if self.info.is_live:
            # A camera's stream heals at its next key frame: an isolated damaged frame is
            # counted and skipped; damage lasting about a second is a loss like any other.
            self._damaged_run += 1
            if self._damaged_run <= live_damage_limit(self.info.frame_rate):
                self.report.error_count += 1
                self.report.last_error = f"skipped a damaged frame of '{self.label}'"
                return True
        self._error("the decoder had to conceal errors (truncated or corrupted data)")
        return False

    def _check_complete(self, decoded_span: float | None) -> None:
        """At a file's EOF: no frame at all, or far less than the header states, is an error."""
        if self.info.is_live:
            return
        if self.report.frames_decoded == 0:
            self._error("no frame could be decoded")
            return
        declared = self.declared_span
        if declared is None or decoded_span is None:
            return
        if declared - decoded_span > max(0.5, 0.05 * declared, 2.0 / (self.info.frame_rate or 25.0)):
            self._error(f"the file ends at {decoded_span:.2f} s of {declared:.2f} s (truncated)")
