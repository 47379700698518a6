"""Tracker knobs and outputs: the types the human_tracking analytic codes against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STATUSES = ("started", "in_process")


@dataclass(frozen=True)
class TrackerParams:
    """All ByteTrack knobs with their defaults.

    Defaults are ByteTrack's MOT17 values except three, measured with the deployed detector
    (YOLOv3-tiny 416 int8) on 12 synthetic scenes (``bench/tracker.py``; IDF1 at every frame
    0.809-0.837 per set of 4 scenes, against 0.768-0.814 with ByteTrack's values):
    ``fuse_score`` off, ``unconfirmed_match_iou`` 0.2, ``kalman_period`` 0.2.

    * ``high_score``: detections at or above take part in the first association. Raising it
      leaves more uncertain boxes to the stricter second stage; lowering it lets weak (often
      false) boxes steal tracks in the first.
    * ``low_score``: detections in ``[low_score, high_score)`` are matched only to tracks still
      tracked, in the second stage (ByteTrack's key idea: occluded people score low). Lower
      keeps tracks alive through heavier occlusion, at the risk of following clutter; below it
      a detection is ignored.
    * ``new_track_score``: an unmatched high detection at or above starts a track. Higher gives
      fewer false tracks from one-off boxes, later starts for people who appear.
    * ``first_match_iou``: least IoU (times the score with ``fuse_score``) between a track's
      predicted box and a high detection to match in stage 1 (ByteTrack's cost threshold 0.8).
      Lower follows faster or erratic motion, but swaps ids between close people more often.
    * ``second_match_iou``: least IoU in stage 2 (low-score detections; never score-weighted).
    * ``unconfirmed_match_iou``: least IoU for a track not yet confirmed. Its velocity is not
      known yet, so when frames are skipped (``rate``) a walker moves a good part of its width
      between updates; ByteTrack's 0.3 then never confirms fast walkers at 1/3 of 10 fps.
    * ``lost_time``: seconds a lost track waits for re-association, then finishes. Longer
      bridges longer occlusions, but a stale prediction may grab someone else. In seconds (not
      frames) so the behaviour does not change with the processing rate.
    * ``probe_count``: consecutive hits before a track is reported (LUNA ``probe_count``);
      0 or 1 reports at once. Higher suppresses tracks of flickering false detections and
      delays every real one by ``probe_count - 1`` processed frames.
    * ``fuse_score``: weight stage-1 and unconfirmed IoU by the detection score (ByteTrack's
      MOT17 setting, off in its MOT20 one). Off here: this detector scores clearly visible
      people 0.5-0.8, and the product then rejects true matches (IoU 0.3 x 0.6 < 0.2).
      On makes a confident box win a contested track.
    * ``kalman_period``: seconds that one step of ByteTrack's per-frame Kalman noise stands for
      (``analytics.tracking.kalman``). Larger trusts constant velocity more (smoother, slower
      to follow turns); ByteTrack itself is ``1 / fps`` of the video it runs on.
    """

    high_score: float = 0.5
    low_score: float = 0.1
    new_track_score: float = 0.6
    first_match_iou: float = 0.2
    second_match_iou: float = 0.5
    unconfirmed_match_iou: float = 0.2
    lost_time: float = 3.0
    probe_count: int = 3
    fuse_score: bool = False
    kalman_period: float = 0.2

    def __post_init__(self) -> None:
        if not 0 <= self.low_score <= self.high_score:
            raise ValueError(f"need 0 <= low_score <= high_score, got {self.low_score}, {self.high_score}")
        for name in ("first_match_iou", "second_match_iou", "unconfirmed_match_iou"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.lost_time < 0 or self.probe_count < 0 or self.kalman_period <= 0:
            raise ValueError("lost_time and probe_count must be >= 0, kalman_period > 0")


@dataclass(frozen=True)
class TrackSnapshot:
    """One reported track at one update.

    ``xyxy`` is the matched detection's box, or the Kalman prediction when the track was not
    detected this update (then ``score`` and ``detection_index`` are None). ``status`` is
    "started" on the update the track is first reported, "in_process" after.
    """

    track_id: int
    xyxy: np.ndarray
    score: float | None
    detection_index: int | None
    status: str
    hits: int


@dataclass(frozen=True)
class TrackerOutput:
    """``tracks``: confirmed tracks detected this update plus confirmed tracks lost for at most
    ``lost_time`` (predicted), ordered by id. ``finished``: ids that ended at this update."""

    tracks: list[TrackSnapshot]
    finished: list[int]
