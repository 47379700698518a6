"""/6/attributes: temporary attributes (descriptors and basic attributes with a TTL), CORE.md §11."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from api import descriptors, errors
from api.errors import LunaError
from api.keys import DB
from api.responses import created, iso, no_content, principal, respond
from api.storage import attributes as repo
from api.storage.models import Attribute
from api.validation import UUID_RE, parse_query, q_enum, q_int, q_list, q_uuid, read_json_or_msgpack

TTL_SECONDS = q_int(1, 86400)
DEFAULT_TTL = 300
TARGETS = [
    "attribute_id",
    "account_id",
    "basic_attributes",
    "face_descriptor_samples",
    "face_descriptor",
    "basic_attributes_samples",
    "create_time",
]
SAMPLES = {"type": "array", "items": {"type": "string", "pattern": UUID_RE}, "uniqueItems": True}
DESCRIPTOR_ITEM = {
    "oneOf": [
        {
            "type": "object",
            "required": ["descriptor", "version"],
            "additionalProperties": False,
            "properties": {
                "descriptor": {"type": "string"},
                "version": {"enum": list(descriptors.ALL_VERSIONS)},
            },
        },
        {"type": "string"},
    ]
}
BASIC_ATTRIBUTES = {
    "type": "object",
    "required": ["age", "gender", "ethnicity"],
    "additionalProperties": False,
    "properties": {
        "age": {"type": "integer", "minimum": 0, "maximum": 100},
        "gender": {"enum": [0, 1]},
        "ethnicity": {"enum": [1, 2, 3, 4]},
    },
}
CREATE_SCHEMA = {
    "type": "object",
    "properties": {
        "face_descriptors": {"type": "array", "items": DESCRIPTOR_ITEM, "minItems": 1},
        "face_descriptor_samples": SAMPLES,
        "basic_attributes": BASIC_ATTRIBUTES,
        "basic_attributes_samples": SAMPLES,
    },
    "anyOf": [{"required": ["face_descriptors"]}, {"required": ["basic_attributes"]}],
    "additionalProperties": False,
}
VERSION_QUERY = q_enum(*(str(v) for v in descriptors.ALL_VERSIONS))


def pick_descriptor(items: list[Any]) -> descriptors.Descriptor:
    """The one descriptor of a registered version among those given (others answer 12036)."""
    parsed = [descriptors.parse(item) for item in items]
    versions = [d.version for d in parsed]
    if len(set(versions)) != len(versions):
        raise errors.bad_json("face_descriptors", "descriptor versions must be unique")
    return parsed[0]


def new_attribute(
    account_id: str,
    ttl: int,
    descriptor: descriptors.Descriptor | None,
    basic: dict[str, Any] | None,
    descriptor_samples: list[str],
    basic_samples: list[str],
    score: float | None = None,
) -> Attribute:
    now = datetime.now(UTC)
    return Attribute(
        attribute_id=str(uuid.uuid4()),
        account_id=account_id,
        descriptor=descriptor.raw if descriptor else None,
        descriptor_version=descriptor.version if descriptor else None,
        basic_attributes=basic,
        samples={"face_descriptor_samples": descriptor_samples, "basic_attributes_samples": basic_samples},
        score=score,
        create_time=now,
        expire_time=now + timedelta(seconds=ttl),
    )


async def post_attributes(request: web.Request) -> web.Response:
    query = parse_query(request, {"ttl": TTL_SECONDS}, {"ttl": DEFAULT_TTL})
    if request.content_type == "multipart/form-data":
        raise LunaError(
            errors.BAD_XPK, "Failed to parse xpk file: XPK (VisionLabs) files are not supported by Argus"
        )
    body = await read_json_or_msgpack(request, CREATE_SCHEMA)
    descriptor = pick_descriptor(body["face_descriptors"]) if "face_descriptors" in body else None
    attribute = new_attribute(
        principal(request).account_id,
        query["ttl"],
        descriptor,
        body.get("basic_attributes"),
        body.get("face_descriptor_samples", []),
        body.get("basic_attributes_samples", []),
    )
    async with request.app[DB].session() as session:
        session.add(attribute)
        await session.commit()
    return created(
        request, f"/6/attributes/{attribute.attribute_id}", {"attribute_id": attribute.attribute_id}
    )


def to_body(attribute: Attribute, version: int | None) -> dict[str, Any]:
    """The spec's output_attribute; the descriptor is bytes (base64 in JSON, binary in msgpack)."""
    matches = version is None or version == attribute.descriptor_version
    return {
        "attribute_id": attribute.attribute_id,
        "account_id": attribute.account_id,
        "create_time": iso(attribute.create_time),
        "face_descriptor": attribute.descriptor if matches else None,
        "basic_attributes": attribute.basic_attributes,
        "face_descriptor_samples": attribute.samples.get("face_descriptor_samples", []),
        "basic_attributes_samples": attribute.samples.get("basic_attributes_samples", []),
    }


