"""/6/events: reading saved events and their statistics (CORE.md §6).

Events are written by handlers only (api/storage/events.py builds the rows); this module turns
requests into the filter clauses of api/storage/event_filters.py and renders stored bodies.
"""

from __future__ import annotations

import calendar
import json
import math
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from api import errors
from api.auth import require
from api.errors import LunaError, bad_query
from api.keys import DB
from api.responses import principal, respond, select_targets
from api.storage import event_filters, event_stats, event_stats_request
from api.storage import events as repo
from api.storage.event_filters import Clause, EventPage
from api.validation import (
    PAGE,
    PAGE_SIZE,
    Parser,
    q_enum,
    q_float,
    q_int,
    q_list,
    q_str,
    q_time,
    q_uuid,
    read_json,
)

# `events_targets` (L10225), in the spec's order.
TARGETS = [
    "event_id", "account_id", "create_time", "end_time", "external_id", "handler_id", "stream_id", "source",
    "top_match", "match_result", "face_detections", "body_detections", "face_id", "attach_result", "gender",
    "age", "emotion", "ethnic_group", "tags", "user_data", "location", "mask", "liveness", "deepfake",
    "track_id", "body_basic_attributes", "upper_body", "lower_body", "accessories", "meta",
]  # fmt: skip
HEADWEAR_COLORS = ("undefined", "black", "white", "other")
CLOTHING_COLORS = (
    "undefined", "black", "blue", "green", "gray", "orange", "purple", "red", "white", "yellow", "pink",
    "brown", "beige", "khaki", "multicolored",
)  # fmt: skip
TRACK_ID = r"^[a-zA-Z0-9_\-]{1,36}$"
# Any of these switches the default window (the last month) off.
WINDOW_OVERRIDES = ("event_ids", "event_id__gte", "event_id__lt", "create_time__gte", "create_time__lt")


def _or_null(item: Parser) -> Parser:
    return lambda value: None if value == "null" else item(value)


def _list(item: Parser, nullable: bool = False) -> Parser:
    """Comma-separated items; with ``nullable`` the literal ``null`` stands for "not set"."""
    return q_list(_or_null(item) if nullable else item)


def _ints(*allowed: int) -> Parser:
    check = q_enum(*map(str, allowed))
    return lambda value: int(check(value))


