"""ByteTrack (Zhang et al., ECCV 2022) multi-object tracker with time-based motion and loss.

Per update, after every track's Kalman prediction to the frame's time:

1. confirmed tracks (tracked and lost) vs detections scoring >= ``high_score``: IoU, optionally
   weighted by the detection score, thresholded Hungarian assignment;
2. tracks still tracked that stage 1 left unmatched vs the low-score detections (plain IoU):
   a person half hidden by another scores low but keeps their track;
3. unconfirmed tracks vs the high detections left over; an unconfirmed track that misses is
   dropped (ByteTrack): a probe must be hit on consecutive updates;
4. left-over high detections scoring >= ``new_track_score`` start unconfirmed tracks;
   confirmed tracks without a match become lost and finish after ``lost_time`` seconds.

Departures from the reference implementation, each for a reason:

* time, not frame counts: ``dt`` seconds drives the Kalman step (``kalman.py``) and
  ``lost_time`` is in seconds, so processing every n-th frame (LUNA ``rate``) keeps behaviour;
* confirmation after ``probe_count`` hits (LUNA) instead of "the second frame";
* ids are drawn when a track is confirmed, so reported ids run 1, 2, 3... without gaps
  (probes of false detections consume none); unconfirmed tracks are predicted too;
* no ``remove_duplicate_stracks`` pass: it may kill the track currently being followed;
* three defaults differ from ByteTrack's MOT17 values, measured with our detector
  (``TrackerParams``).

State is a set of parallel arrays (one row per track) so an update costs a fixed number of
numpy calls whatever the number of objects.
"""

from __future__ import annotations

import numpy as np

from analytics.boxes import iou_matrix
from analytics.detections import Detections
from analytics.tracking.assign import assign
from analytics.tracking.kalman import BoxKalman, xyah_to_xyxy, xyxy_to_xyah
from analytics.tracking.params import TrackerOutput, TrackerParams, TrackSnapshot


