"""/6/faces: persistent faces, their attribute set and their lists (CORE.md §7).

A face's attribute set comes either from a live temporary attribute of the caller's account
(copied, so the face outlives the attribute's TTL) or from descriptors and basic attributes given
in the body; both are parsed and rendered by the temporary attributes' code.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from api import descriptors, errors
from api.errors import LunaError
from api.keys import DB, MATCHING
from api.resources.attributes import CREATE_SCHEMA, VERSION_QUERY, pick_descriptor, to_body
from api.responses import created, iso, no_content, principal, respond, select_targets
from api.storage import attributes as attributes_repo
from api.storage import faces as repo
from api.storage import lists as lists_repo
from api.storage.faces import FaceFilter
from api.storage.models import Attribute, Face, ListFace
from api.validation import (
    PAGINATION,
    UUID_RE,
    parse_query,
    q_enum,
    q_list,
    q_time,
    q_uuid,
    read_json,
    read_json_or_msgpack,
)

UUID = {"type": "string", "pattern": UUID_RE}
UNIQUE_IDS = {"type": "array", "items": UUID, "minItems": 1, "uniqueItems": True}
# `face_attribute` (L8049): a temporary attribute's id, or descriptors and/or basic attributes.
# if/then/else rather than the spec's oneOf so a 12022 names the field that is actually wrong.
FACE_ATTRIBUTE = {
    "type": "object",
    "if": {"required": ["attribute_id"]},
    "then": {"properties": {"attribute_id": UUID}, "additionalProperties": False},
    "else": CREATE_SCHEMA,
}
NEW_FACE = {
    "type": "object",
    "properties": {
        "attribute": FACE_ATTRIBUTE,
        "external_id": {"type": "string", "maxLength": 36},
        "user_data": {"type": "string", "maxLength": 128},
        "avatar": {"type": "string", "maxLength": 256},
        "lists": UNIQUE_IDS,
        "event_id": UUID,
    },
    "additionalProperties": False,
}
UPDATE_FACE = {
    "type": "object",
    "properties": {
        "external_id": {"type": "string", "maxLength": 36},
        "event_id": {"type": ["string", "null"], "pattern": UUID_RE},
        "user_data": {"type": "string", "maxLength": 128},
        "avatar": {"type": "string", "maxLength": 256},
    },
    "additionalProperties": False,
}
FACES_TO_DELETE = {
    "type": "object",
    "properties": {"face_ids": UNIQUE_IDS},
    "required": ["face_ids"],
    "additionalProperties": False,
}
TARGETS = ["face_id", "account_id", "event_id", "user_data", "create_time", "external_id", "avatar", "lists"]
ATTRIBUTE_TARGETS = [
    "basic_attributes",
    "face_descriptor_samples",
    "face_descriptor",
    "basic_attributes_samples",
    "create_time",
]
FILTERS = {
    "account_id": q_uuid,
    "create_time__lt": q_time,
    "create_time__gte": q_time,
    "event_id": q_uuid,
    "face_id__lt": q_uuid,
    "face_id__gte": q_uuid,
    "face_ids": q_list(q_uuid),
    "external_ids": q_list(str),
    "user_data": str,
    "list_id": q_uuid,
}


def no_attribute() -> dict[str, Any]:
    """Face columns of a face without an attribute set."""
    return {
        "descriptor": None,
        "descriptor_version": None,
        "basic_attributes": None,
        "samples": {"face_descriptor_samples": [], "basic_attributes_samples": []},
        "attribute_create_time": None,
    }


def not_found(face_id: str) -> LunaError:
    return LunaError(errors.FACE_NOT_FOUND, f"Face with id '{face_id}' not found")


def targets_of(request: web.Request, allowed: list[str]) -> list[str] | None:
    """The ``targets`` query parameter checked against ``allowed``; None when absent."""
    raw = request.query.get("targets")
    if raw is None:
        return None
    targets = [target for target in raw.split(",") if target]
    if not targets:
        raise errors.bad_query("targets")
    for target in targets:
        if target not in allowed:
            raise LunaError(
                errors.BAD_TARGET,
                f"'{target}' is not valid target to get faces. Valid target should be one of {allowed}.",
            )
    return targets


def to_json(face: Face, lists: list[str]) -> dict[str, Any]:
    return {
        "face_id": face.face_id,
        "external_id": face.external_id,
        "user_data": face.user_data,
        "avatar": face.avatar,
        "lists": lists,
        "event_id": face.event_id,
        "account_id": face.account_id,
        "create_time": iso(face.create_time),
    }


async def render(session: AsyncSession, faces: list[Face], targets: list[str] | None) -> list[dict[str, Any]]:
    """Face objects narrowed to ``targets``; list memberships are read only when asked for."""
    want_lists = targets is None or "lists" in targets
    lists = await lists_repo.lists_of(session, [f.face_id for f in faces]) if want_lists else {}
    return [select_targets(to_json(face, lists.get(face.face_id, [])), targets) for face in faces]


async def attribute_fields(
    session: AsyncSession, given: dict[str, Any], account_id: str, now: datetime
) -> dict[str, Any]:
    """Face columns for a ``face_attribute`` body: a copy of a live temporary attribute, or parsed data."""
    if "attribute_id" in given:
        attribute = await attributes_repo.get(session, given["attribute_id"], account_id)
        if attribute is None:
            raise LunaError(
                errors.ATTRIBUTE_IN_BODY_NOT_FOUND, f"Attribute with id '{given['attribute_id']}' not found"
            )
        return {
            "descriptor": attribute.descriptor,
            "descriptor_version": attribute.descriptor_version,
            "basic_attributes": attribute.basic_attributes,
            "samples": dict(attribute.samples),
            "attribute_create_time": now,
        }
    descriptor = pick_descriptor(given["face_descriptors"]) if "face_descriptors" in given else None
    return {
        "descriptor": descriptor.raw if descriptor else None,
        "descriptor_version": descriptor.version if descriptor else None,
        "basic_attributes": given.get("basic_attributes"),
        "samples": {
            "face_descriptor_samples": given.get("face_descriptor_samples", []),
            "basic_attributes_samples": given.get("basic_attributes_samples", []),
        },
        "attribute_create_time": now,
    }


async def require_lists(session: AsyncSession, list_ids: list[str], account_id: str) -> None:
    present = await lists_repo.existing(session, list_ids, account_id)
    missing = next((list_id for list_id in list_ids if list_id not in present), None)
    if missing is not None:
        raise LunaError(errors.LIST_IN_BODY_NOT_FOUND, f"List with id '{missing}' not found")


async def post_faces(request: web.Request) -> web.Response:
    parse_query(request, {})
    body = await read_json_or_msgpack(request, NEW_FACE)
    account_id = principal(request).account_id
    now = datetime.now(UTC)
    list_ids: list[str] = body.get("lists", [])
    async with request.app[DB].session() as session:
        given = body.get("attribute")
        fields = await attribute_fields(session, given, account_id, now) if given else no_attribute()
        await require_lists(session, list_ids, account_id)
        face = Face(
            face_id=str(uuid.uuid4()),
            account_id=account_id,
            external_id=body.get("external_id", ""),
            user_data=body.get("user_data", ""),
            avatar=body.get("avatar", ""),
            event_id=body.get("event_id"),
            create_time=now,
            **fields,
        )
        session.add(face)
        session.add_all(ListFace(list_id=lid, face_id=face.face_id, link_time=now) for lid in list_ids)
        await lists_repo.touch(session, list_ids, now)
        await session.commit()
    await request.app[MATCHING].faces_saved([face])
    return created(request, f"/6/faces/{face.face_id}", {"face_id": face.face_id})


def face_filter(request: web.Request, query: dict[str, Any]) -> FaceFilter:
    scope = principal(request).read_scope() or query.get("account_id")
    return FaceFilter(account_id=scope, **{name: query.get(name) for name in FILTERS if name != "account_id"})


async def get_faces(request: web.Request) -> web.Response:
    query = parse_query(request, {**FILTERS, **PAGINATION, "targets": str}, {"page": 1, "page_size": 10})
    targets = targets_of(request, TARGETS)
    async with request.app[DB].session() as session:
        rows = await repo.page(session, face_filter(request, query), query["page"], query["page_size"])
        faces = await render(session, list(rows), targets)
    return respond(request, {"faces": faces})


async def count_faces(request: web.Request) -> web.Response:
    query = parse_query(request, FILTERS)
    async with request.app[DB].session() as session:
        total = await repo.count(session, face_filter(request, query))
    return respond(request, {"faces_count": total})


async def count_faces_with_attributes(request: web.Request) -> web.Response:
    query = parse_query(request, {"account_id": q_uuid})
    scope = principal(request).read_scope() or query.get("account_id")
    async with request.app[DB].session() as session:
        total = await repo.count_with_attributes(session, scope)
    return respond(request, {"faces_count": total})


async def delete_faces(request: web.Request) -> web.Response:
    query = parse_query(request, {"ignore": q_enum("0", "1")}, {"ignore": "0"})
    face_ids: list[str] = (await read_json(request, FACES_TO_DELETE))["face_ids"]
    account_id = principal(request).account_id
    async with request.app[DB].session() as session:
        if query["ignore"] == "0":
            present = await repo.existing(session, face_ids, account_id)
            missing = next((face_id for face_id in face_ids if face_id not in present), None)
            if missing is not None:
                raise not_found(missing)
        await repo.remove(session, face_ids, account_id, datetime.now(UTC))
        await session.commit()
    await request.app[MATCHING].faces_removed(account_id, face_ids)
    return no_content()


async def get_face(request: web.Request) -> web.Response:
    parse_query(request, {"targets": str})
    targets = targets_of(request, TARGETS)
    face_id = request.match_info["face_id"]
    async with request.app[DB].session() as session:
        face = await repo.get(session, face_id, principal(request).read_scope())
        if face is None:
            raise not_found(face_id)
        (body,) = await render(session, [face], targets)
    return respond(request, body)


async def head_face(request: web.Request) -> web.Response:
    parse_query(request, {"targets": str})
    targets_of(request, TARGETS)
    face_id = request.match_info["face_id"]
    async with request.app[DB].session() as session:
        if await repo.get(session, face_id, principal(request).read_scope()) is None:
            raise not_found(face_id)
    return web.Response()


async def patch_face(request: web.Request) -> web.Response:
    parse_query(request, {})
    body = await read_json(request, UPDATE_FACE)
    face_id = request.match_info["face_id"]
    async with request.app[DB].session() as session:
        face = await repo.get(session, face_id, principal(request).account_id)
        if face is None:
            raise not_found(face_id)
        for name, value in body.items():
            setattr(face, name, value)
        await session.commit()
    return no_content()


async def delete_face(request: web.Request) -> web.Response:
    parse_query(request, {})
    face_id = request.match_info["face_id"]
    async with request.app[DB].session() as session:
        if not await repo.remove(session, [face_id], principal(request).account_id, datetime.now(UTC)):
            raise not_found(face_id)
        await session.commit()
    await request.app[MATCHING].faces_removed(principal(request).account_id, [face_id])
    return no_content()


# -- the face's attribute set -----------------------------------------------------------------
async def put_face_attributes(request: web.Request) -> web.Response:
    parse_query(request, {})
    body = await read_json_or_msgpack(request, FACE_ATTRIBUTE)
    face_id = request.match_info["face_id"]
    account_id = principal(request).account_id
    async with request.app[DB].session() as session:
        face = await repo.get(session, face_id, account_id)
        if face is None:
            raise not_found(face_id)
        for name, value in (await attribute_fields(session, body, account_id, datetime.now(UTC))).items():
            setattr(face, name, value)
        await session.commit()
    await request.app[MATCHING].faces_saved([face])
    return no_content()


async def delete_face_attributes(request: web.Request) -> web.Response:
    parse_query(request, {})
    face_id = request.match_info["face_id"]
    async with request.app[DB].session() as session:
        face = await repo.get(session, face_id, principal(request).account_id)
        if face is None:
            raise not_found(face_id)
        for name, value in no_attribute().items():
            setattr(face, name, value)
        await session.commit()
    await request.app[MATCHING].faces_saved([face])
    return no_content()


async def _readable(request: web.Request) -> Face:
    face_id = request.match_info["face_id"]
    async with request.app[DB].session() as session:
        face = await repo.get(session, face_id, principal(request).read_scope())
    if face is None:
        raise not_found(face_id)
    return face


def attributes_json(face: Face, descriptor_format: str, version: int | None) -> dict[str, Any]:
    """``output_face_attribute_json``: rendered as a temporary attribute, descriptor in the asked form.

    ``raw`` gives ``{descriptor, descriptor_version}`` (bytes: base64 in JSON); ``sdk`` gives
    Argus's self-describing binary form (see api/descriptors.py).
    """
    view = Attribute(
        account_id=face.account_id,
        descriptor=face.descriptor,
        descriptor_version=face.descriptor_version,
        basic_attributes=face.basic_attributes,
        samples=face.samples,
        create_time=face.attribute_create_time,
    )
    body = to_body(view, version)
    raw = body["face_descriptor"]
    if raw is not None and face.descriptor_version is not None:
        if descriptor_format == "sdk":
            values = np.frombuffer(raw, dtype="<f4")
            body["face_descriptor"] = descriptors.Descriptor(face.descriptor_version, values).sdk()
        else:
            body["face_descriptor"] = {"descriptor": raw, "descriptor_version": face.descriptor_version}
    return {key: body[key] for key in ATTRIBUTE_TARGETS}


async def get_face_attributes(request: web.Request) -> web.Response:
    # The spec types descriptor_format as an integer with enum [raw, sdk] (CORE.md §0.1): the
    # enum's strings are what clients send.
    query = parse_query(
        request,
        {"descriptor_format": q_enum("raw", "sdk"), "targets": str, "descriptor_version": VERSION_QUERY},
        {"descriptor_format": "raw"},
    )
    targets = targets_of(request, ATTRIBUTE_TARGETS)
    version = int(query["descriptor_version"]) if "descriptor_version" in query else None
    body = attributes_json(await _readable(request), query["descriptor_format"], version)
    return respond(request, {"attributes": select_targets(body, targets)})


async def get_face_attribute_samples(request: web.Request) -> web.Response:
    parse_query(request, {})
    samples = (await _readable(request)).samples
    unique = dict.fromkeys(
        [*samples.get("face_descriptor_samples", []), *samples.get("basic_attributes_samples", [])]
    )
    return respond(request, {"samples": list(unique)})