def _finite(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _tags(value: str) -> list[str]:
    # `tags` allows zero items: an empty value filters nothing.
    return [q_str(1, 36)(tag) for tag in value.split(",") if tag]


def _one(item: Parser) -> Parser:
    """A single (nullable) value filtered like a one-item list."""
    return lambda value: [_or_null(item)(value)]


# Query parameter -> (parser, event field, operator) of its clause (CORE.md §6 GET /6/events).
FILTERS: dict[str, tuple[Parser, str, str]] = {
    "create_time__gte": (q_time, "create_time", "gte"),
    "create_time__lt": (q_time, "create_time", "lt"),
    "end_time__gte": (q_time, "end_time", "gte"),
    "end_time__lt": (q_time, "end_time", "lt"),
    "sources": (_list(str, True), "source", "in"),
    "stream_ids": (_list(q_uuid, True), "stream_id", "in"),
    "cities": (_list(str, True), "city", "in"),
    "areas": (_list(str, True), "area", "in"),
    "districts": (_list(str, True), "district", "in"),
    "streets": (_list(str, True), "street", "in"),
    "house_numbers": (_list(str, True), "house_number", "in"),
    "top_matching_candidates_label": (str, "top_matching_candidates_label", "eq"),
    "top_similar_object_ids": (_list(q_str(1, 36)), "top_similar_object_id", "in"),
    "top_similar_external_ids": (_list(q_str(1, 36)), "top_similar_external_id", "in"),
    "top_similar_object_similarity__gte": (_finite, "top_similar_object_similarity", "gte"),
    "top_similar_object_similarity__lt": (_finite, "top_similar_object_similarity", "lt"),
    "age__lt": (q_int(), "age", "lt"),
    "age__gte": (q_int(), "age", "gte"),
    "gender": (_one(_ints(0, 1)), "gender", "in"),
    "emotions": (_list(_ints(1, 2, 3, 4, 5, 6, 7), True), "emotion", "in"),
    "masks": (_list(_ints(1, 2, 3), True), "mask", "in"),
    "ethnic_groups": (_list(_ints(1, 2, 3, 4), True), "ethnic_group", "in"),
    "liveness": (_list(_ints(0, 1, 2), True), "liveness", "in"),
    "deepfake": (_list(_ints(0, 1), True), "deepfake", "in"),
    "apparent_gender": (_list(_ints(0, 1, 2), True), "apparent_gender", "in"),
    "apparent_age__gte": (q_int(0, 100), "apparent_age", "gte"),
    "apparent_age__lt": (q_int(0, 100), "apparent_age", "lt"),
    "headwear_states": (_list(_ints(0, 1, 2), True), "headwear_state", "in"),
    "headwear_apparent_colors": (_list(q_enum(*HEADWEAR_COLORS), True), "headwear_apparent_color", "in"),
    "sleeve_lengths": (_list(q_enum("short", "long", "undefined"), True), "sleeve_length", "in"),
    "upper_clothing_colors": (_list(q_enum(*CLOTHING_COLORS), True), "upper_clothing_colors", "in"),
    "lower_garment_colors": (_list(q_enum(*CLOTHING_COLORS), True), "lower_garment_colors", "in"),
    "lower_garment_types": (
        _list(q_enum("undefined", "trousers", "shorts", "skirt"), True),
        "lower_garment_type",
        "in",
    ),
    "shoes_apparent_colors": (_list(q_enum(*HEADWEAR_COLORS), True), "shoes_apparent_color", "in"),
    "backpack_states": (_list(_ints(0, 1, 2), True), "backpack_state", "in"),
    "face_ids": (_list(q_uuid), "face_id", "in"),
    "event_ids": (_list(q_uuid), "event_id", "in"),
    "event_id__gte": (q_uuid, "event_id", "gte"),
    "event_id__lt": (q_uuid, "event_id", "lt"),
    "handler_ids": (_list(q_uuid), "handler_id", "in"),
    "external_ids": (_list(q_str(1, 36)), "external_id", "in"),
    "user_data": (str, "user_data", "contains"),
    "tags": (_tags, "tags", "all"),
    "track_ids": (_list(q_str(1, 36, TRACK_ID), True), "track_id", "in"),
}
GEO = {
    "origin_longitude": _or_null(q_float(-180, 180)),
    "origin_latitude": _or_null(q_float(-90, 90)),
    "longitude_delta": q_float(0, 90),
    "latitude_delta": q_float(0, 90),
}
OTHER: dict[str, Parser] = {
    "account_id": q_uuid,
    "order": q_enum("asc", "desc"),
    "page": PAGE,
    "page_size": PAGE_SIZE,
    "target": str,
    **GEO,
}


def month_before(now: datetime) -> datetime:
    """The same instant one calendar month earlier, the day clamped to that month's length."""
    year, month = divmod(now.year * 12 + now.month - 2, 12)
    day = min(now.day, calendar.monthrange(year, month + 1)[1])
    return now.replace(year=year, month=month + 1, day=day)


def parse_targets(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    targets = [target for target in raw.split(",") if target]
    if not targets:
        raise bad_query("target")
    for target in targets:
        if target not in TARGETS:
            raise LunaError(
                errors.EVENT_BAD_TARGET,
                f"'{target}' is not valid target to get events. "
                f"Valid target should be one of {json.dumps(TARGETS)}.",
            )
    return targets


def meta_clause(name: str, raw: str) -> Clause:
    """``meta.<path>__<operator>:<type>=<value>``; the literal ``null`` means "not set"."""
    try:
        key = event_filters.parse_meta_key(name)
    except ValueError:
        raise bad_query(name) from None
    op, meta_type = key.op or "eq", key.type or "string"
    field = ".".join(("meta", *key.path))

    def convert(value: str) -> Any:
        if value == "null":
            return None
        if meta_type == "integer":
            return int(value)
        return _finite(value) if meta_type == "numeric" else value

    try:
        if op in ("in", "nin"):
            value: Any = [convert(item) for item in raw.split(",")]
        else:
            value = convert(raw)
    except ValueError:
        raise bad_query(name) from None
    null_only = not key.path
    if (value is None and op not in ("eq", "neq")) or (null_only and value is not None):
        raise bad_query(name)
    if op in ("like", "nlike") and meta_type != "string":
        raise bad_query(name)
    return Clause(field, op, value, meta_type)


def geo_clause(query: dict[str, Any]) -> Clause | None:
    """The geo box of origin_* +- *_delta, ``null`` origins = "no geo position", or None."""
    given = [name for name in GEO if name in query]
    if not given:
        return None
    deltas = [name for name in ("longitude_delta", "latitude_delta") if name in query]
    origins = {name: query[name] for name in ("origin_longitude", "origin_latitude") if name in query}
    if None in origins.values():
        numeric = [name for name, value in origins.items() if value is not None]
        if deltas or numeric:
            raise bad_query((deltas or numeric)[0])
        return Clause("geo_position", "eq", None)
    if len(origins) < 2:
        raise bad_query(next(name for name in ("origin_longitude", "origin_latitude") if name not in origins))
    box = {name: query[name] for name in given}
    return Clause("geo_position", "covered", box)


def parse_events_query(request: web.Request) -> tuple[dict[str, Any], list[Clause]]:
    """Plain parameters and filter clauses; unknown or malformed parameters answer 12012."""
    query: dict[str, Any] = {}
    clauses: list[Clause] = []
    for name in request.query:
        values = request.query.getall(name)
        if len(values) != 1:
            raise bad_query(name)
        if name == "meta" or name.startswith(("meta.", "meta:", "meta__")):
            clauses.append(meta_clause(name, values[0]))
            continue
        parser = FILTERS[name][0] if name in FILTERS else OTHER.get(name)
        if parser is None:
            raise bad_query(name)
        try:
            query[name] = parser(values[0])
        except (ValueError, TypeError):
            raise bad_query(name) from None
    clauses += [Clause(FILTERS[name][1], FILTERS[name][2], query[name]) for name in FILTERS if name in query]
    geo = geo_clause(query)
    if geo is not None:
        clauses.append(geo)
    return query, clauses


def scope_clause(request: web.Request, account_id: str | None) -> list[Clause]:
    scope = principal(request).read_scope() or account_id
    return [Clause("account_id", "eq", scope)] if scope is not None else []


async def get_events(request: web.Request) -> web.Response:
    query, clauses = parse_events_query(request)
    targets = parse_targets(query.get("target"))
    clauses += scope_clause(request, query.get("account_id"))
    if not any(name in query for name in WINDOW_OVERRIDES):
        now = datetime.now(UTC)
        clauses += [Clause("create_time", "gte", month_before(now)), Clause("create_time", "lt", now)]
    page = EventPage(
        clauses,
        by_id="event_id__gte" in query or "event_id__lt" in query,
        ascending=query.get("order") == "asc",
        page=query.get("page", 1),
        page_size=query.get("page_size", 10),
    )
    async with request.app[DB].session() as session:
        bodies = await event_filters.page_bodies(session, page)
    return respond(request, {"events": [select_targets(body, targets) for body in bodies]})


def not_found(event_id: str) -> LunaError:
    return LunaError(errors.EVENT_NOT_FOUND, f"Event with id '{event_id}' not found")


async def _stored(request: web.Request) -> tuple[dict[str, Any], list[str] | None]:
    query = {}
    for name in request.query:
        if name != "target" or len(request.query.getall(name)) != 1:
            raise bad_query(name)
        query[name] = request.query[name]
    targets = parse_targets(query.get("target"))
    event_id = request.match_info["event_id"]
    async with request.app[DB].session() as session:
        event = await repo.get(session, event_id, principal(request).read_scope())
    if event is None:
        raise not_found(event_id)
    return event.body, targets


async def get_event(request: web.Request) -> web.Response:
    body, targets = await _stored(request)
    return respond(request, select_targets(body, targets))


async def head_event(request: web.Request) -> web.Response:
    await _stored(request)
    return web.Response()


async def post_statistic(request: web.Request) -> web.Response:
    # A read, though a POST: the token needs 'view' on 'event' (the route table would ask for
    # 'creation', the action of POST), so the check is made here.
    require(principal(request), "event", "view")
    if request.query:
        raise bad_query(next(iter(request.query)))
    body = await read_json(request, event_stats_request.SCHEMA)
    query = event_stats_request.stats_query(body)
    account_id = principal(request).read_scope()
    if account_id is not None:
        query.clauses.append(Clause("account_id", "eq", account_id))
    async with request.app[DB].session() as session:
        reply = await event_stats.statistic(session, query)
    return respond(request, reply)
