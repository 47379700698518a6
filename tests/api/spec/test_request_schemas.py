"""Spot checks of the generated request-body schemas against CORE.md and the spec; spec defaults."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from api.errors import LunaError
from api.spec.schemas import schema, with_defaults
from api.validation import _bytes_to_base64, validate
from tests.api.spec.support import UUID, assert_error, error

# -- spot checks against CORE.md / the spec -------------------------------------------------------


def test_create_handler():
    properties = schema("createHandler")["properties"]
    assert properties["description"] == {"type": "string", "maxLength": 128}
    policies = properties["policies"]["properties"]
    assert policies["match_policy"]["maxItems"] == 30
    multiface = policies["detect_policy"]["properties"]["multiface_policy"]
    assert multiface == {"type": "integer", "enum": [0, 1, 2], "default": 1}
    policy = {"candidates": {"origin": "faces"}}
    assert error({"policies": {"match_policy": [policy] * 30}}, "createHandler") is None
    found = assert_error(
        {"policies": {"match_policy": [policy] * 31}},
        "createHandler",
        ["policies", "match_policy"],
        "maxItems",
    )
    with pytest.raises(LunaError) as raised:  # the spec's 12027 example names the same path
        validate({"policies": {"match_policy": [policy] * 31}}, schema("createHandler"))
    assert "Path: 'policies.match_policy'" in raised.value.detail
    assert "is too long" in found.message
    assert_error({"description": "x" * 129}, "createHandler", ["description"], "maxLength")
    assert_error(
        {"policies": {"detect_policy": {"multiface_policy": 3}}},
        "createHandler",
        ["policies", "detect_policy", "multiface_policy"],
        "enum",
    )
    extra = assert_error(
        {"policies": {"detect_policy": {"detect_faces": 1}}},
        "createHandler",
        ["policies", "detect_policy"],
        "additionalProperties",
    )
    assert "'detect_faces' was unexpected" in extra.message
    assert_error({"handler": 1}, "createHandler", [], "additionalProperties")


def test_create_handler_variants_report_the_field_at_fault():
    face = {"candidates": {"origin": "faces", "face_ids": ["nope"]}}
    assert_error(
        {"policies": {"match_policy": [face]}},
        "createHandler",
        ["policies", "match_policy", 0, "candidates", "face_ids", 0],
        "pattern",
    )
    event = {
        "candidates": {"origin": "events", "face_ids": [UUID]},
        "descriptor": {"descriptor_type": "body"},
    }
    assert error({"policies": {"match_policy": [event]}}, "createHandler") is None
    assert_error(
        {"policies": {"match_policy": [{"candidates": {"origin": "bodies"}}]}},
        "createHandler",
        ["policies", "match_policy", 0, "candidates", "origin"],
        "enum",
    )
    callback = {"type": "http", "url": "http://x", "params": {"content_type": "text/xml"}}
    assert_error(
        {"policies": {"storage_policy": {"callbacks": [callback]}}},
        "createHandler",
        ["policies", "storage_policy", "callbacks", 0, "params", "content_type"],
        "enum",
    )
    ws = {"type": "luna-ws-notification", "url": "http://x"}
    assert_error(
        {"policies": {"storage_policy": {"callbacks": [ws]}}},
        "createHandler",
        ["policies", "storage_policy", "callbacks", 0],
        "additionalProperties",
    )


def stream_event(**changes: Any) -> dict[str, Any]:
    source_data = {"track_id": "track_1", "tags": ["a"], "stream_id": UUID, "meta": {"any": {"thing": 1}}}
    body = {
        "aggregate_attributes": 0,
        "sources": [
            {"source_type": "raw_image", "source": {"body": "AAEC", "source_data": source_data}},
            {
                "source_type": "detections",
                "source": [{"face": {"warp": "AAEC"}, "source_data": dict(source_data)}],
            },
        ],
    }
    body.update(changes)
    return body


def test_generate_stream_events():
    assert error(stream_event(), "generateStreamEvents", "msgpack") is None
    assert error(stream_event(use_exif_info=0), "generateStreamEvents", "msgpack") is None
    assert_error(
        stream_event(aggregate_attributes=2),
        "generateStreamEvents",
        ["aggregate_attributes"],
        "enum",
        "msgpack",
    )
    assert_error({"sources": []}, "generateStreamEvents", [], "required", "msgpack")
    # aggregate_attributes selects the variant: a top-level source_data only exists when aggregating
    found = assert_error(
        stream_event(source_data={}), "generateStreamEvents", [], "additionalProperties", "msgpack"
    )
    assert "'source_data' was unexpected" in found.message
    # ... and then the sources carry no source_data of their own
    aggregated = stream_event(aggregate_attributes=1, source_data={"track_id": "t"})
    path = ["sources", 0, "source"]
    found = assert_error(aggregated, "generateStreamEvents", path, "additionalProperties", "msgpack")
    assert "'source_data' was unexpected" in found.message
    aggregated = {
        "aggregate_attributes": 1,
        "source_data": {"track_id": "t"},
        "sources": [{"source_type": "raw_image", "source": {"body": "AAEC"}}],
    }
    assert error(aggregated, "generateStreamEvents", "msgpack") is None
    body = stream_event()
    body["sources"][0]["source"]["source_data"]["track_id"] = "bad track"
    assert_error(
        body,
        "generateStreamEvents",
        ["sources", 0, "source", "source_data", "track_id"],
        "pattern",
        "msgpack",
    )
    body = stream_event()
    body["sources"][1]["source"][0]["source_data"]["tags"] = ["t"] * 1001
    assert_error(
        body,
        "generateStreamEvents",
        ["sources", 1, "source", 0, "source_data", "tags"],
        "maxItems",
        "msgpack",
    )
    body["sources"][1]["source"][0]["source_data"]["tags"] = ["t"] * 1000
    assert error(body, "generateStreamEvents", "msgpack") is None
    track = schema("generateStreamEvents", "msgpack")["allOf"][0]["then"]["properties"]["sources"]["items"]
    source_data = track["allOf"][0]["then"]["properties"]["source"]["properties"]["source_data"]
    assert source_data["properties"]["track_id"]["pattern"] == "^[a-zA-Z0-9_\\-]{1,36}$"


def test_generate_stream_events_source_type_selects_the_source_shape():
    body = stream_event()
    body["sources"][0]["source"] = [{"face": {}}]  # a detections list under source_type raw_image
    assert_error(body, "generateStreamEvents", ["sources", 0, "source"], "type", "msgpack")
    body = stream_event()
    del body["sources"][0]["source_type"]
    assert_error(body, "generateStreamEvents", ["sources", 0], "required", "msgpack")
    body = stream_event()
    del body["sources"][1]["source"]
    assert_error(body, "generateStreamEvents", ["sources", 1], "required", "msgpack")
    body = stream_event()
    body["sources"][0]["source"]["meta"] = {"X-Luna-Meta-camera": "1", "ignored": 2}
    body["sources"][0]["extra_key"] = "sources allow additional fields"
    body["sources"][0]["source"]["face_detection_data"] = [
        {"bounding_box": {"x": 1, "y": 2, "width": 3, "height": 4}, "k": 1}
    ]
    assert error(body, "generateStreamEvents", "msgpack") is None
    body["sources"][0]["source"]["meta"]["X-Luna-Meta-camera"] = 1
    assert_error(
        body,
        "generateStreamEvents",
        ["sources", 0, "source", "meta", "X-Luna-Meta-camera"],
        "type",
        "msgpack",
    )


def test_generate_stream_events_msgpack_bytes_validate_as_base64():
    body = stream_event()
    body["sources"][0]["source"]["body"] = b"\xff\xd8\xff"
    body["sources"][1]["source"][0]["face"]["warp"] = b"\x00\x01"
    unpacked = msgpack.unpackb(msgpack.packb(body), raw=False)
    assert error(_bytes_to_base64(unpacked), "generateStreamEvents", "msgpack") is None


def test_create_stream():
    body = {
        "data": {"type": "videofile", "reference": "https://x/video.mp4"},
        "analytics": [{"analytic_name": "people"}],
    }
    assert error(body, "createStream") is None
    assert error({**body, "group_name": "g1"}, "createStream") is None
    assert error({**body, "group_id": UUID}, "createStream") is None
    assert error({**body, "group_name": "g1", "group_id": UUID}, "createStream").validator == "anyOf"
    data_type = schema("createStream")["properties"]["data"]["properties"]["type"]
    assert data_type == {"type": "string", "enum": ["videofile", "stream"]}
    assert_error(
        {**body, "data": {"type": "file", "reference": "x"}}, "createStream", ["data", "type"], "enum"
    )
    assert_error(
        {**body, "data": {"type": "stream", "reference": "x", "rotation": 45}},
        "createStream",
        ["data", "rotation"],
        "enum",
    )
    assert_error({**body, "analytics": []}, "createStream", ["analytics"], "minItems")
    assert_error({**body, "group_name": "bad name"}, "createStream", ["group_name"], "pattern")
    found = assert_error({**body, "extra": 1}, "createStream", [], "additionalProperties")
    assert "'extra' was unexpected" in found.message
    assert schema("putStream")["properties"] == schema("createStream")["properties"]


def test_other_operations():
    found = assert_error({"action": "detach1", "face_ids": [UUID]}, "linkFaces", ["action"], "enum")
    assert found.message == "'detach1' is not one of ['attach', 'detach']"  # the spec's own 12022 example
    assert_error({}, "patchAccount", [], "minProperties")
    assert_error({"userData": "x"}, "createList", [], "additionalProperties")
    assert_error([], "extractAttributes", [], "minItems")
    assert_error([UUID] * 9, "extractAttributes", [], "maxItems")
    reference = {"type": "face_external_id", "id": "x" * 37}
    assert_error(
        {"references": [reference], "candidates": []}, "matchFaces", ["references", 0, "id"], "maxLength"
    )
    token = schema("createToken")
    assert token["required"] == ["expiration_time"]
    assert error({"expiration_time": None, "permissions": {"face": ["view"]}}, "createToken") is None
    stats = {"targets": [{"column": "city"}, {"column": "meta.x", "aggregator": "max"}]}
    assert error(stats, "getEventStats") is None
    assert_error(
        {"period": [{"operator": "gte", "value": "yesterday"}]},
        "getEventStats",
        ["period", 0, "value"],
        "pattern",
    )


# -- defaults -------------------------------------------------------------------------------------


def test_with_defaults_fills_nested_objects():
    filled = with_defaults(schema("createHandler"), {"policies": {"detect_policy": {}}})
    detect = filled["policies"]["detect_policy"]
    assert detect["detect_face"] == 1
    assert detect["multiface_policy"] == 1
    assert detect["detect_body"] == 0
    assert "estimate_liveness" not in detect  # an absent object without a default of its own stays absent
    assert filled["handler_type"] == 0
    body = {"policies": {"detect_policy": {"face_quality": {"checks": {"head_yaw": {}}}}}}
    checks = with_defaults(schema("createHandler"), body)["policies"]["detect_policy"]["face_quality"][
        "checks"
    ]
    assert checks == {"head_yaw": {"estimate": 1, "threshold": {"min": -5.0, "max": 5.0}}}
    assert body == {
        "policies": {"detect_policy": {"face_quality": {"checks": {"head_yaw": {}}}}}
    }  # not mutated


def test_with_defaults_materialize():
    policies = with_defaults(schema("createHandler"), {"policies": {}}, materialize=True)["policies"]
    assert policies["detect_policy"]["detect_face"] == 1
    assert policies["extract_policy"]["extract_face_descriptor"] == 1
    assert policies["storage_policy"]["event_policy"]["store_event"] == 1
    assert "match_policy" not in policies


def test_with_defaults_through_variants_and_arrays():
    filled = with_defaults(schema("generateStreamEvents", "msgpack"), stream_event())
    assert filled["use_exif_info"] == 1
    assert filled["sources"][0]["trusted_detections"] == 0
    assert filled["sources"][0]["source"]["trusted_detections"] == 0
    assert filled["sources"][0]["source"]["source_data"]["user_data"] == ""
    stream = {"data": {"type": "stream", "reference": "rtsp://x"}, "analytics": [{"analytic_name": "a"}]}
    filled = with_defaults(schema("createStream"), stream)
    assert filled["analytics"] == [{"analytic_name": "a", "parameters": {}}]
    assert filled["data"]["timestamp_source"] == "auto"
    assert (filled["name"], filled["description"]) == ("", "")
    assert "autorestart" not in filled
    token = with_defaults(schema("createToken"), {"expiration_time": None, "permissions": {"face": ["view"]}})
    assert token["permissions"]["token"] == ["view"]
    assert token["permissions"]["emit_events"] == {"allowed": 1, "white_list": None, "black_list": None}
    stats = with_defaults(schema("getEventStats"), {})
    assert stats["targets"] == [{"column": "event_id", "aggregator": "count"}]
    match = with_defaults(
        schema("matchFaces"),
        {"references": [{"type": "face", "id": "x"}], "candidates": [{"filters": {"origin": "faces"}}]},
    )
    assert match["candidates"][0] == {
        "filters": {"origin": "faces"},
        "order": "similarity",
        "limit": 3,
        "threshold": 0.0,
    }
