"""The request-body schema generator: reproducible from CORE.md, complete, and the spec's examples pass."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest

from api.spec import schema_gen
from api.spec.schemas import schema
from tests.api.spec.support import (
    CORE_MD,
    GENERATED,
    SCHEMAS,
    SPEC_MISSING,
    SPEC_TXT,
    error,
    examples,
    needs_spec,
)

# -- the generator --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def regenerated() -> schema_gen.Result:
    if not (CORE_MD.exists() and SPEC_TXT.exists()):
        pytest.skip(SPEC_MISSING)
    return schema_gen.generate(CORE_MD.read_text(), SPEC_TXT.read_text())


@needs_spec
def test_regenerating_reproduces_the_checked_in_files(regenerated):
    on_disk = {path.name: path.read_text() for path in SCHEMAS.glob("*.json")}
    assert sorted(on_disk) == sorted(regenerated.files), (
        "run python -m api.spec.schema_gen ../shared/spec/CORE.md"
    )
    for name, text in regenerated.files.items():
        assert on_disk[name] == text, (
            f"{name} is stale: run python -m api.spec.schema_gen ../shared/spec/CORE.md"
        )
    assert (SCHEMAS / "README.md").read_text() == schema_gen.readme(regenerated)


@needs_spec
def test_every_core_json_or_msgpack_body_is_generated(regenerated):
    assert regenerated.failed == []
    assert regenerated.warnings == []
    assert {name.removesuffix(".json") for name in regenerated.files} == GENERATED
    assert set(regenerated.skipped) == {
        "createAttributes",
        "createImages",
        "detectFaces",
        "generateEvents",
        "saveSample",
    }
    assert "multipart/form-data" in regenerated.skipped["generateEvents"]


def test_checked_in_schemas_are_valid_draft7():
    assert {path.name.removesuffix(".json") for path in SCHEMAS.glob("*.json")} == GENERATED
    for path in SCHEMAS.glob("*.json"):
        document = json.loads(path.read_text())
        jsonschema.Draft7Validator.check_schema(document)
        assert document["$schema"] == "http://json-schema.org/draft-07/schema#"
        assert "description" not in path.read_text().replace('"description": {', "")  # descriptions left out


def test_loader():
    assert schema("createHandler") is schema("createHandler", "application/json")
    assert schema("generateStreamEvents", "application/msgpack") is schema("generateStreamEvents", "msgpack")
    with pytest.raises(KeyError):
        schema("generateStreamEvents")  # msgpack only
    with pytest.raises(KeyError):
        schema("createHandler", "multipart/form-data")


def test_discriminator_mappings_are_read_from_the_raw_spec():
    text = (
        "discriminator:\npropertyName: source_type\nmapping:\nraw_image: '#/components/schemas/a'\n"
        "detections: '#/components/schemas/b'\nfoo:\n"
    )
    assert schema_gen.discriminator_mappings(text) == {
        "a": ("source_type", "raw_image"),
        "b": ("source_type", "detections"),
    }


# -- the spec's own request examples ---------------------------------------------------------------


# Examples that contradict the spec's schemas, by (operationId, spec line): where the failure is expected
# (a path prefix) and the correction after which the example must pass.
def _move_occlusion(body: dict) -> None:
    policies = body["policies"]
    policies["detect_policy"]["estimate_face_occlusion"] = policies.pop("estimate_face_occlusion")
    policies["detect_policy"]["face_occlusion_states"] = policies.pop("face_occlusion_states")


def _fix_threshold(body: dict) -> None:
    for check in body["policies"]["detect_policy"]["face_quality"]["checks"].values():
        if "thershold" in check:
            check["threshold"] = check.pop("thershold")


def _drop_trusted_detections(body: dict) -> None:
    for source in body["sources"]:
        for detection in source["source"] if source["source_type"] == "detections" else []:
            detection.pop("trusted_detections", None)


def _listify_face_detection_data(body: dict) -> None:
    for source in body["sources"]:
        data = source["source"].get("face_detection_data") if source["source_type"] == "raw_image" else None
        if isinstance(data, dict):
            source["source"]["face_detection_data"] = [data]


KNOWN_BAD = {
    ("createHandler", 34064): (["policies"], _move_occlusion),  # detect_policy keys one level up
    ("createHandler", 34124): (
        ["policies", "detect_policy", "face_quality", "checks"],
        _fix_threshold,
    ),  # "thershold" x5  # "thershold"
    ("generateStreamEvents", 37221): (["sources", 0, "source", 0], _drop_trusted_detections),
    ("generateStreamEvents", 37257): (
        ["sources", 0, "source", "face_detection_data"],
        _listify_face_detection_data,
    ),
    ("generateStreamEvents", 37296): (
        ["sources", 1, "source", "face_detection_data"],
        _listify_face_detection_data,
    ),
}


def spec_examples() -> list[tuple[str, str, Any]]:
    if not SPEC_TXT.exists():
        return []
    lines = SPEC_TXT.read_text().split("\n")
    cases = []
    for name in sorted(GENERATED):
        operation_id, content_type = name.split(".")
        for example in examples(lines, operation_id):
            cases.append(pytest.param(operation_id, content_type, example, id=f"{name}-L{example.line}"))
    return cases


@needs_spec
@pytest.mark.parametrize(("operation_id", "content_type", "example"), spec_examples())
def test_spec_examples_validate(operation_id, content_type, example):
    known = KNOWN_BAD.get((operation_id, example.line))
    body = copy.deepcopy(example.value)
    if known:
        path, correct = known
        assert list(error(body, operation_id, content_type).absolute_path)[: len(path)] == path
        correct(body)
    found = error(body, operation_id, content_type)
    assert found is None, f"{list(found.absolute_path)}: {found.message}"


@needs_spec
def test_spec_examples_cover_the_main_operations():
    covered = {param.values[0] for param in spec_examples()}
    assert covered >= {
        "createStream",
        "createHandler",
        "generateStreamEvents",
        "matchFaces",
        "getEventStats",
        "createToken",
        "createFace",
        "saveEvent",
        "linkFaces",
        "createAccount",
    }
    assert len(spec_examples()) >= 40