def parse_targets(request: web.Request) -> list[str]:
    raw = request.query.get("targets")
    if raw is None:
        return TARGETS
    targets = [t for t in raw.split(",") if t]
    for target in targets:
        if target not in TARGETS:
            raise LunaError(
                errors.BAD_TARGET,
                f"'{target}' is not valid target to get faces. Valid target should be one of {TARGETS}.",
            )
    return targets


def _select(body: dict[str, Any], targets: list[str]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key in targets}


async def get_attributes(request: web.Request) -> web.Response:
    query = parse_query(
        request,
        {
            "attribute_ids": q_list(q_uuid),
            "account_id": q_uuid,
            "targets": str,
            "descriptor_version": VERSION_QUERY,
        },
    )
    if "attribute_ids" not in query:
        raise errors.bad_query("attribute_ids")
    targets = parse_targets(request)
    scope = principal(request).read_scope() or query.get("account_id")
    version = int(query["descriptor_version"]) if "descriptor_version" in query else None
    async with request.app[DB].session() as session:
        rows = await repo.many(session, query["attribute_ids"], scope)
    return respond(request, {"attributes": [_select(to_body(row, version), targets) for row in rows]})


async def _one(request: web.Request) -> Attribute:
    attribute_id = request.match_info["attribute_id"]
    async with request.app[DB].session() as session:
        attribute = await repo.get(session, attribute_id, principal(request).read_scope())
    if attribute is None:
        raise LunaError(errors.ATTRIBUTE_NOT_FOUND, f"Attributes with id '{attribute_id}' not found")
    return attribute


ONE_QUERY = {"targets": str, "descriptor_version": VERSION_QUERY}


async def get_attribute(request: web.Request) -> web.Response:
    query = parse_query(request, ONE_QUERY)
    targets = parse_targets(request)
    version = int(query["descriptor_version"]) if "descriptor_version" in query else None
    return respond(request, _select(to_body(await _one(request), version), targets))


async def head_attribute(request: web.Request) -> web.Response:
    parse_query(request, ONE_QUERY)
    parse_targets(request)
    await _one(request)
    return web.Response()


async def delete_attribute(request: web.Request) -> web.Response:
    parse_query(request, {})
    attribute_id = request.match_info["attribute_id"]
    async with request.app[DB].session() as session:
        removed = await repo.remove(session, attribute_id, principal(request).account_id)
        await session.commit()
    if not removed:
        raise LunaError(errors.ATTRIBUTE_NOT_FOUND, f"Attributes with id '{attribute_id}' not found")
    return no_content()


async def get_attribute_samples(request: web.Request) -> web.Response:
    parse_query(request, {})
    attribute = await _one(request)
    samples = attribute.samples
    unique = list(
        dict.fromkeys(
            [*samples.get("face_descriptor_samples", []), *samples.get("basic_attributes_samples", [])]
        )
    )
    return web.json_response({"samples": unique})
