"""The video pipeline behind /6/videosdk: one decode, every requested analytic, one result.

Decoding runs in the video source's own thread; this (worker) thread runs the detector on the
frames the analytics' rate samplers picked, so decoding and inference overlap. Input problems
become the LUNA errors the API answers with (``api.errors``), never a 500.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from agent.detectors import person_detector
from agent.human_tracking import HumanTracking
from agent.people_count import ParameterError, PeopleCount
from agent.video_source import (
    DecodeFailed,
    DecodeReport,
    NotAVideo,
    SourceOptions,
    SourceTimeout,
    SourceUnavailable,
    VideoError,
    VideoInfo,
    VideoSource,
)
from api import errors
from api.config import Config
from api.errors import LunaError, bad_json
from api.video import LIVE_SCHEMES, VideoJob
from engines.face.descriptor import make_descriptor_extractor
from engines.face.dlib_detector import DlibFaceDetector
from engines.face.pipeline import FacePipeline
from engines.protocols import Detector

Analytic = PeopleCount | HumanTracking

log = logging.getLogger("argus.videosdk")


def _video_error(exc: VideoError, live: bool) -> LunaError:
    if isinstance(exc, SourceTimeout) or (isinstance(exc, SourceUnavailable) and live):
        return LunaError(errors.VIDEO_SOURCE_FAILED, f"Video source is not available: {exc}")
    if isinstance(exc, NotAVideo):
        return LunaError(errors.BAD_VIDEO, f"Not a readable video: {exc}")
    if isinstance(exc, DecodeFailed):
        return LunaError(errors.BAD_VIDEO, f"Video decoding failed: {exc}")
    return LunaError(errors.BAD_VIDEO, str(exc))


def video_data(info: VideoInfo, report: DecodeReport, complete: bool) -> dict[str, Any]:
    """``video_data``: the decoded frame count when the whole video was read, else the container's."""
    return {
        "frames_count": report.frames_decoded if complete else info.frames_count,
        "frame_rate": info.frame_rate,
        "duration": info.duration,
        "processed_parts": [{"start_offset": s, "end_offset": e} for s, e in report.processed_parts],
        "error_count": report.error_count,
    }


class VideoSdk:
    """``api.video.VideoAnalytics`` over PyAV sources and the configured person detector."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._detector: Detector | None = None
        self._faces: FacePipeline | None = None
        self._lock = threading.Lock()

    def detector(self) -> Detector:
        """The person detector, loaded on first use (``argus serve`` without videos never pays)."""
        with self._lock:
            if self._detector is None:
                self._detector = person_detector(self.config)
            return self._detector

    def face_pipeline(self) -> FacePipeline:
        """dlib faces + 5 landmarks + descriptors for human_tracking, loaded on first use."""
        with self._lock:
            if self._faces is None:
                faces, root = self.config.faces, self.config.model_root
                detector = DlibFaceDetector.from_data_dir(
                    root, self.config.video.face_upsample, faces.score_threshold, enable_68=faces.landmarks68
                )
                self._faces = FacePipeline(detector, make_descriptor_extractor(root, faces.descriptor_runner))
            return self._faces

    def _analytic(self, analytic: dict[str, Any], info: VideoInfo) -> Analytic:
        if analytic["name"] == "people_count":
            return PeopleCount(analytic, self.detector(), info)
        kind = analytic["parameters"]["tracking"]["detector_type"]
        bodies = self.detector() if kind in ("body", "human") else None
        faces = self.face_pipeline() if kind in ("face", "human") else None
        return HumanTracking(analytic, bodies, faces, info)

    def _analytics(self, job: VideoJob, info: VideoInfo) -> list[Analytic]:
        runs = []
        for index, analytic in enumerate(job.analytics):
            try:
                runs.append(self._analytic(analytic, info))
            except ParameterError as exc:
                raise bad_json(f"analytics.{index}.{exc.field}", exc.message) from None
        return runs

    def analyse(self, job: VideoJob, cancel: threading.Event) -> dict[str, Any]:
        live = job.source.split(":", 1)[0].lower() in LIVE_SCHEMES
        options = SourceOptions(
            rotation=job.rotation,
            start_time=job.start_time,
            error_action=job.error_action,
            open_timeout=self.config.video.open_timeout,
            read_timeout=self.config.video.read_timeout,
            decoder_threads=self.config.video.decoder_threads,
        )
        runs: list[Analytic] = []
        wanted: dict[int, list[Analytic]] = {}

        def select(index: int, time_offset: float) -> bool:
            """Runs in the decode thread, before pixels exist: which analytics want this frame."""
            chosen = [run for run in runs if run.sampler.take(index, time_offset)]
            if chosen:
                wanted[index] = chosen
            return bool(chosen)

        source = VideoSource(job.source, options, select)
        try:
            info = source.open()
            if info.duration > job.max_duration:
                raise LunaError(
                    errors.VIDEO_TOO_LONG,
                    f"Video is {info.duration:g} s long; this server analyses at most {job.max_duration:g} s",
                )
            runs.extend(self._analytics(job, info))
            complete = self._consume(source, wanted, job, cancel)
            report = source.report
        except VideoError as exc:
            raise _video_error(exc, live) from None
        finally:
            source.close()
        for run in runs:
            run.finish()
        return {"video_data": video_data(info, report, complete), "analytics": [run.result() for run in runs]}

    @staticmethod
    def _consume(
        source: VideoSource, wanted: dict[int, list[Analytic]], job: VideoJob, cancel: threading.Event
    ) -> bool:
        """Feed sampled frames to their analytics; False when stopped before the end."""
        limit = job.start_time + job.max_duration
        for frame in source.frames():
            if cancel.is_set():
                log.info("video analysis cancelled at %.2f s", frame.time_offset)
                return False
            if frame.time_offset > limit:  # a live source has no end of its own
                return False
            for run in wanted.pop(frame.index, ()):
                run.process(frame)
        return not source.report.stopped_by_error

    def close(self) -> None:
        self._detector = None
        self._faces = None
