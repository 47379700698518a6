"""Events generated outside Argus (POST /6/handlers/{id}/events/raw) -> stored event bodies.

The raw event has the shape of a handler's reply (``event_from_handler`` plus times); the
stored event has the ``event`` shape GET /6/events returns. This is the one mapping between.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from api.generation.outcome import UNESTIMATED

EVENT_FACE_FIELDS = ("face_id", "user_data", "create_time", "external_id")


def _match_result(matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = []
    for match in matches:
        candidates = []
        for candidate in match.get("candidates") or []:
            face = candidate.get("face") or {}
            candidates.append(
                {
                    "face": {k: face.get(k) for k in EVENT_FACE_FIELDS},
                    "similarity": candidate.get("similarity"),
                }
            )
        result.append({"label": match.get("label", ""), "candidates": candidates})
    return result


def _top_match(result: list[dict[str, Any]]) -> dict[str, Any] | None:
    best = None
    for match in result:
        for candidate in match["candidates"]:
            if candidate["similarity"] is not None and (
                best is None or candidate["similarity"] > best["similarity"]
            ):
                face = candidate["face"]
                best = {
                    "face_id": face.get("face_id"),
                    "similarity": candidate["similarity"],
                    "label": match["label"],
                    "external_id": face.get("external_id"),
                }
    return best


def _face_detections(detections: list[dict[str, Any]], fallback_time: str) -> list[dict[str, Any]]:
    out = []
    for detection in detections:
        face = (detection.get("samples") or {}).get("face")
        if not face:
            continue
        out.append(
            {
                "sample_id": face.get("sample_id"),
                "detection": {"rect": (face.get("detection") or {}).get("rect")},
                "detect_time": detection.get("detect_time") or fallback_time,
                "detect_ts": detection.get("detect_ts"),
                "image_origin": detection.get("image_origin"),
            }
        )
    return out


def raw_to_event(body: dict[str, Any], account_id: str, handler_id: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    create_time = body.get("create_time") or now
    face = body.get("face") or {}
    result = _match_result(body.get("matches") or [])
    return {
        "event_id": str(uuid.uuid4()),
        "account_id": account_id,
        "handler_id": handler_id,
        "create_time": create_time,
        "end_time": body.get("end_time") or create_time,
        **{key: body.get(key) for key in ("source", "stream_id", "track_id", "meta", "location")},
        "external_id": body.get("external_id") or "",
        "user_data": body.get("user_data") or "",
        "tags": body.get("tags") or [],
        "face_id": face.get("face_id"),
        "attach_result": face.get("lists") or [],
        "match_result": result,
        "top_match": _top_match(result),
        "face_detections": _face_detections(body.get("detections") or [], create_time),
        "body_detections": None,
        **dict.fromkeys(UNESTIMATED),
    }
