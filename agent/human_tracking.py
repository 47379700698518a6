"""The human_tracking analytic: detect faces and/or bodies, track them, aggregate per track.

``tracking.detector_type`` picks what is tracked: ``face`` (dlib faces), ``body`` (YOLO
people) or ``human`` (bodies, each with the best face whose centre lies in the upper part of
its box). A track is reported once it has ``probe_count`` hits and becomes an event when it
finishes: its frame estimations (score ``null`` where the tracker only predicted), the best
face/body samples (``face_samples``/``body_samples`` count and filters), their thumbnail, the
face descriptor averaged over the samples, and an overview shot. Result shape: the spec's
``human_tracking_analytics_result`` (L7643); images and descriptors are ``bytes``.
"""

from __future__ import annotations

import heapq
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from agent.people_count import ParameterError, encode_shot
from agent.video_source import Frame, VideoInfo
from analytics.detections import Detections
from analytics.rate import Rate, RateSampler
from analytics.regions import Droi, RegionError, roi_rect
from analytics.tracking import ByteTracker, TrackerParams, TrackSnapshot
from api.descriptors import DLIB_VERSION, Descriptor
from engines.face.pipeline import FacePipeline
from engines.face.warp import warp_faces
from engines.protocols import Detector

DEFAULT_RATE = Rate("frame", 1)
FACE_TARGETS = {"face_detection", "landmarks5", "aggregated_face_samples", "aggregated_face_thumbnail"}
FACE_TARGETS |= {"aggregated_face_descriptor"}
BODY_TARGETS = {"body_detection", "aggregated_body_samples", "aggregated_body_thumbnail"}
SUPPORTED = FACE_TARGETS | BODY_TARGETS | {"overview"}
BODY_SAMPLE_SIZE = (128, 256)  # width, height of a body sample, as LUNA's body warps
FACE_IN_BODY = 0.4  # a face belongs to a body when its centre lies in the top 40% of the box


def rect(xyxy: np.ndarray) -> dict[str, int]:
    x1, y1, x2, y2 = (round(float(v)) for v in xyxy)
    return {"x": x1, "y": y1, "width": max(x2 - x1, 0), "height": max(y2 - y1, 0)}


def shift(found: Detections, dx: int, dy: int) -> Detections:
    if not (dx or dy):
        return found
    offset = np.array([dx, dy, dx, dy], np.float32)
    return Detections(found.xyxy + offset, found.confidence, found.class_id)


def faces_in_bodies(bodies: np.ndarray, faces: Detections) -> dict[int, int]:
    """body row -> face row: the best-scoring face centred in each body's upper part, used once."""
    pairs: dict[int, int] = {}
    taken: set[int] = set()
    for f in np.argsort(-faces.confidence, kind="stable"):
        cx, cy = faces.centers[f]
        width = faces.xyxy[f, 2] - faces.xyxy[f, 0]
        for b, (x1, y1, x2, y2) in enumerate(bodies):
            upper = y1 + FACE_IN_BODY * (y2 - y1)
            if (
                b not in pairs
                and f not in taken
                and x1 <= cx <= x2
                and y1 <= cy <= upper
                and width <= x2 - x1
            ):
                pairs[b] = int(f)
                taken.add(int(f))
                break
    return pairs


@dataclass(order=True)
class Sample:
    score: float
    order: int  # tie-break: earlier first
    time_offset: float = field(compare=False)
    image: np.ndarray = field(compare=False)


@dataclass
class Track:
    uid: str
    frames: list[dict[str, Any]] = field(default_factory=list)
    detected: list[bool] = field(default_factory=list)  # per frame: False = tracker prediction only
    faces: list[Sample] = field(default_factory=list)  # min-heaps of the best samples
    bodies: list[Sample] = field(default_factory=list)
    best_score: float = -1.0
    overview: tuple[float, np.ndarray, dict[str, Any]] | None = None


def keep_best(heap: list[Sample], sample: Sample, count: int) -> None:
    if count <= 0:
        return
    if len(heap) < count:
        heapq.heappush(heap, sample)
    elif sample > heap[0]:
        heapq.heapreplace(heap, sample)


