"""One decode feeding several analytics: model loading, analytic construction, frame dispatch.

Both /6/videosdk (one video, one answer) and the stream agent (endless streams, events) run
the same pipeline: each analytic's rate sampler picks frames in the decode thread (``select``)
before any pixel conversion, and the consumer thread hands each delivered frame to exactly the
analytics that picked it. Keeping that here means the two callers cannot drift apart.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from agent.detectors import person_detector
from agent.human_tracking import HumanTracking
from agent.people_count import ParameterError, PeopleCount
from agent.video_source import Frame, SourceOptions, VideoInfo
from analytics.detections import Detections
from api.config import Config
from engines.face.descriptor import make_descriptor_extractor
from engines.face.dlib_detector import DlibFaceDetector
from engines.face.pipeline import FacePipeline
from engines.protocols import Detector

Analytic = PeopleCount | HumanTracking
Outputs = list[tuple[Analytic, list[Any]]]  # per frame: what each analytic that picked it returned
ANALYTIC_NAMES = ("people_count", "human_tracking")

__all__ = ["ANALYTIC_NAMES", "Analytic", "AnalyticsFeed", "Engines", "ParameterError", "build_analytic"]


class BoundedDetector:
    """A detector shared by several stream threads, with at most ``limit`` inferences at once.

    ``limit`` 1 serialises runtimes that are not thread-safe (OpenCV DNN, HOG, TensorRT
    contexts). ONNX Runtime sessions may run concurrently, but each concurrent run holds its
    own activations (~100 MB at 1024x768), so its limit is the number of cores: more
    concurrent runs add memory, not throughput (measured: RSS grew ~125 MiB per stream when
    every stream of an agent could infer at once).
    """

    def __init__(self, detector: Detector, limit: int) -> None:
        self.inner = detector
        self._slots = threading.BoundedSemaphore(max(1, limit))

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        with self._slots:
            return self.inner.detect(frame_bgr)


def _thread_safe(detector: Detector) -> bool:
    """ONNX Runtime sessions may run concurrently; nothing else is known to."""
    runner = getattr(detector, "runner", None)
    return type(runner).__name__ == "OnnxRuntimeRunner"


class Engines:
    """The models every analytic of a process shares, loaded on first use.

    ``argus serve`` without videos, or an agent whose streams only count people, never pays
    for the face models. Safe to call from several stream threads.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._detector: Detector | None = None
        self._faces: FacePipeline | None = None
        self._lock = threading.Lock()

    def detector(self) -> Detector:
        with self._lock:
            if self._detector is None:
                detector = person_detector(self.config)
                limit = (os.cpu_count() or 1) if _thread_safe(detector) else 1
                self._detector = BoundedDetector(detector, limit)
            return self._detector

    def face_pipeline(self) -> FacePipeline:
        """dlib faces + landmarks + descriptors (its dlib calls serialise themselves)."""
        with self._lock:
            if self._faces is None:
                faces, root = self.config.faces, self.config.model_root
                detector = DlibFaceDetector.from_data_dir(
                    root, self.config.video.face_upsample, faces.score_threshold, enable_68=faces.landmarks68
                )
                self._faces = FacePipeline(detector, make_descriptor_extractor(root, faces.descriptor_runner))
            return self._faces

    def close(self) -> None:
        with self._lock:
            self._detector = None
            self._faces = None


def source_options(config: Config, **fields: Any) -> SourceOptions:
    """Video source options: the deployment's ``[video]`` timeouts and threads plus ``fields``
    (rotation, start time, ...) that come with the video or stream."""
    video = config.video
    return SourceOptions(
        open_timeout=video.open_timeout,
        read_timeout=video.read_timeout,
        decoder_threads=video.decoder_threads,
        skip_unused_frames=video.skip_unused_frames,
        **fields,
    )


def build_analytic(analytic: dict[str, Any], info: VideoInfo, engines: Engines) -> Analytic:
    """An analytic (``{name, targets, parameters}`` with spec defaults) for a video of ``info``.

    Raises ``ParameterError`` when its parameters do not fit the video (ROI outside the frame).
    """
    name = analytic["name"]
    if name == "people_count":
        return PeopleCount(analytic, engines.detector(), info)
    if name != "human_tracking":
        raise ParameterError("name", f"unknown analytic '{name}'")
    kind = analytic["parameters"]["tracking"]["detector_type"]
    bodies = engines.detector() if kind in ("body", "human") else None
    faces = engines.face_pipeline() if kind in ("face", "human") else None
    return HumanTracking(analytic, bodies, faces, info)


class AnalyticsFeed:
    """Which analytics want which frame, decided in the decode thread, applied in the consumer.

    ``select`` is the ``VideoSource`` callback; ``feed`` gives a delivered frame to the
    analytics that sampled it. The hand-over is a deque (append/popleft are thread-safe), and
    picks for frames the source never delivered are discarded as later frames arrive, so an
    endless stream cannot accumulate them.
    """

    def __init__(self, runs: list[Analytic] | None = None) -> None:
        self.runs: list[Analytic] = list(runs or [])
        self._picked: deque[tuple[int, list[Analytic]]] = deque()

    def select(self, index: int, time_offset: float) -> bool:
        """Runs in the decode thread, before pixels exist: which analytics want this frame."""
        chosen = [run for run in self.runs if run.sampler.take(index, time_offset)]
        if chosen:
            self._picked.append((index, chosen))
        return bool(chosen)

    def wants(self, index: int, time_offset: float) -> bool:
        """Whether ``select`` would pick a coming frame; no side effect (see ``video_skip``)."""
        return any(run.sampler.ahead(index, time_offset) for run in self.runs)

    def feed(self, frame: Frame) -> Iterator[tuple[Analytic, list[Any]]]:
        """(analytic, what its ``process`` returned) for each analytic that picked ``frame``."""
        for run in self._chosen(frame):
            yield run, run.process(frame)

    def feed_ahead(self, frames: Iterable[Frame], workers: int) -> Iterator[Outputs]:
        """``feed`` for a whole sequence, running the model stage of up to ``workers`` frames at once.

        One inference keeps one core busy, and a lone video would leave the others to the
        decoder alone; here the next frames' detections run while earlier ones are still being
        inferred. Analytics' state is still updated strictly in frame order, in this thread.
        Yields, per frame, what ``feed`` would have.
        """
        if workers <= 1:
            for frame in frames:
                yield list(self.feed(frame))
            return
        pending: deque[tuple[Frame, list[tuple[Analytic, Future[Any]]]]] = deque()
        with ThreadPoolExecutor(workers, thread_name_prefix="detect") as pool:
            try:
                for frame in frames:
                    started = [(run, pool.submit(run.detections, frame)) for run in self._chosen(frame)]
                    pending.append((frame, started))
                    while len(pending) >= workers:
                        yield self._update(*pending.popleft())
                while pending:
                    yield self._update(*pending.popleft())
            finally:
                for _, started in pending:
                    for _, future in started:
                        future.cancel()

    @staticmethod
    def _update(frame: Frame, started: list[tuple[Analytic, Future[Any]]]) -> Outputs:
        return [(run, run.update(frame, future.result())) for run, future in started]

    def _chosen(self, frame: Frame) -> list[Analytic]:
        """The analytics that picked ``frame``; picks for frames never delivered are dropped."""
        while self._picked and self._picked[0][0] < frame.index:
            self._picked.popleft()
        if not self._picked or self._picked[0][0] != frame.index:
            return []
        return self._picked.popleft()[1]
