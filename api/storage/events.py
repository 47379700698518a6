"""Event rows: built from the event as the API returns it, so stored and served never diverge.

``body`` keeps the whole event; the typed columns copy the values filters and statistics need
(``GET /6/events``, ``POST /6/events/statistic``). Only :func:`event_row` builds rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.storage.models import Event, EventTag

SCALARS = (
    "handler_id",
    "stream_id",
    "source",
    "external_id",
    "track_id",
    "face_id",
    "gender",
    "age",
    "emotion",
    "mask",
    "ethnic_group",
    "liveness",
    "deepfake",
)
LOCATION = ("city", "area", "district", "street", "house_number")


def _time(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))


def event_row(
    body: dict[str, Any], descriptor: bytes | None = None, descriptor_version: int | None = None
) -> tuple[Event, list[EventTag]]:
    """The row and tag rows of one event given as its API body (``event`` schema, L8991)."""
    top = body.get("top_match") or {}
    location = body.get("location") or {}
    geo = location.get("geo_position") or {}
    row = Event(
        event_id=body["event_id"],
        account_id=body["account_id"],
        create_time=_time(body["create_time"]),
        end_time=_time(body.get("end_time") or body["create_time"]),
        user_data=body.get("user_data") or "",
        meta=body.get("meta"),
        top_similar_object_id=top.get("face_id") or top.get("event_id"),
        top_similar_external_id=top.get("external_id"),
        top_similarity=top.get("similarity"),
        top_matching_label=top.get("label"),
        longitude=geo.get("longitude"),
        latitude=geo.get("latitude"),
        descriptor=descriptor,
        descriptor_version=descriptor_version,
        body=body,
        **{name: body.get(name) for name in SCALARS},
        **{name: location.get(name) for name in LOCATION},
    )
    tags = [EventTag(event_id=row.event_id, tag=tag) for tag in dict.fromkeys(body.get("tags") or [])]
    return row, tags


async def insert(session: AsyncSession, rows: list[tuple[Event, list[EventTag]]]) -> None:
    """Add events and their tags to the session (the caller commits: one transaction per request)."""
    session.add_all([event for event, _ in rows])
    await session.flush()
    session.add_all([tag for _, tags in rows for tag in tags])


async def get(session: AsyncSession, event_id: str, account_id: str | None) -> Event | None:
    query = select(Event).where(Event.event_id == event_id)
    if account_id is not None:
        query = query.where(Event.account_id == account_id)
    return (await session.execute(query)).scalar_one_or_none()