class HumanTracking:
    """State of one human_tracking analytic over one video or stream."""

    name = "human_tracking"

    def __init__(
        self,
        analytic: dict[str, Any],
        bodies: Detector | None,
        faces: FacePipeline | None,
        info: VideoInfo,
    ) -> None:
        params = analytic["parameters"]
        self.targets = set(analytic["targets"])
        missing = sorted(self.targets - SUPPORTED)
        if missing:
            raise ParameterError("targets", f"estimations {missing} need models this server does not have")
        self.detector_type = params["tracking"]["detector_type"]
        if self.detector_type == "face" and self.targets & BODY_TARGETS:
            raise ParameterError(
                "parameters.tracking.detector_type", "'face' tracking cannot give body targets"
            )
        if self.detector_type == "body" and self.targets & FACE_TARGETS:
            raise ParameterError(
                "parameters.tracking.detector_type", "'body' tracking cannot give face targets"
            )
        self.bodies = bodies if self.detector_type in ("body", "human") else None
        self.faces = faces if self.detector_type in ("face", "human") else None
        self.policy = params["image_retain_policy"]
        self.sampler = RateSampler(Rate.from_params(params.get("rate"), DEFAULT_RATE))
        try:
            self.roi = roi_rect(params.get("roi"), info.width, info.height)
        except RegionError as exc:
            raise ParameterError("parameters.roi", str(exc)) from None
        self.face_filter = params["face_samples"]
        self.body_filter = params["body_samples"]
        self.face_droi = self._droi(self.face_filter["filters"], "face_samples", info)
        self.body_droi = self._droi(self.body_filter["filters"], "body_samples", info)
        self.tracker = ByteTracker(TrackerParams(probe_count=params["probe_count"]))
        self.tracks: dict[int, Track] = {}
        self.events: list[dict[str, Any]] = []
        self._order = itertools.count()

    @staticmethod
    def _droi(filters: dict[str, Any], where: str, info: VideoInfo) -> Droi | None:
        if "droi" not in filters:
            return None
        try:
            return Droi.from_params(filters["droi"], info.width, info.height)
        except RegionError as exc:
            raise ParameterError(f"parameters.{where}.filters.droi", str(exc)) from None

    def _detect(self, image: np.ndarray) -> tuple[Detections, Detections, np.ndarray]:
        """(tracked objects, faces, face landmarks5) in full-frame coordinates."""
        crop = self.roi.crop(image)
        faces, landmarks = Detections.empty(), np.zeros((0, 5, 2), np.float32)
        if self.faces is not None:
            faces = shift(self.faces.detector.detect(crop), self.roi.x, self.roi.y)
            if len(faces):
                landmarks = self.faces.detector.landmarks5(image, faces.xyxy)
        if self.bodies is not None:
            return shift(self.bodies.detect(crop), self.roi.x, self.roi.y), faces, landmarks
        return faces, faces, landmarks

    def detections(self, frame: Frame) -> tuple[Detections, Detections, np.ndarray]:
        """The model stage: no state is touched, so frames may be detected concurrently."""
        return self._detect(frame.image)

    def process(self, frame: Frame) -> list[dict[str, Any]]:
        """Track one sampled frame; returns the events of tracks that finished."""
        return self.update(frame, self.detections(frame))

    def update(
        self, frame: Frame, detected: tuple[Detections, Detections, np.ndarray]
    ) -> list[dict[str, Any]]:
        """The ordered stage: tracker, samples and finished tracks, in frame order."""
        tracked, faces, landmarks = detected
        output = self.tracker.update(tracked, frame.time_offset)
        pairs = faces_in_bodies(tracked.xyxy, faces) if self.detector_type == "human" else {}
        for snap in output.tracks:
            face_row = (
                snap.detection_index if self.detector_type == "face" else pairs.get(snap.detection_index)
            )
            self._observe(frame, snap, faces, landmarks, face_row)
        return [self._finish_track(tid) for tid in output.finished if tid in self.tracks]

    def _observe(
        self,
        frame: Frame,
        snap: TrackSnapshot,
        faces: Detections,
        landmarks: np.ndarray,
        face_row: int | None,
    ) -> None:
        track = self.tracks.setdefault(snap.track_id, Track(str(uuid.uuid4())))
        face = body = None
        face_box = faces.xyxy[face_row] if face_row is not None else None
        if self.detector_type == "face":
            face = {"detection": {"bbox": rect(snap.xyxy), "score": snap.score}}
        elif face_row is not None:
            face = {"detection": {"bbox": rect(face_box), "score": float(faces.confidence[face_row])}}
        if self.detector_type != "face":
            body = {"detection": {"bbox": rect(snap.xyxy), "score": snap.score}}
        if face is not None and face_row is not None and "landmarks5" in self.targets:
            face["landmarks5"] = np.rint(landmarks[face_row]).astype(int).tolist()
        track.detected.append(snap.score is not None)
        track.frames.append(
            {
                "time_offset": frame.time_offset,
                "estimated": {
                    "face": face
                    if "face_detection" in self.targets or "landmarks5" in self.targets
                    else None,
                    "body": body if "body_detection" in self.targets else None,
                },
            }
        )
        if snap.score is None:
            return
        if face_row is not None:
            self._face_sample(track, frame, faces, landmarks, face_row)
        if self.detector_type != "face":
            self._body_sample(track, frame, snap)
        if "overview" in self.targets and snap.score > track.best_score:
            track.best_score = snap.score
            detection = {
                "face": {"bbox": rect(face_box), "score": float(faces.confidence[face_row])}
                if face_row is not None
                else None,
                "body": {"bbox": rect(snap.xyxy), "score": snap.score}
                if self.detector_type != "face"
                else None,
            }
            track.overview = (frame.time_offset, frame.image, detection)

    def _face_sample(
        self, track: Track, frame: Frame, faces: Detections, landmarks: np.ndarray, row: int
    ) -> None:
        score = float(faces.confidence[row])
        if score < self.face_filter["filters"]["score"]:
            return
        if self.face_droi is not None and not self.face_droi.contains(faces.centers[row : row + 1])[0]:
            return
        if not self._pose_passes(frame, faces.xyxy[row : row + 1]):
            return
        (warp,) = warp_faces(frame.image, landmarks[row : row + 1])
        keep_best(
            track.faces, Sample(score, -next(self._order), frame.time_offset, warp), self.face_filter["count"]
        )

    def _pose_passes(self, frame: Frame, box: np.ndarray) -> bool:
        """Head-pose sample filters, where pose is estimable: it needs the opt-in 68-point model
        (``faces.landmarks68``); without it the angle filters cannot apply and are skipped."""
        detector = self.faces.detector if self.faces is not None else None
        if detector is None or not getattr(detector, "has_landmarks68", False):
            return True
        yaw, pitch, roll = (abs(float(a)) for a in detector.head_pose(frame.image, box)[0])
        limits = self.face_filter["filters"]
        return yaw <= limits["head_yaw"] and pitch <= limits["head_pitch"] and roll <= limits["head_roll"]

    def _body_sample(self, track: Track, frame: Frame, snap: TrackSnapshot) -> None:
        assert snap.score is not None
        if snap.score < self.body_filter["filters"]["score"]:
            return
        centre = np.array([[(snap.xyxy[0] + snap.xyxy[2]) / 2, (snap.xyxy[1] + snap.xyxy[3]) / 2]])
        if self.body_droi is not None and not self.body_droi.contains(centre)[0]:
            return
        height, width = frame.image.shape[:2]
        x1, y1 = max(int(snap.xyxy[0]), 0), max(int(snap.xyxy[1]), 0)
        x2, y2 = min(int(np.ceil(snap.xyxy[2])), width), min(int(np.ceil(snap.xyxy[3])), height)
        if x2 - x1 < 2 or y2 - y1 < 2:
            return
        crop = cv2.resize(frame.image[y1:y2, x1:x2], BODY_SAMPLE_SIZE, interpolation=cv2.INTER_AREA)
        sample = Sample(snap.score, -next(self._order), frame.time_offset, crop)
        keep_best(track.bodies, sample, self.body_filter["count"])

    def _shots(self, samples: list[Sample]) -> list[dict[str, Any]]:
        best = sorted(samples, reverse=True)
        return [{"time_offset": s.time_offset, "image": encode_shot(s.image, self.policy)[0]} for s in best]

    def _face_aggregate(self, track: Track) -> dict[str, Any] | None:
        if self.detector_type == "body":
            return None
        result: dict[str, Any] = {}
        shots = self._shots(track.faces)
        if "aggregated_face_samples" in self.targets:
            result["samples"] = shots
        if "aggregated_face_thumbnail" in self.targets and shots:
            result["thumbnail"] = shots[0]
        if "aggregated_face_descriptor" in self.targets and track.faces and self.faces is not None:
            extractor = self.faces.extractor
            assert extractor is not None
            values = extractor.extract_warps([s.image for s in track.faces])
            mean = values.mean(axis=0)
            # The mean of N descriptors is shorter than they are; rescale it to their mean length
            # so distances to single-photo descriptors keep dlib's scale (0.6 = same person).
            mean *= np.linalg.norm(values, axis=1).mean() / max(float(np.linalg.norm(mean)), 1e-12)
            result["descriptor"] = {
                "sdk_descriptor": Descriptor(DLIB_VERSION, mean.astype(np.float32)).sdk(),
                "score": 1.0,
            }
        return result

    def _body_aggregate(self, track: Track) -> dict[str, Any] | None:
        if self.detector_type == "face":
            return None
        result: dict[str, Any] = {}
        shots = self._shots(track.bodies)
        if "aggregated_body_samples" in self.targets:
            result["samples"] = shots
        if "aggregated_body_thumbnail" in self.targets and shots:
            result["thumbnail"] = shots[0]
        return result

    def _finish_track(self, track_id: int) -> dict[str, Any]:
        track = self.tracks.pop(track_id)
        # The track ended where it was last seen: drop the trailing predictions.
        seen = max((i for i, hit in enumerate(track.detected) if hit), default=0)
        frames = track.frames[: seen + 1]
        event: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "track_id": track.uid,
            "video_segment": {
                "start_time_offset": frames[0]["time_offset"] if frames else 0.0,
                "end_time_offset": frames[-1]["time_offset"] if frames else 0.0,
            },
            "frames_estimations": frames,
            "aggregated_estimations": {
                "face": self._face_aggregate(track),
                "body": self._body_aggregate(track),
            },
        }
        if track.overview is not None:
            time_offset, image, detection = track.overview
            encoded, scale = encode_shot(image, self.policy)
            for part in detection.values():
                if part is not None:
                    part["bbox"] = {k: round(v * scale) for k, v in part["bbox"].items()}
            event["overview"] = {"time_offset": time_offset, "image": encoded, "detection": detection}
        self.events.append(event)
        return event

    def finish(self) -> list[dict[str, Any]]:
        return [self._finish_track(tid) for tid in self.tracker.finish() if tid in self.tracks]

    def result(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "result": {"tracking": {"events": list(self.events), "track_count": self.tracker.track_count}},
        }
