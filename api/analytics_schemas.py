"""JSON Schemas and defaults of the video analytics' parameters, transcribed from the spec.

One source for `/6/videosdk` bodies and (with streams) the analytics registry's
``validation_schema``/``default_parameters``. Spec lines: ``probe_count`` L6900, ``rate``
L6907-6944, ``roi`` L6945-7005, ``droi`` L7006-7038, ``image_retain_policy`` L7039-7058,
``human_tracking_parameters`` L7059-7160, ``people_count_parameters`` L7161-7192, the analytics
L7193-7265, ``video_analytics_params`` L7266-7336. Objects reject unknown fields (LUNA answers
"extra fields not permitted"), so a misspelt parameter is an error rather than a silent default.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

PROBE_COUNT = {"type": "integer", "minimum": 0}
NUMBER01 = {"type": "number", "minimum": 0, "maximum": 1}
INT01 = {"type": "integer", "enum": [0, 1]}
INT090 = {"type": "integer", "minimum": 0, "maximum": 90}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


RATE = {
    "type": "object",
    "required": ["unit", "period"],
    "properties": {"unit": {"enum": ["frame", "second"]}},
    "allOf": [
        {
            "if": {"properties": {"unit": {"const": "frame"}}},
            "then": _object({"unit": {"const": "frame"}, "period": {"type": "integer", "minimum": 1}}),
        },
        {
            "if": {"properties": {"unit": {"const": "second"}}},
            "then": _object({"unit": {"const": "second"}, "period": {"type": "number", "minimum": 0}}),
        },
    ],
}
_ROI_INT = {"type": "integer", "minimum": 0, "maximum": 65536}
_ROI_PERCENT = {"type": "number", "minimum": 0, "maximum": 100}
_ROI_PERCENT_SIZE = {"type": "number", "minimum": 0.00001, "maximum": 100}
ROI = {
    "type": "object",
    "required": ["x", "y", "width", "height", "mode"],
    "properties": {"mode": {"enum": ["abs", "percent"]}},
    "allOf": [
        {
            "if": {"properties": {"mode": {"const": "abs"}}},
            "then": _object(
                {"x": _ROI_INT, "y": _ROI_INT, "width": _ROI_INT, "height": _ROI_INT}
                | {"mode": {"const": "abs"}}
            ),
        },
        {
            "if": {"properties": {"mode": {"const": "percent"}}},
            "then": _object(
                {
                    "x": _ROI_PERCENT,
                    "y": _ROI_PERCENT,
                    "width": _ROI_PERCENT_SIZE,
                    "height": _ROI_PERCENT_SIZE,
                    "mode": {"const": "percent"},
                }
            ),
        },
    ],
}
_POINT = _object({"x": {"type": "number", "minimum": 0}, "y": {"type": "number", "minimum": 0}}, ["x", "y"])
DROI = _object(
    {
        "area": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "array", "minItems": 3, "items": _POINT},
        },
        "mode": {"enum": ["percent", "abs"]},
        "form": {"enum": ["common"]},
    },
    ["area", "mode", "form"],
)
IMAGE_RETAIN_POLICY = _object(
    {
        "mimetype": {"enum": ["PNG", "JPEG"]},
        "quality": NUMBER01,
        "max_size": {"type": "integer", "minimum": 0},
    }
)

PEOPLE_COUNT_PARAMETERS = _object(
    {
        "roi": ROI,
        "droi": DROI,
        "rate": RATE,
        "probe_count": PROBE_COUNT,
        "image_retain_policy": IMAGE_RETAIN_POLICY,
        "people_count_threshold": {"type": "integer", "minimum": 0},
    }
)
PEOPLE_COUNT_TARGETS = ("coordinates", "overview")

HUMAN_TRACKING_TARGETS = (
    "face_detection",
    "landmarks5",
    "head_pose",
    "ags",
    "warp_quality",
    "emotions",
    "glasses",
    "eyes",
    "gaze",
    "mouth",
    "mask",
    "aggregated_liveness",
    "aggregated_deepfake",
    "aggregated_face_samples",
    "aggregated_face_thumbnail",
    "aggregated_face_basic_attributes",
    "aggregated_face_descriptor",
    "body_detection",
    "aggregated_body_samples",
    "aggregated_body_thumbnail",
    "aggregated_body_attributes",
    "aggregated_body_descriptor",
    "overview",
)
HUMAN_TRACKING_PARAMETERS = _object(
    {
        "roi": ROI,
        "rate": RATE,
        "probe_count": PROBE_COUNT,
        "image_retain_policy": IMAGE_RETAIN_POLICY,
        "tracking": _object({"detector_type": {"enum": ["face", "body", "human"]}, "body_reid": INT01}),
        "face_samples": _object(
            {
                "count": {"type": "integer", "minimum": 0},
                "filters": _object(
                    {
                        "score": NUMBER01,
                        "head_pitch": INT090,
                        "head_roll": INT090,
                        "head_yaw": INT090,
                        "droi": DROI,
                    }
                ),
            }
        ),
        "body_samples": _object(
            {
                "count": {"type": "integer", "minimum": 0},
                "filters": _object({"score": NUMBER01, "droi": DROI}),
            }
        ),
    }
)

# Spec defaults, filled into validated parameters so analytics code never guesses.
_RETAIN_DEFAULTS = {"mimetype": "JPEG", "quality": 1, "max_size": 640}
PEOPLE_COUNT_DEFAULTS: dict[str, Any] = {
    "rate": {"unit": "frame", "period": 10},
    "probe_count": 3,
    "image_retain_policy": _RETAIN_DEFAULTS,
    "people_count_threshold": 1,
}
HUMAN_TRACKING_DEFAULTS: dict[str, Any] = {
    "rate": {"unit": "frame", "period": 1},
    "probe_count": 3,
    "image_retain_policy": _RETAIN_DEFAULTS,
    "tracking": {"detector_type": "face", "body_reid": 0},
    "face_samples": {
        "count": 5,
        "filters": {"score": 0.6, "head_pitch": 15, "head_roll": 15, "head_yaw": 15},
    },
    "body_samples": {"count": 5, "filters": {"score": 0.3}},
}


def _analytic(name: str, targets: tuple[str, ...], parameters: dict[str, Any], min_targets: int) -> dict:
    target_list: dict[str, Any] = {"type": "array", "items": {"enum": list(targets)}}
    if min_targets:
        target_list["minItems"] = min_targets
    return _object({"name": {"const": name}, "targets": target_list, "parameters": parameters}, ["name"])


PEOPLE_COUNT = _analytic("people_count", PEOPLE_COUNT_TARGETS, PEOPLE_COUNT_PARAMETERS, 0)
HUMAN_TRACKING = _analytic("human_tracking", HUMAN_TRACKING_TARGETS, HUMAN_TRACKING_PARAMETERS, 1)
ANALYTICS = {"people_count": PEOPLE_COUNT, "human_tracking": HUMAN_TRACKING}
DEFAULTS = {"people_count": PEOPLE_COUNT_DEFAULTS, "human_tracking": HUMAN_TRACKING_DEFAULTS}
DEFAULT_TARGETS: dict[str, list[str]] = {"people_count": [], "human_tracking": ["face_detection"]}

# An analytic is checked against its own schema once its name is known, so a bad parameter is
# reported at its own path (`analytics.0.parameters.rate.period`), not as "matches no variant".
ANALYTIC_ITEM = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"enum": list(ANALYTICS)}},
    "allOf": [{"if": {"properties": {"name": {"const": n}}}, "then": s} for n, s in ANALYTICS.items()],
}
VIDEO_ANALYTICS_PARAMS = _object(
    {
        "video": _object(
            {
                "url": {"type": "string", "minLength": 1},
                "orientation": _object({"angle": {"enum": [0, 90, 180, 270]}}, ["angle"]),
                "pts": _object({"start_time": {"type": "number", "minimum": 0}}, ["start_time"]),
                "error_handling": _object({"action": {"enum": ["fail", "stop"]}}, ["action"]),
            },
            ["url"],
        ),
        "analytics": {"type": "array", "items": ANALYTIC_ITEM},
    },
    ["video", "analytics"],
)


def merged(defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` over ``defaults``, recursively for nested objects (a given rate replaces it whole)."""
    result = copy.deepcopy(dict(defaults))
    for key, value in given.items():
        if key != "rate" and isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def with_analytic_defaults(analytic: Mapping[str, Any]) -> dict[str, Any]:
    """A validated analytic with its targets and parameters completed from the spec defaults."""
    name = analytic["name"]
    return {
        "name": name,
        "targets": list(analytic.get("targets", DEFAULT_TARGETS[name])),
        "parameters": merged(DEFAULTS[name], analytic.get("parameters", {})),
    }


