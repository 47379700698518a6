"""The one detection type every analytic and engine speaks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _empty_boxes() -> np.ndarray:
    return np.zeros((0, 4), dtype=np.float32)


@dataclass(frozen=True)
class Detections:
    """Parallel numpy arrays, one row per detected object.

    Arrays (not lists of objects) so filters such as DROI or score thresholds are one
    vectorised mask: ``dets[dets.confidence > 0.5]``.

    * ``xyxy``: float32 (N, 4) boxes in pixels of the image they were found on.
    * ``confidence``: float32 (N,) detector score in [0, 1].
    * ``class_id``: int32 (N,) model class index (COCO 0 = person).
    """

    xyxy: np.ndarray = field(default_factory=_empty_boxes)
    confidence: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    class_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4) or len(self.confidence) != n or len(self.class_id) != n:
            raise ValueError(
                f"Detections arrays disagree: xyxy {self.xyxy.shape}, "
                f"confidence {self.confidence.shape}, class_id {self.class_id.shape}"
            )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | int) -> Detections:
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index])

    @property
    def centers(self) -> np.ndarray:
        """(N, 2) box centres; DROI membership is decided by the centre."""
        return np.stack(
            [(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2], axis=1
        )

    @classmethod
    def empty(cls) -> Detections:
        return cls()

    @classmethod
    def merge(cls, parts: list[Detections]) -> Detections:
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]).astype(np.float32, copy=False),
            np.concatenate([p.confidence for p in parts]).astype(np.float32, copy=False),
            np.concatenate([p.class_id for p in parts]).astype(np.int32, copy=False),
        )
