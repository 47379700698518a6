"""The people_count analytic over decoded frames: ROI crop -> person detector -> DROI -> counter.

One instance per analytic per video (or stream). It owns the analytic's rate sampler, which the
video source consults in its decode thread, so skipped frames are never converted to pixels.
Results follow the spec's ``people_count_analytics_result`` (L7441); images are ``bytes``.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from agent.video_source import Frame, VideoInfo
from analytics.detections import Detections
from analytics.people_count import CrowdEvent, PeopleCounter
from analytics.rate import Rate, RateSampler
from analytics.regions import Droi, Rect, RegionError, fit_within, roi_rect
from engines.images import encode_image
from engines.protocols import Detector

DEFAULT_RATE = Rate("frame", 10)


class ParameterError(ValueError):
    """A parameter the schema accepted but this video cannot honour (ROI bigger than the frame)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def encode_shot(image: np.ndarray, policy: dict[str, Any]) -> tuple[bytes, float]:
    """An image per ``image_retain_policy`` (format, quality, max_size) and the scale applied."""
    height, width = image.shape[:2]
    new_w, new_h, scale = fit_within(width, height, int(policy.get("max_size", 640)))
    if scale != 1.0:
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    if policy.get("mimetype", "JPEG") == "PNG":
        return encode_image(image, "image/png"), scale
    quality = round(float(policy.get("quality", 1)) * 100)
    return encode_image(image, "image/jpeg", quality=min(max(quality, 1), 100)), scale


class PeopleCount:
    """State of one people_count analytic; ``process`` is called with the frames it sampled."""

    name = "people_count"

    def __init__(self, analytic: dict[str, Any], detector: Detector, info: VideoInfo) -> None:
        params = analytic["parameters"]
        self.targets = set(analytic["targets"])
        self.detector = detector
        self.policy = params["image_retain_policy"]
        self.sampler = RateSampler(Rate.from_params(params.get("rate"), DEFAULT_RATE))
        try:
            self.roi: Rect = roi_rect(params.get("roi"), info.width, info.height)
        except RegionError as exc:
            raise ParameterError("parameters.roi", str(exc)) from None
        try:
            self.droi = (
                Droi.from_params(params["droi"], info.width, info.height) if "droi" in params else None
            )
        except RegionError as exc:
            raise ParameterError("parameters.droi", str(exc)) from None
        self.counter = PeopleCounter(
            params["people_count_threshold"], params["probe_count"], keep_overview="overview" in self.targets
        )
        self.events: list[CrowdEvent] = []

    def detect(self, image: np.ndarray) -> Detections:
        """People in the frame, in full-frame coordinates, ROI and DROI applied."""
        found = self.detector.detect(self.roi.crop(image))
        if self.roi.x or self.roi.y:
            shift = np.array([self.roi.x, self.roi.y, self.roi.x, self.roi.y], np.float32)
            found = Detections(found.xyxy + shift, found.confidence, found.class_id)
        return self.droi.filter(found) if self.droi is not None else found

    def detections(self, frame: Frame) -> Detections:
        """The model stage: no state is touched, so frames may be detected concurrently."""
        return self.detect(frame.image)

    def process(self, frame: Frame) -> list[CrowdEvent]:
        """Count people on a sampled frame; returns the crowd events this frame finished."""
        return self.update(frame, self.detections(frame))

    def update(self, frame: Frame, people: Detections) -> list[CrowdEvent]:
        """The ordered stage: feed a frame's detections to the counter, in frame order."""
        points = np.rint(people.centers).astype(np.int64) if len(people) else np.zeros((0, 2), np.int64)
        keep = frame.image if "overview" in self.targets else None
        finished = self.counter.update(frame.time_offset, points, keep)
        self.events.extend(finished)
        return finished

    def finish(self) -> list[CrowdEvent]:
        finished = self.counter.finish()
        self.events.extend(finished)
        return finished

    def event_result(self, event: CrowdEvent) -> dict[str, Any]:
        """One ``people_count_frame_aggregated``, with the overview image when asked for."""
        result = event.to_result(with_coordinates="coordinates" in self.targets)
        if "overview" in self.targets and event.overview is not None and event.overview_count is not None:
            image, scale = encode_shot(event.overview, self.policy)
            coords = np.rint(np.asarray(event.overview_count.coordinates, np.float64).reshape(-1, 2) * scale)
            result["overview"] = {
                "time_offset": event.overview_count.time_offset,
                "image": image,
                "people_coordinates": coords.astype(int).tolist(),
            }
        return result

    def result(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "result": {"crowd": {"events": [self.event_result(e) for e in self.events]}},
        }
