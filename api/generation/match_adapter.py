"""The handler's view of the matcher: match policies run through the same code as /6/matcher/faces."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from api.descriptors import Descriptor
from api.generation.outcome import Matcher
from api.keys import DB, MATCHING
from api.resources.matcher import face_candidates
from api.responses import principal
from api.storage.models import Face


def face_matcher(request: web.Request, account_id: str | None = None) -> Matcher:
    """Match against faces or events of the handler's (the caller's) account, as the spec's warning
    says; ``account_id`` names the account when no caller does (a stream agent's delivery)."""
    service, db = request.app[MATCHING], request.app[DB]
    if account_id is None:
        account_id = principal(request).account_id

    async def match(policy: dict[str, Any], descriptor: Descriptor) -> list[dict[str, Any]]:
        origin = policy["candidates"].get("origin", "faces")
        filters = {key: value for key, value in policy["candidates"].items() if key != "account_id"}
        spec = {
            "filters": filters,
            "limit": policy.get("limit", 3),
            "threshold": policy.get("threshold", 0.0),
            "order": "similarity",
            "targets": policy.get("targets"),
        }
        async with db.session() as session:
            if origin == "events" and service.events is not None:
                (found,) = await service.events.candidates(session, [descriptor], spec, account_id)
            else:
                filters.pop("origin", None)
                (found,) = await face_candidates(
                    session, service, [descriptor], spec, account_id, "policies.match_policy"
                )
        return found

    return match


async def faces_created(request: web.Request, face_ids: list[str]) -> None:
    """Tell the matching index about faces a storage policy created (after their commit)."""
    if not face_ids:
        return
    async with request.app[DB].session() as session:
        faces = (await session.execute(select(Face).where(Face.face_id.in_(face_ids)))).scalars().all()
    await request.app[MATCHING].faces_saved(faces)
