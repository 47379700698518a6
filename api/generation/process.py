"""One draft through a handler's policies: match, store (samples, attribute, face, event), reply."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.descriptors import DLIB_VERSION, Descriptor
from api.generation.drafts import Draft
from api.generation.filters import passes
from api.generation.outcome import (
    EMPTY_ESTIMATIONS,
    Matcher,
    Outcome,
    conditional_tags,
    event_body,
    reply_detections,
    run_matching,
    sample_ids,
    store_face,
    store_samples,
)
from api.resources.attributes import new_attribute
from api.storage import events as events_repo
from api.storage.blobs import BlobStore

EVENT_CANDIDATE_FIELDS = ("face_id", "user_data", "create_time", "external_id")
# Fields of an event candidate kept in the stored event (L14355).
EVENT_EVENT_FIELDS = (
    "event_id",
    "account_id",
    "create_time",
    "end_time",
    "external_id",
    "handler_id",
    "source",
    "stream_id",
    "user_data",
)


@dataclass(frozen=True)
class Context:
    account_id: str
    handler_id: str
    policies: dict[str, Any]  # with the spec's defaults filled in
    blobs: BlobStore
    match: Matcher
    # Sample files written in this request's transaction; removed again if it fails.
    written: list[Path] = field(default_factory=list)


def _event_match_result(matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The event stores candidates with the fields of its schema (faces L14322, events L14355)."""
    return [
        {"label": m["label"], "candidates": [_stored_candidate(c) for c in m["candidates"]]} for m in matches
    ]


def _stored_candidate(candidate: dict[str, Any]) -> dict[str, Any]:
    if "event" in candidate:
        event = candidate["event"]
        return {"event": {k: event.get(k) for k in EVENT_EVENT_FIELDS}, "similarity": candidate["similarity"]}
    face = candidate["face"]
    return {"face": {k: face.get(k) for k in EVENT_CANDIDATE_FIELDS}, "similarity": candidate["similarity"]}


async def _attribute(
    session: AsyncSession, ctx: Context, draft: Draft, descriptor: Descriptor | None, best: dict[str, float]
) -> dict[str, Any] | None:
    if descriptor is None:
        return None
    samples = sample_ids(draft)
    policy = ctx.policies["storage_policy"]["attribute_policy"]
    if not policy.get("store_attribute") or not passes(policy.get("filters"), best):
        return {"attribute_id": None, "url": None, "samples": samples}
    row = new_attribute(ctx.account_id, policy.get("ttl", 300), descriptor, None, samples, [])
    session.add(row)
    return {"attribute_id": row.attribute_id, "url": f"/6/attributes/{row.attribute_id}", "samples": samples}


async def process(session: AsyncSession, ctx: Context, draft: Draft) -> Outcome:
    policies, storage = ctx.policies, ctx.policies["storage_policy"]
    extract = policies["extract_policy"].get("extract_face_descriptor", 1)
    descriptor = (
        Descriptor(DLIB_VERSION, draft.descriptor) if extract and draft.descriptor is not None else None
    )
    matches, best, top = await run_matching(policies.get("match_policy") or [], descriptor, ctx.match)
    await store_samples(
        session, ctx.written, draft, storage["face_sample_policy"], best, ctx.blobs, ctx.account_id
    )
    event_id = str(uuid.uuid4())
    face_attributes = await _attribute(session, ctx, draft, descriptor, best)
    face, lists = await store_face(session, draft, storage, descriptor, best, ctx.account_id, event_id)
    tags = list(
        dict.fromkeys(
            [
                *(draft.fields.get("tags") or []),
                *conditional_tags(policies.get("conditional_tags_policy") or [], best),
            ]
        )
    )
    body = event_body(
        draft,
        event_id,
        ctx.account_id,
        ctx.handler_id,
        {
            "top_match": top,
            "match_result": _event_match_result(matches),
            "tags": tags,
            "face_id": face["face_id"] if face else None,
            "attach_result": lists,
        },
    )
    event_policy = storage["event_policy"]
    stored = bool(event_policy.get("store_event", 1)) and passes(event_policy.get("filters"), best)
    if stored:
        await events_repo.insert(
            session,
            [
                events_repo.event_row(
                    body, descriptor.raw if descriptor else None, descriptor.version if descriptor else None
                )
            ],
        )
    reply = {
        "event_id": event_id,
        "url": f"/6/events/{event_id}" if stored else None,
        "source": body["source"],
        "stream_id": body["stream_id"],
        "tags": tags,
        "external_id": body["external_id"],
        "user_data": body["user_data"],
        "location": body["location"],
        "face": face,
        "face_attributes": face_attributes,
        "body_attributes": None,
        "matches": matches,
        "detections": reply_detections(draft),
        "aggregate_estimations": EMPTY_ESTIMATIONS,
    }
    return Outcome(reply, body if stored else None, descriptor, [face["face_id"]] if face else [], body, best)
