"""Apply a handler's match and storage policies to drafts; build the saved events and the reply.

Everything a request stores goes through one database transaction, so a failure leaves
nothing half-written: samples' files are removed again if the commit fails (BlobStore).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.descriptors import Descriptor
from api.generation.drafts import Draft
from api.generation.filters import passes
from api.storage import lists as lists_repo
from api.storage.blobs import BlobStore
from api.storage.models import Face
from engines.images import encode_image

# (match policy item, descriptor) -> candidates [{"face": {...}, "similarity": s}], best first.
Matcher = Callable[[dict[str, Any], Descriptor], Awaitable[list[dict[str, Any]]]]
EMPTY_ESTIMATIONS = {"face": {"attributes": {}}, "body": {"attributes": {}}}
UNESTIMATED = (
    "gender",
    "age",
    "emotion",
    "mask",
    "ethnic_group",
    "liveness",
    "deepfake",
    "body_basic_attributes",
    "upper_body",
    "lower_body",
    "accessories",
)


@dataclass
class Outcome:
    """The result of one draft: the stored event body (if any) and its reply entry."""

    reply: dict[str, Any]
    event: dict[str, Any] | None = None  # the stored event; None when the event policy did not store it
    descriptor: Descriptor | None = None
    new_face_ids: list[str] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)  # the event, stored or not
    best: dict[str, float] = field(default_factory=dict)  # best similarity per match label


async def run_matching(
    policies: list[dict[str, Any]], descriptor: Descriptor | None, match: Matcher
) -> tuple[list[dict[str, Any]], dict[str, float], dict[str, Any] | None]:
    """(matches per label, best similarity per label, top match) for one event."""
    if descriptor is None:
        return [], {}, None
    matches, best, top = [], {}, None
    for policy in policies:
        label = policy.get("label", "")
        candidates = await match(policy, descriptor)
        matches.append({"label": label, "candidates": candidates})
        if candidates:
            best[label] = max(best.get(label, 0.0), candidates[0]["similarity"])
            first = candidates[0]
            if top is None or first["similarity"] > top["similarity"]:
                top = top_match(first, label)
    return matches, best, top


def top_match(candidate: dict[str, Any], label: str) -> dict[str, Any]:
    """``top_match_face`` or ``top_match_event`` (L8956-8990) from the best candidate."""
    if "event" in candidate:
        event = candidate["event"]
        return {
            "event_id": event.get("event_id"),
            "similarity": candidate["similarity"],
            "label": label,
            "external_id": event.get("external_id"),
        }
    face = candidate.get("face", {})
    return {
        "face_id": face.get("face_id"),
        "similarity": candidate["similarity"],
        "label": label,
        "external_id": face.get("external_id"),
    }


def _ttl_days(policy: dict[str, Any]) -> int | None:
    return policy.get("ttl")


async def store_samples(
    session: AsyncSession,
    written: list[Path],
    draft: Draft,
    policy: dict[str, Any],
    best: dict[str, float],
    blobs: BlobStore,
    account_id: str,
) -> None:
    if not policy.get("store_sample", 1) or not passes(policy.get("filters"), best):
        return
    for detection in draft.detections:
        if detection.sample_id is None:
            row = await blobs.stage(
                session,
                written,
                account_id,
                "face_sample",
                encode_image(detection.warp),
                "image/jpeg",
                _ttl_days(policy),
            )
            detection.sample_id = row.blob_id


def sample_ids(draft: Draft) -> list[str]:
    return [d.sample_id for d in draft.detections if d.sample_id]


async def store_face(
    session: AsyncSession,
    draft: Draft,
    storage: dict[str, Any],
    descriptor: Descriptor | None,
    best: dict[str, float],
    account_id: str,
    event_id: str,
) -> tuple[dict[str, Any] | None, list[str]]:
    """The face the face policy creates (with its lists), as ``output_event_face``."""
    policy = storage.get("face_policy") or {}
    if not policy.get("store_face") or not passes(policy.get("filters"), best):
        return None, []
    now = datetime.now(UTC)
    samples = sample_ids(draft)
    avatar = f"/6/samples/faces/{samples[0]}" if samples and policy.get("set_sample_as_avatar", 1) else ""
    face = Face(
        face_id=str(uuid.uuid4()),
        account_id=account_id,
        external_id=draft.fields.get("external_id") or "",
        user_data=draft.fields.get("user_data") or "",
        avatar=avatar,
        event_id=event_id,
        create_time=now,
        descriptor=descriptor.raw if descriptor else None,
        descriptor_version=descriptor.version if descriptor else None,
        basic_attributes=None,
        samples={"face_descriptor_samples": samples if descriptor else [], "basic_attributes_samples": []},
        attribute_create_time=now if descriptor else None,
    )
    session.add(face)
    await session.flush()
    wanted = [
        link["list_id"]
        for link in policy.get("link_to_lists_policy") or []
        if passes(link.get("filters"), best)
    ]
    lists = sorted(await lists_repo.existing(session, wanted, account_id)) if wanted else []
    for list_id in lists:
        await lists_repo.attach(session, list_id, [face.face_id], now)
    await lists_repo.touch(session, lists, now)
    body = {
        "face_id": face.face_id,
        "external_id": face.external_id,
        "user_data": face.user_data,
        "avatar": face.avatar,
        "lists": lists,
        "event_id": event_id,
        "url": f"/6/faces/{face.face_id}",
    }
    return body, lists


def conditional_tags(policies: list[dict[str, Any]], best: dict[str, float]) -> list[str]:
    return [item["tag"] for item in policies if passes(item.get("filters"), best)]


def face_detections(draft: Draft) -> list[dict[str, Any]]:
    return [
        {
            "sample_id": d.sample_id,
            "detection": {"rect": d.rect},
            "detect_time": d.detect_time,
            "detect_ts": d.detect_ts,
            "image_origin": d.image_origin,
        }
        for d in draft.detections
    ]


def reply_detections(draft: Draft) -> list[dict[str, Any]]:
    out = []
    for d in draft.detections:
        detection: dict[str, Any] = {"rect": d.rect}
        if d.landmarks5 is not None:
            detection["landmarks5"] = d.landmarks5
        url = f"/6/samples/faces/{d.sample_id}" if d.sample_id else None
        face = {"sample_id": d.sample_id, "url": url, "detection": detection}
        out.append({"filename": d.filename, "samples": {"face": face, "body": None}})
    return out


def event_body(
    draft: Draft, event_id: str, account_id: str, handler_id: str, extra: dict[str, Any]
) -> dict[str, Any]:
    fields = draft.fields
    now = datetime.now(UTC).isoformat()
    body = {
        "event_id": event_id,
        "account_id": account_id,
        "handler_id": handler_id,
        "create_time": fields.get("event_time") or now,
        "end_time": fields.get("event_end_time") or fields.get("event_time") or now,
        "source": fields.get("source"),
        "stream_id": fields.get("stream_id"),
        "external_id": fields.get("external_id") or "",
        "user_data": fields.get("user_data") or "",
        "track_id": fields.get("track_id"),
        "meta": fields.get("meta"),
        "location": fields.get("location"),
        "face_detections": face_detections(draft),
        "body_detections": None,
        **dict.fromkeys(UNESTIMATED),
        **extra,
    }
    return body