# -- Streams: analytics[].parameters of /6/streams --------------------------------------------
# The spec's stream analytic is {analytic_name, parameters} with free-form parameters checked
# against the analytic's registered `validation_schema` (L18471-18490, L18817). LUNA's own
# analytics take {targets, callbacks (<= 10), parameters} there; Argus's two do the same, with
# `parameters` exactly the /6/videosdk parameters above. Callbacks follow the spec's callback
# shapes (http: L6519-6560, luna-ws-notification: L6672-6690) plus `luna-event`, which hands the
# analytic's detections to one of the account's handlers (its stream_events, CORE.md §4).
UUID_STRING = {"type": "string", "pattern": "^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$"}
CALLBACK_ENABLE = {**INT01, "default": 1}
STREAM_HTTP_CALLBACK = _object(
    {
        "type": {"const": "http"},
        "url": {"type": "string", "maxLength": 2048, "pattern": "^[hH][tT][tT][pP][sS]?://"},
        "authorization": _object(
            {
                "type": {"enum": ["basic"]},
                "login": {"type": "string", "maxLength": 128},
                "password": {"type": "string", "maxLength": 128},
            },
            ["type", "login", "password"],
        ),
        "params": _object(
            {
                "timeout": {"type": "integer", "minimum": 1, "default": 60},
                "content_type": {"enum": ["application/json", "application/msgpack"]},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            }
        ),
        "enable": CALLBACK_ENABLE,
    },
    ["type", "url"],
)
STREAM_WS_CALLBACK = _object({"type": {"const": "luna-ws-notification"}, "enable": CALLBACK_ENABLE}, ["type"])
STREAM_EVENT_CALLBACK = _object(
    {"type": {"const": "luna-event"}, "handler_id": UUID_STRING, "enable": CALLBACK_ENABLE},
    ["type", "handler_id"],
)
_CALLBACKS_BY_TYPE = {
    "http": STREAM_HTTP_CALLBACK,
    "luna-ws-notification": STREAM_WS_CALLBACK,
    "luna-event": STREAM_EVENT_CALLBACK,
}
# Dispatch on `type` so a bad field is reported at its own path, not as "matches no variant".
STREAM_CALLBACK = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"enum": list(_CALLBACKS_BY_TYPE)}},
    "allOf": [
        {"if": {"required": ["type"], "properties": {"type": {"const": kind}}}, "then": schema}
        for kind, schema in _CALLBACKS_BY_TYPE.items()
    ],
}
STREAM_CALLBACKS = {"type": "array", "maxItems": 10, "items": STREAM_CALLBACK}


