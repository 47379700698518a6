"""Real test media from packages (never the network), shared by the engine and API tests.

* scikit-image's ``astronaut`` (Eileen Collins; ships inside the ``scikit-image`` wheel),
* Debian ``facedetect``'s ``grace_hopper_512x512.jpg``,
* Debian ``opencv-doc``'s ``messi5.jpg`` and ``vtest.avi``.

A missing package skips the tests that need it, with the install command, except under
``CI=true`` where it fails: CI must not go green by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

GRACE_HOPPER = Path("/usr/share/doc/facedetect/examples/grace_hopper_512x512.jpg")
MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
PEOPLE = ("astronaut", "grace_hopper", "messi")


def missing(reason: str) -> None:
    """Skip locally, fail under CI."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


def _read(path: Path, package: str) -> np.ndarray:
    if not path.is_file():
        missing(f"{path} is missing: apt-get install -y {package}")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"{path} does not decode"
    return image


def load_photos() -> dict[str, np.ndarray]:
    """BGR photos by person name."""
    try:
        from skimage import data as skdata
    except ImportError:
        missing("scikit-image is not installed: pip install scikit-image")
    return {
        "astronaut": cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR),
        "grace_hopper": _read(GRACE_HOPPER, "facedetect"),
        "messi": _read(MESSI, "opencv-doc"),
    }
