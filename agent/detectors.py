"""Engines built from the config tree (the agent's and videosdk's view of ``[person_detector]``)."""

from __future__ import annotations

from api.config import Config
from engines.person_detector import make_person_detector
from engines.protocols import Detector


def person_detector(config: Config) -> Detector:
    """The person detector the config's ``type`` names, with its documented knobs."""
    section = config.person_detector
    if section.type == "hog":
        return make_person_detector("hog", config.model_root)
    return make_person_detector(
        section.type,
        config.model_root,
        input_size=(section.input_width, section.input_height),
        intra_op_threads=section.threads,
        precision=section.precision or None,
        score_threshold=section.score_threshold,
        nms_iou=section.nms_iou,
        tiles=None if section.tiles == "full" else section.tiles,
    )
