"""Frames of vtest.avi (Debian ``opencv-doc``), the scene the person detector is measured on.

768x576, 10 fps, 795 frames of a fixed camera over a pedestrian square. Frame indices are
0-based positions in PyAV's decode order, the indices the hand labels
(``tests/data/vtest_people.json``) and the int8 calibration frames use.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def read_frames(indices: Iterable[int], video: Path = VTEST) -> dict[int, np.ndarray]:
    """BGR uint8 frames at these 0-based decode indices (decodes up to the largest one)."""
    import av

    if not video.is_file():
        raise RuntimeError(f"{video} is missing: install the Debian package opencv-doc")
    wanted = set(indices)
    frames: dict[int, np.ndarray] = {}
    if not wanted:
        return frames
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                frames[index] = frame.to_ndarray(format="bgr24")
            if index >= max(wanted):
                break
    missing = wanted - set(frames)
    if missing:
        raise ValueError(f"{video} has no frames {sorted(missing)}")
    return frames