class ByteTracker:
    """One tracker per video or stream; not thread-safe (one caller feeds frames in order)."""

    def __init__(self, params: TrackerParams = TrackerParams()) -> None:  # noqa: B008 (frozen)
        self.params = params
        self._kalman = BoxKalman(params.kalman_period)
        self._next_id = 1
        self._time: float | None = None
        self._reset_state()

    @property
    def track_count(self) -> int:
        """Tracks confirmed (reported) so far by this instance."""
        return self._next_id - 1

    def _reset_state(self) -> None:
        self._mean = np.zeros((0, 8))
        self._cov = np.zeros((0, 8, 8))
        self._ids = np.zeros(0, dtype=np.int64)  # 0 while unconfirmed
        self._hits = np.zeros(0, dtype=np.int64)
        self._lost = np.zeros(0, dtype=bool)
        self._seen = np.zeros(0)  # time of the last matched detection

    def update(self, detections: Detections, time: float) -> TrackerOutput:
        """Associate one frame's detections (taken at ``time`` seconds) with the tracks."""
        p = self.params
        if self._time is not None and len(self._mean):
            mean = self._mean.copy()
            mean[self._lost, 7] = 0.0  # ByteTrack: a lost box keeps its size, it does not drift
            self._mean, self._cov = self._kalman.predict(mean, self._cov, time - self._time)
        self._time = time
        boxes = xyah_to_xyxy(self._mean[:, :4])
        track_det, new = self._associate(boxes, detections)
        hit = track_det >= 0
        confirmed_before = self._ids > 0

        if hit.any():
            rows = np.flatnonzero(hit)
            z = xyxy_to_xyah(detections.xyxy[track_det[rows]])
            self._mean[rows], self._cov[rows] = self._kalman.update(self._mean[rows], self._cov[rows], z)
        self._hits[hit] += 1
        self._seen[hit] = time
        self._lost = ~hit & confirmed_before
        started = hit & ~confirmed_before & (self._hits >= p.probe_count)
        self._confirm(started)

        gone = confirmed_before & (time - self._seen > p.lost_time)
        finished = sorted(int(i) for i in self._ids[gone])
        keep = hit | (confirmed_before & ~gone)  # an unconfirmed track that missed is dropped
        self._keep(keep)
        track_det, started, boxes = track_det[keep], started[keep], boxes[keep]

        born = self._add(detections, new)
        track_det = np.concatenate([track_det, new])
        started = np.concatenate([started, born])
        boxes = np.concatenate([boxes, detections.xyxy[new].astype(np.float64)])
        return TrackerOutput(self._snapshots(detections, track_det, started, boxes), finished)

    def _associate(self, boxes: np.ndarray, detections: Detections) -> tuple[np.ndarray, np.ndarray]:
        """ByteTrack's three stages: (detection row per track, -1 = none; detection rows to start)."""
        p = self.params
        scores = detections.confidence
        high = np.flatnonzero(scores >= p.high_score)
        low = np.flatnonzero((scores >= p.low_score) & (scores < p.high_score))
        track_det = np.full(len(boxes), -1, dtype=np.int64)
        confirmed = self._ids > 0

        pool = np.flatnonzero(confirmed)
        pairs, left_tracks, left_high = self._match(boxes[pool], detections, high, p.first_match_iou, True)
        track_det[pool[pairs[:, 0]]] = high[pairs[:, 1]]

        tracked = pool[left_tracks]
        tracked = tracked[~self._lost[tracked]]
        pairs, _, _ = self._match(boxes[tracked], detections, low, p.second_match_iou, False)
        track_det[tracked[pairs[:, 0]]] = low[pairs[:, 1]]

        probes = np.flatnonzero(~confirmed)
        high = high[left_high]
        pairs, _, left_high = self._match(boxes[probes], detections, high, p.unconfirmed_match_iou, True)
        track_det[probes[pairs[:, 0]]] = high[pairs[:, 1]]

        new = high[left_high]
        return track_det, new[scores[new] >= p.new_track_score]

    def _match(
        self, boxes: np.ndarray, detections: Detections, rows: np.ndarray, min_iou: float, fuse: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Assign track boxes to ``detections[rows]``: pairs (track pos, pos in rows) + leftovers."""
        similarity = iou_matrix(boxes, detections.xyxy[rows].astype(np.float64))
        if fuse and self.params.fuse_score:
            similarity = similarity * detections.confidence[rows][None, :]
        return assign(1.0 - similarity, 1.0 - min_iou)

    def _confirm(self, rows: np.ndarray) -> None:
        """Give ids, in creation order, to tracks that just reached ``probe_count`` hits."""
        count = int(np.count_nonzero(rows))
        self._ids[rows] = np.arange(self._next_id, self._next_id + count)
        self._next_id += count

    def _keep(self, keep: np.ndarray) -> None:
        self._mean, self._cov = self._mean[keep], self._cov[keep]
        self._ids, self._hits = self._ids[keep], self._hits[keep]
        self._lost, self._seen = self._lost[keep], self._seen[keep]

    def _add(self, detections: Detections, rows: np.ndarray) -> np.ndarray:
        """Start tracks at ``detections[rows]``; returns which of them are confirmed at once."""
        n = len(rows)
        mean, cov = self._kalman.initiate(xyxy_to_xyah(detections.xyxy[rows]))
        self._mean = np.concatenate([self._mean, mean])
        self._cov = np.concatenate([self._cov, cov])
        self._hits = np.concatenate([self._hits, np.ones(n, dtype=np.int64)])
        self._lost = np.concatenate([self._lost, np.zeros(n, dtype=bool)])
        self._seen = np.concatenate([self._seen, np.full(n, self._time)])
        self._ids = np.concatenate([self._ids, np.zeros(n, dtype=np.int64)])
        born = np.full(n, self.params.probe_count <= 1)
        if born.any():
            mask = np.zeros(len(self._ids), dtype=bool)
            mask[len(self._ids) - n :] = True
            self._confirm(mask)
        return born

    def _snapshots(
        self, detections: Detections, track_det: np.ndarray, started: np.ndarray, boxes: np.ndarray
    ) -> list[TrackSnapshot]:
        """Reported tracks by id: detected ones with their detection, lost ones predicted."""
        rows = np.argsort(self._ids, kind="stable")
        rows = rows[self._ids[rows] > 0]
        det = track_det[rows]
        detected = det >= 0
        safe = np.where(detected, det, 0)
        xyxy = boxes[rows].astype(np.float32)
        scores: list[float | None] = [None] * len(rows)
        if len(detections):
            xyxy[detected] = detections.xyxy[safe[detected]]
            scores = np.where(detected, detections.confidence[safe], np.nan).tolist()
        columns = zip(
            self._ids[rows].tolist(), xyxy, scores, det.tolist(), started[rows].tolist(),
            self._hits[rows].tolist(), strict=True,
        )  # fmt: skip
        out = []
        for track_id, box, value, d, first, hits in columns:
            status = "started" if first else "in_process"
            index, score = (d, value) if d >= 0 else (None, None)
            out.append(TrackSnapshot(track_id, box, score, index, status, hits))
        return out

    def finish(self) -> list[int]:
        """End of video: every confirmed track (tracked or lost) finishes; probes vanish."""
        finished = sorted(int(i) for i in self._ids[self._ids > 0])
        self._reset_state()
        self._time = None
        return finished
