"""Face test fixtures: three real photos of three people, altered copies, built face engines.

Photos come from packages, never from the network:
* scikit-image's ``astronaut`` (Eileen Collins; ships inside the ``scikit-image`` wheel),
* Debian ``facedetect``'s ``grace_hopper_512x512.jpg``,
* Debian ``opencv-doc``'s ``messi5.jpg``.

No package has two photos of one person, so "same person" means an altered copy (mirror,
rescale, brightness, crop). A missing package skips the tests that need it, with the install
command, except under ``CI=true`` where it fails: CI must not go green by skipping.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.media import missing


def _brightness(delta: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda img: np.clip(img.astype(np.int16) + delta, 0, 255).astype(np.uint8)


def _scale(factor: float) -> Callable[[np.ndarray], np.ndarray]:
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return lambda img: cv2.resize(img, None, fx=factor, fy=factor, interpolation=interpolation)


def crop_around(image: np.ndarray, box: np.ndarray, margin: float = 0.8) -> np.ndarray:
    """A crop keeping the face plus ``margin`` box sizes of context on each side."""
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    h, w = image.shape[:2]
    left, top = max(0, int(x1 - mx)), max(0, int(y1 - my))
    right, bottom = min(w, int(x2 + mx)), min(h, int(y2 + my))
    return np.ascontiguousarray(image[top:bottom, left:right])


ALTERATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "flip": lambda img: cv2.flip(img, 1),
    "scale_0.7": _scale(0.7),
    "scale_1.3": _scale(1.3),
    "brighter_30": _brightness(30),
    "darker_30": _brightness(-30),
}


@pytest.fixture(scope="session")
def dlib_installed() -> None:
    try:
        import dlib  # noqa: F401
    except ImportError:
        missing("dlib is not installed: pip install dlib-bin")


@pytest.fixture(scope="session")
def face_models(data_dir: Path, dlib_installed: None) -> dict[str, Path]:
    from engines.provision import ProvisionError, ensure_face_models

    try:
        return ensure_face_models(data_dir)
    except ProvisionError as exc:
        missing(str(exc))
        raise


@pytest.fixture(scope="session")
def detector(data_dir: Path, face_models: dict[str, Path]):  # type: ignore[no-untyped-def]
    """HOG detector at upsample 1 (finds faces from ~40 px) with the 68-point model enabled."""
    from engines.face.dlib_detector import DlibFaceDetector

    return DlibFaceDetector.from_data_dir(data_dir, upsample=1, enable_68=True)


@pytest.fixture(scope="session")
def dlib_extractor(data_dir: Path, face_models: dict[str, Path]):  # type: ignore[no-untyped-def]
    from engines.face.descriptor import DlibDescriptorExtractor

    return DlibDescriptorExtractor.from_data_dir(data_dir)


@pytest.fixture(scope="session")
def onnx_extractor(data_dir: Path, face_models: dict[str, Path]):  # type: ignore[no-untyped-def]
    from engines.face.descriptor import OnnxDescriptorExtractor

    return OnnxDescriptorExtractor.from_data_dir(data_dir)


@pytest.fixture(scope="session")
def pipeline(data_dir: Path, face_models: dict[str, Path], onnx_extractor):  # type: ignore[no-untyped-def]
    """Best face only; upsample 2 so the 0.7x copy of messi5.jpg (a ~25 px face) is found."""
    from engines.face.dlib_detector import DlibFaceDetector
    from engines.face.pipeline import FacePipeline

    return FacePipeline(DlibFaceDetector.from_data_dir(data_dir, upsample=2), onnx_extractor, max_faces=1)


@pytest.fixture(scope="session")
def originals(pipeline, photos: dict[str, np.ndarray]) -> dict:  # type: ignore[no-untyped-def]
    """The best face of each original photo, with its descriptor."""
    faces = {}
    for name, image in photos.items():
        found = pipeline.process(image)
        assert found, f"no face on {name}"
        faces[name] = found[0]
    return faces


@pytest.fixture(scope="session")
def altered(photos: dict[str, np.ndarray], originals: dict) -> dict[tuple[str, str], np.ndarray]:
    """Altered copies by (person, alteration), including a crop around the face."""
    copies = {}
    for name, image in photos.items():
        for label, alter in ALTERATIONS.items():
            copies[(name, label)] = alter(image)
        copies[(name, "crop")] = crop_around(image, originals[name].box)
    return copies
