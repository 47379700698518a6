"""Handler policies that need a model Argus does not have are refused when the handler is made.

A LUNA client that asks for emotions or liveness must learn at once that this deployment
cannot estimate them, not receive events silently lacking them. Each refusal is a 12022 naming
the policy path, like any other invalid field.
"""

from __future__ import annotations

from typing import Any

from api.errors import LunaError, bad_json

NO_MODEL = "no model for it is installed in Argus"
# detect_policy switches (0/1) and objects with `estimate` that no installed model serves.
DETECT_SWITCHES = (
    "detect_body",
    "estimate_emotions",
    "estimate_mask",
    "estimate_quality",
    "estimate_gaze",
    "estimate_glasses",
    "estimate_eyes_attributes",
    "estimate_mouth_attributes",
    "extract_exif",
)
DETECT_OBJECTS = (
    "estimate_people_count",
    "estimate_liveness",
    "estimate_deepfake",
    "estimate_face_occlusion",
    "face_quality",
)
DETECT_STATE_FILTERS = ("mask_states", "liveness_states", "deepfake_states", "face_occlusion_states")
NEEDS_68 = ("estimate_head_pose", "detect_landmarks68")
POSE_THRESHOLDS = ("yaw_threshold", "roll_threshold", "pitch_threshold")
# emit_events_filters keys that need basic attributes, liveness or deepfake.
ATTRIBUTE_FILTERS = ("gender", "ethnicities", "age__lt", "age__gte", "liveness", "deepfake")


def _refuse(path: str, why: str = NO_MODEL) -> LunaError:
    return bad_json(path, why)


def _check_detect(detect: dict[str, Any], has_landmarks68: bool) -> None:
    for name in DETECT_SWITCHES:
        if detect.get(name) == 1:
            raise _refuse(f"policies.detect_policy.{name}")
    for name in DETECT_OBJECTS:
        if (detect.get(name) or {}).get("estimate") == 1:
            raise _refuse(f"policies.detect_policy.{name}.estimate")
    for name in DETECT_STATE_FILTERS:
        if detect.get(name):
            raise _refuse(f"policies.detect_policy.{name}")
    body = detect.get("body_attributes") or {}
    for name, value in body.items():
        if value == 1:
            raise _refuse(f"policies.detect_policy.body_attributes.{name}")
    if not has_landmarks68:
        why = "needs the 68-point landmarks model, off by default (faces.landmarks68, non-commercial terms)"
        for name in NEEDS_68:
            if detect.get(name) == 1:
                raise _refuse(f"policies.detect_policy.{name}", why)
        for name in POSE_THRESHOLDS:
            if detect.get(name) not in (None, 180):
                raise _refuse(f"policies.detect_policy.{name}", why)


def _check_filters(filters: dict[str, Any] | None, path: str) -> None:
    for name in ATTRIBUTE_FILTERS:
        if filters and filters.get(name) is not None:
            raise _refuse(
                f"{path}.filters.{name}",
                "filters on basic attributes, liveness or deepfake need "
                "models that are not installed in Argus",
            )


def _check_storage(storage: dict[str, Any]) -> None:
    for name in (
        "face_sample_policy",
        "body_sample_policy",
        "image_origin_policy",
        "attribute_policy",
        "face_policy",
        "event_policy",
        "notification_policy",
    ):
        policy = storage.get(name) or {}
        _check_filters(policy.get("filters"), f"policies.storage_policy.{name}")
        for index, link in enumerate(policy.get("link_to_lists_policy") or []):
            _check_filters(
                link.get("filters"), f"policies.storage_policy.{name}.link_to_lists_policy.{index}"
            )
    for index, callback in enumerate(storage.get("callbacks") or []):
        _check_filters(callback.get("filters"), f"policies.storage_policy.callbacks.{index}")


def check_policies(policies: dict[str, Any], has_landmarks68: bool) -> None:
    """Raise 12022 naming the first policy that needs a model this deployment lacks."""
    _check_detect(policies.get("detect_policy") or {}, has_landmarks68)
    extract = policies.get("extract_policy") or {}
    for name in ("extract_basic_attributes", "extract_body_descriptor"):
        if extract.get(name) == 1:
            raise _refuse(f"policies.extract_policy.{name}")
    for index, match in enumerate(policies.get("match_policy") or []):
        _check_filters(match.get("filters"), f"policies.match_policy.{index}")
        if (match.get("descriptor") or {}).get("descriptor_type") == "body":
            raise _refuse(
                f"policies.match_policy.{index}.descriptor.descriptor_type",
                "no body descriptor model is installed in Argus",
            )
    _check_storage(policies.get("storage_policy") or {})
    for index, tag in enumerate(policies.get("conditional_tags_policy") or []):
        _check_filters(tag.get("filters"), f"policies.conditional_tags_policy.{index}")
