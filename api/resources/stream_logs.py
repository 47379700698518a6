"""/6/streams/logs: the status history of streams (CORE.md §2, "Logs").

The spec declares no security on either operation, yet its examples send Basic auth and the
logs name every account's streams and their errors (which may quote camera URLs): Argus
requires authentication (routes.SECURITY_OVERRIDES) and scopes them like every other read.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.keys import DB
from api.resources.streams import q_statuses
from api.responses import iso, principal, respond
from api.storage import streams as repo
from api.storage.models import StreamLog
from api.storage.streams import LogFilter
from api.validation import PAGINATION, parse_query, q_list, q_time, q_uuid

TARGETS = ("stream_id", "log_time", "error", "status")
FILTERS = {
    "account_id": q_uuid,
    "stream_ids": q_list(q_uuid),
    "statuses": q_statuses,
    "targets": q_list(str, TARGETS),
    "log_time__lt": q_time,
    "log_time__gte": q_time,
}


def to_json(log: StreamLog, targets: list[str]) -> dict[str, Any]:
    row = {
        "stream_id": log.stream_id,
        "log_time": iso(log.log_time),
        "error": log.error,
        "status": log.status,
    }
    return {name: row[name] for name in TARGETS if name in targets}


async def get_logs(request: web.Request) -> web.Response:
    """Newest entries first."""
    query = parse_query(request, {**FILTERS, **PAGINATION}, {"page": 1, "page_size": 10, "targets": TARGETS})
    flt = LogFilter(
        account_id=principal(request).read_scope() or query.get("account_id"),
        stream_ids=query.get("stream_ids"),
        statuses=query.get("statuses"),
        log_time__gte=query.get("log_time__gte"),
        log_time__lt=query.get("log_time__lt"),
    )
    async with request.app[DB].session() as session:
        rows = await repo.logs_page(session, flt, query["page"], query["page_size"])
    return respond(request, {"logs": [to_json(row, query["targets"]) for row in rows]})


async def delete_logs(request: web.Request) -> web.Response:
    """Delete the caller's log entries older than ``log_time__lt``, keeping each stream's last one."""
    query = parse_query(request, {"log_time__lt": q_time})
    async with request.app[DB].session() as session:
        deleted = await repo.delete_logs(session, query.get("log_time__lt"), principal(request).account_id)
        await session.commit()
    return respond(request, {"deleted_count": deleted})
