"""Multi-object tracking: ByteTrack over ``Detections`` with time-based motion (``bytetrack.py``)."""

from analytics.tracking.bytetrack import ByteTracker
from analytics.tracking.kalman import BoxKalman
from analytics.tracking.params import TrackerOutput, TrackerParams, TrackSnapshot

__all__ = ["BoxKalman", "ByteTracker", "TrackSnapshot", "TrackerOutput", "TrackerParams"]
