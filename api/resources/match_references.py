"""/6/matcher references: what each ``references`` item names, resolved to a descriptor.

Inline descriptors are parsed; faces, attributes and external ids are looked up in the caller's
scope; events go through ``MatchingService.events`` (403 11040 when it is not installed). A
reference that does not exist is no error of the request: it carries the spec's per-reference
error into the 200 reply (``nonexistent_references_errors``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import descriptors, errors
from api.errors import LunaError, error_body
from api.matching import MatchingService
from api.storage import attributes as attributes_repo
from api.storage import faces as faces_repo
from api.storage.models import Face
from api.validation import UUID_RE

EVENT_REFERENCES = {
    "event": (errors.EVENT_REFERENCE_NOT_FOUND, "Event with id {} not found"),
    "event_external_id": (errors.EVENT_EXTERNAL_ID_NOT_FOUND, "No one event found with external id {}"),
    "event_track_id": (errors.EVENT_TRACK_ID_NOT_FOUND, "No one event found with track id {}"),
}
REPLY_TYPES = {"raw_descriptor": "descriptor"}
_UUID = re.compile(UUID_RE)


def parse_entity(item: dict[str, Any]) -> descriptors.Descriptor:
    """An inline descriptor (``raw_descriptor`` / ``sdk_descriptor`` / ``xpk_file`` entity)."""
    if item["type"] == "xpk_file":
        raise LunaError(
            errors.BAD_XPK, "Failed to parse xpk file: XPK (VisionLabs) files are not supported by Argus"
        )
    try:
        if item["type"] == "raw_descriptor":
            return descriptors.from_raw(item["data"]["descriptor"], item["data"]["version"])
        return descriptors.from_sdk(item["data"])
    except LunaError as exc:
        if exc.kind is errors.DESCRIPTOR_VERSION:
            raise LunaError(errors.MATCH_DESCRIPTOR_VERSION, exc.detail) from None
        raise


def _stored(version: int | None, raw: bytes | None, what: str, object_id: str) -> descriptors.Descriptor:
    if raw is None or version is None:
        raise LunaError(
            errors.DESCRIPTOR_NOT_EXTRACTED, f"Descriptor for {what} '{object_id}' was not extracted"
        )
    return descriptors.Descriptor(version, np.frombuffer(raw, "<f4").astype(np.float32))


@dataclass
class Reference:
    body: dict[str, Any]
    descriptor: descriptors.Descriptor | None = None
    error: dict[str, Any] | None = None


async def _face_by_external_id(session: AsyncSession, external_id: str, scope: str | None) -> Face | None:
    """The newest face with the external id, preferring faces that have a descriptor."""
    query = select(Face).where(Face.external_id == external_id)
    if scope is not None:
        query = query.where(Face.account_id == scope)
    query = query.order_by(Face.descriptor.is_(None), Face.create_time.desc()).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def resolve(
    session: AsyncSession, item: dict[str, Any], scope: str | None, service: MatchingService
) -> Reference:
    kind, value = item["type"], item["id"]
    ref = Reference({"id": value, "type": REPLY_TYPES.get(kind, kind)})
    if kind in ("raw_descriptor", "sdk_descriptor", "xpk_file"):
        ref.descriptor = parse_entity(item)
    elif kind == "face":
        face = await faces_repo.get(session, value, scope) if _UUID.match(value) else None
        if face is None:
            ref.error = error_body(errors.FACE_NOT_FOUND, f"Face with id '{value}' not found")
        else:
            ref.descriptor = _stored(face.descriptor_version, face.descriptor, "face", value)
    elif kind == "face_external_id":
        face = await _face_by_external_id(session, value, scope)
        if face is None:
            ref.error = error_body(
                errors.FACE_EXTERNAL_ID_NOT_FOUND, f"No one face found with external id {value}"
            )
        else:
            ref.body["face_id"] = face.face_id
            ref.descriptor = _stored(face.descriptor_version, face.descriptor, "face", face.face_id)
    elif kind == "attribute":
        attribute = await attributes_repo.get(session, value, scope) if _UUID.match(value) else None
        if attribute is None:
            ref.error = error_body(errors.ATTRIBUTE_NOT_FOUND, f"Attributes with id {value} not found")
        else:
            ref.descriptor = _stored(attribute.descriptor_version, attribute.descriptor, "attribute", value)
    else:
        await _event_reference(session, ref, kind, value, scope, service)
    return ref


async def _event_reference(
    session: AsyncSession, ref: Reference, kind: str, value: str, scope: str | None, service: MatchingService
) -> None:
    """``events`` hook: references to events go through ``MatchingService.events``."""
    if service.events is None:
        raise events_disabled()
    found = await service.events.reference(session, kind, value, scope)
    if found is None:
        kind_error, detail = EVENT_REFERENCES[kind]
        ref.error = error_body(kind_error, detail.format(value))
        return
    if kind != "event":
        ref.body["event_id"] = found.event_id
    if found.descriptor is None:
        raise LunaError(
            errors.DESCRIPTOR_NOT_EXTRACTED, f"Descriptor for event '{found.event_id}' was not extracted"
        )
    ref.descriptor = found.descriptor


def events_disabled() -> LunaError:
    return LunaError(
        errors.EVENTS_DISABLED,
        "Luna Events service is disabled: matching against events is not connected in this Argus version",
    )
