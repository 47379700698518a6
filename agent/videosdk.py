"""The video pipeline behind /6/videosdk: one decode, every requested analytic, one result.

Decoding runs in the video source's own thread; this (worker) thread runs the detector on the
frames the analytics' rate samplers picked, so decoding and inference overlap. Input problems
become the LUNA errors the API answers with (``api.errors``), never a 500.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from agent.analytics_feed import (
    Analytic,
    AnalyticsFeed,
    Engines,
    ParameterError,
    build_analytic,
    source_options,
)
from agent.video_source import (
    DecodeFailed,
    DecodeReport,
    Frame,
    NotAVideo,
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
from engines.face.pipeline import FacePipeline
from engines.protocols import Detector

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
    """``api.video.VideoAnalytics`` over PyAV sources and the configured person detector.

    ``engines`` may be shared with the embedded stream agent, so one process loads each model once.
    """

    def __init__(self, config: Config, engines: Engines | None = None) -> None:
        self.config = config
        self.engines = engines or Engines(config)

    def detector(self) -> Detector:
        """The person detector, loaded on first use (``argus serve`` without videos never pays)."""
        return self.engines.detector()

    def face_pipeline(self) -> FacePipeline:
        """dlib faces + 5 landmarks + descriptors for human_tracking, loaded on first use."""
        return self.engines.face_pipeline()

    def _analytics(self, job: VideoJob, info: VideoInfo) -> list[Analytic]:
        runs = []
        for index, analytic in enumerate(job.analytics):
            try:
                runs.append(build_analytic(analytic, info, self.engines))
            except ParameterError as exc:
                raise bad_json(f"analytics.{index}.{exc.field}", exc.message) from None
        return runs

    def analyse(self, job: VideoJob, cancel: threading.Event) -> dict[str, Any]:
        live = job.source.split(":", 1)[0].lower() in LIVE_SCHEMES
        options = source_options(
            self.config, rotation=job.rotation, start_time=job.start_time, error_action=job.error_action
        )
        feed = AnalyticsFeed()
        source = VideoSource(job.source, options, feed.select, feed.wants)
        try:
            info = source.open()
            if info.duration > job.max_duration:
                raise LunaError(
                    errors.VIDEO_TOO_LONG,
                    f"Video is {info.duration:g} s long; this server analyses at most {job.max_duration:g} s",
                )
            feed.runs.extend(self._analytics(job, info))
            complete = self._consume(source, feed, job, cancel)
            report = source.report
            log.info(
                "video analysed: %d frames, %d left undecoded (unwanted and disposable), %d analysed",
                report.frames_decoded,
                report.frames_skipped,
                report.frames_converted,
            )
        except VideoError as exc:
            raise _video_error(exc, live) from None
        finally:
            source.close()
        for run in feed.runs:
            run.finish()
        return {
            "video_data": video_data(info, report, complete),
            "analytics": [run.result() for run in feed.runs],
        }

    def _consume(
        self, source: VideoSource, feed: AnalyticsFeed, job: VideoJob, cancel: threading.Event
    ) -> bool:
        """Feed sampled frames to their analytics; False when stopped before the end."""
        workers = self.config.video.detection_workers or os.cpu_count() or 1
        limit = job.start_time + job.max_duration
        cut = False

        def admitted() -> Iterator[Frame]:
            nonlocal cut
            for frame in source.frames():
                if cancel.is_set():
                    log.info("video analysis cancelled at %.2f s", frame.time_offset)
                    cut = True
                    return
                if frame.time_offset > limit:  # a live source has no end of its own
                    cut = True
                    return
                yield frame

        for _ in feed.feed_ahead(admitted(), workers):  # each sampling analytic processes its frames
            pass
        return not cut and not source.report.stopped_by_error

    def close(self) -> None:
        self.engines.close()