def _stream_parameters(targets: tuple[str, ...], min_targets: int, parameters: dict[str, Any]) -> dict:
    target_list: dict[str, Any] = {"type": "array", "items": {"enum": list(targets)}}
    if min_targets:
        target_list["minItems"] = min_targets
    return _object({"targets": target_list, "callbacks": STREAM_CALLBACKS, "parameters": parameters})


# The analytics registry's `validation_schema` of each built-in analytic.
STREAM_ANALYTICS: dict[str, dict[str, Any]] = {
    "people_count": _stream_parameters(PEOPLE_COUNT_TARGETS, 0, PEOPLE_COUNT_PARAMETERS),
    "human_tracking": _stream_parameters(HUMAN_TRACKING_TARGETS, 1, HUMAN_TRACKING_PARAMETERS),
}
# ... and its `default_parameters`.
STREAM_DEFAULTS: dict[str, dict[str, Any]] = {
    name: {"targets": DEFAULT_TARGETS[name], "callbacks": [], "parameters": DEFAULTS[name]}
    for name in STREAM_ANALYTICS
}
# Checks every analytic of a stream body against its own schema, reporting absolute paths
# (`analytics.0.parameters.parameters.rate.period`); an unknown name fails the enum.
STREAM_ANALYTIC_ITEM = {
    "type": "object",
    "required": ["analytic_name"],
    "properties": {"analytic_name": {"enum": list(STREAM_ANALYTICS)}},
    "allOf": [
        {
            "if": {"required": ["analytic_name"], "properties": {"analytic_name": {"const": n}}},
            "then": {"properties": {"parameters": s}},
        }
        for n, s in STREAM_ANALYTICS.items()
    ],
}
STREAM_ANALYTICS_BODY = {
    "type": "object",
    "properties": {"analytics": {"type": "array", "items": STREAM_ANALYTIC_ITEM}},
}


def with_stream_analytic_defaults(analytic: Mapping[str, Any]) -> dict[str, Any]:
    """A stored stream analytic ({analytic_name, parameters}) as the pipeline runs it:
    ``{name, targets, parameters, callbacks}`` with every spec default filled."""
    given = analytic.get("parameters") or {}
    job = with_analytic_defaults(
        {"name": analytic["analytic_name"], **{k: given[k] for k in ("targets", "parameters") if k in given}}
    )
    job["callbacks"] = [{"enable": 1, **callback} for callback in given.get("callbacks", [])]
    return job
