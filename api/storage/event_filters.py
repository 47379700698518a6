"""Event filters as SQL, shared by GET /6/events (query string) and POST /6/events/statistic (body).

Both speak one vocabulary: a :class:`Clause` names an event field (a key of :data:`FIELDS`, the
whole ``meta`` or ``meta.<path>``), an operator and a value. Operators: ``eq``/``neq`` (a None value
means "is (not) null"), ``in``/``nin`` (a list; a None item also matches / excludes unset values),
``gt``/``gte``/``lt``/``lte``, ``like``/``nlike`` (SQL LIKE patterns, ``%`` and ``_``, backslash
escapes, case-sensitive on both backends), ``contains`` (case-insensitive substring, user_data),
``all`` (tags: the event has every given tag) and ``covered`` (geo_position in a box). Comparisons
follow SQL: ``neq``/``nin`` do not match events where the value is unset unless null is named.

Where the values live:
- typed columns of :class:`Event` for everything Argus models produce;
- ``body`` JSON for the body attributes (``body_basic_attributes``, ``upper_body``, ``lower_body``,
  ``accessories``), read with SQLAlchemy JSON path indexing; clothing colour arrays are searched
  with ``json_each`` (SQLite) / ``json_array_elements_text`` (PostgreSQL). No Argus model estimates
  these attributes yet, so today such filters match only ``null``; they work on the stored JSON as
  soon as a producer writes the fields where the ``event`` schema (L8991) puts them;
- the ``event_tags`` table for tags;
- ``meta`` JSON for user-defined filters, typed by ``string`` (the JSON text), ``integer`` or
  ``numeric``. PostgreSQL casts the JSON value itself (``jsonb`` -> integer/numeric), so a string
  where a number is expected fails the statement; :func:`execute` turns that into 10020, as LUNA
  does. SQLite cannot fail a cast: there a typed comparison simply does not match values of
  another JSON type (text "5" is not the integer 5 on either backend).
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    Numeric,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Result
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from api import errors
from api.errors import LunaError
from api.storage.models import Event, EventTag

SQLITE = "sqlite"
# Field kinds: how a value is compared and aggregated.
TEXT, INT, FLOAT, TIME, COLORS, TAGS, GEO = "text", "int", "float", "time", "colors", "tags", "geo"
META_TYPES = ("string", "integer", "numeric")
META_OPERATORS = ("eq", "neq", "like", "nlike", "in", "nin", "gt", "gte", "lt", "lte")
# Field names: latin letters, digits and single underscores (the `event_meta_common` rule), so the
# `__` before an operator is never part of a name.
_SEGMENT = r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*"
_META_KEY = re.compile(
    rf"^meta(?:\.(?P<path>{_SEGMENT}(?:\.{_SEGMENT})*))?"
    rf"(?:__(?P<op>{'|'.join(META_OPERATORS)}))?(?::(?P<type>{'|'.join(META_TYPES)}))?$"
)


@dataclass(frozen=True)
class Field:
    kind: str
    column: Any = None  # an Event column, or None when the value lives in `body`
    body_path: tuple[str, ...] = ()


FIELDS: dict[str, Field] = {
    "event_id": Field(TEXT, Event.event_id),
    "account_id": Field(TEXT, Event.account_id),
    "external_id": Field(TEXT, Event.external_id),
    "handler_id": Field(TEXT, Event.handler_id),
    "stream_id": Field(TEXT, Event.stream_id),
    "source": Field(TEXT, Event.source),
    "top_matching_candidates_label": Field(TEXT, Event.top_matching_label),
    "top_similar_object_id": Field(TEXT, Event.top_similar_object_id),
    "top_similar_external_id": Field(TEXT, Event.top_similar_external_id),
    "top_similar_object_similarity": Field(FLOAT, Event.top_similarity),
    "create_time": Field(TIME, Event.create_time),
    "end_time": Field(TIME, Event.end_time),
    "face_id": Field(TEXT, Event.face_id),
    "gender": Field(INT, Event.gender),
    "age": Field(INT, Event.age),
    "emotion": Field(INT, Event.emotion),
    "mask": Field(INT, Event.mask),
    "ethnic_group": Field(INT, Event.ethnic_group),
    "liveness": Field(INT, Event.liveness),
    "deepfake": Field(INT, Event.deepfake),
    "user_data": Field(TEXT, Event.user_data),
    "tags": Field(TAGS),
    "city": Field(TEXT, Event.city),
    "area": Field(TEXT, Event.area),
    "district": Field(TEXT, Event.district),
    "street": Field(TEXT, Event.street),
    "house_number": Field(TEXT, Event.house_number),
    "geo_position": Field(GEO),
    "track_id": Field(TEXT, Event.track_id),
    "apparent_age": Field(INT, body_path=("body_basic_attributes", "apparent_age")),
    "apparent_gender": Field(INT, body_path=("body_basic_attributes", "apparent_gender")),
    "sleeve_length": Field(TEXT, body_path=("upper_body", "sleeve", "length")),
    "headwear_state": Field(INT, body_path=("upper_body", "headwear", "state")),
    "headwear_apparent_color": Field(TEXT, body_path=("upper_body", "headwear", "apparent_color")),
    "upper_clothing_colors": Field(COLORS, body_path=("upper_body", "upper_clothing", "colors")),
    "lower_garment_type": Field(TEXT, body_path=("lower_body", "lower_garment", "type")),
    "lower_garment_colors": Field(COLORS, body_path=("lower_body", "lower_garment", "colors")),
    "shoes_apparent_color": Field(TEXT, body_path=("lower_body", "shoes", "apparent_color")),
    "backpack_state": Field(INT, body_path=("accessories", "backpack", "state")),
}


@dataclass(frozen=True)
class Clause:
    field: str  # a FIELDS key, "meta" or "meta.<path>"
    op: str
    value: Any = None
    meta_type: str = "string"  # how a meta value is read: string | integer | numeric


@dataclass(frozen=True)
class MetaKey:
    path: tuple[str, ...]  # () = the whole meta object
    op: str | None
    type: str | None


def parse_meta_key(key: str) -> MetaKey:
    """``meta[.<path>][__<operator>][:<type>]``; ValueError when it is not one."""
    match = _META_KEY.match(key)
    if match is None:
        raise ValueError(key)
    path = tuple(match["path"].split(".")) if match["path"] else ()
    return MetaKey(path, match["op"], match["type"])


def is_meta(field: str) -> bool:
    return field == "meta" or field.startswith("meta.")


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


# -- values ------------------------------------------------------------------------------------
def _sqlite_path(path: tuple[str, ...]) -> str:
    return "$" + "".join(f'."{name}"' for name in path)


def meta_value(path: tuple[str, ...], meta_type: str, dialect: str) -> ColumnElement[Any]:
    """The meta value at ``path`` read as ``meta_type``; NULL when missing or JSON null."""
    if dialect == SQLITE:
        where = _sqlite_path(path)
        kind = func.json_type(Event.meta, where)
        raw = func.json_extract(Event.meta, where)
        if meta_type == "string":
            # JSON booleans read as SQLite integers; spell them as PostgreSQL's `#>>` does.
            return case((kind == "true", "true"), (kind == "false", "false"), else_=cast(raw, String))
        number = kind.in_(("integer", "real"))
        if meta_type == "integer":
            # PostgreSQL rounds a numeric cast to integer; ROUND keeps the backends in step.
            return case((number, cast(func.round(raw), Integer)))
        return case((number, cast(raw, Float)))
    if meta_type == "string":
        return Event.meta[path].as_string()
    # Cast the JSON value, not its text: a JSON string fails with "cannot cast jsonb string to
    # type integer" (10020) like in LUNA; NULLIF keeps JSON null a SQL NULL instead of an error.
    as_jsonb = func.nullif(cast(Event.meta[path], JSONB), cast(literal("null"), JSONB))
    return cast(as_jsonb, Integer if meta_type == "integer" else Numeric)


def _meta_is_null(dialect: str) -> ColumnElement[bool]:
    """The whole meta is unset: SQL NULL or the JSON ``null`` an ORM None is stored as."""
    kind = func.json_type(Event.meta) if dialect == SQLITE else func.json_typeof(Event.meta)
    return func.coalesce(kind, "null") == "null"


def value_of(field: str, dialect: str, meta_type: str = "string") -> ColumnElement[Any]:
    """The SQL expression of a scalar field (not tags, geo_position or colour arrays)."""
    if field.startswith("meta."):
        return meta_value(parse_meta_key(field).path, meta_type, dialect)
    spec = FIELDS[field]
    if spec.column is not None:
        return spec.column
    node = Event.body[spec.body_path]
    return node.as_integer() if spec.kind == INT else node.as_string()


def tag_value(aggregator: str) -> ColumnElement[Any]:
    """Per event, its smallest or largest tag (NULL without tags): what tag aggregates fold."""
    fold = func.max if aggregator == "max" else func.min
    return select(fold(EventTag.tag)).where(EventTag.event_id == Event.event_id).scalar_subquery()


def has_geo() -> ColumnElement[bool]:
    return and_(Event.longitude.is_not(None), Event.latitude.is_not(None))


# -- conditions --------------------------------------------------------------------------------
def _like_to_glob(pattern: str) -> str:
    """A LIKE pattern as a GLOB one: SQLite's case-sensitive matcher, like PostgreSQL's LIKE."""
    out, chars = [], iter(pattern)
    for char in chars:
        if char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        else:
            if char == "\\":  # LIKE's default escape: the next character is literal
                char = next(chars, "\\")
            out.append(f"[{char}]" if char in "*?[" else char)
    return "".join(out)


def _like(expr: ColumnElement[Any], pattern: str, dialect: str) -> ColumnElement[bool]:
    if dialect == SQLITE:
        return expr.op("GLOB", is_comparison=True)(_like_to_glob(pattern))
    return expr.like(pattern)


_COMPARISONS = {
    "eq": operator.eq,
    "neq": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def compare(expr: ColumnElement[Any], op: str, value: Any, dialect: str) -> ColumnElement[bool]:
    if op in ("eq", "neq") and value is None:
        return expr.is_(None) if op == "eq" else expr.is_not(None)
    if op in ("in", "nin"):
        given = [item for item in value if item is not None]
        with_null = len(given) != len(value)
        if op == "in":
            return or_(
                *([expr.in_(given)] if given else []), *([expr.is_(None)] if with_null else []), false()
            )
        return and_(
            *([expr.not_in(given)] if given else []), *([expr.is_not(None)] if with_null else []), true()
        )
    if op == "contains":
        return expr.icontains(value, autoescape=True)
    if op in ("like", "nlike"):
        matched = _like(expr, value, dialect)
        return matched if op == "like" else not_(matched)
    return _COMPARISONS[op](expr, value)


def _has_tags(tags: list[str]) -> ColumnElement[bool]:
    return and_(
        true(), *(exists().where(EventTag.event_id == Event.event_id, EventTag.tag == tag) for tag in tags)
    )


def _colors(path: tuple[str, ...], op: str, value: Any, dialect: str) -> ColumnElement[bool]:
    """A colour array has at least one of the given colours (``in``), or is unset (null)."""
    present = Event.body[path].as_string()
    if value is None:  # eq / neq null
        return present.is_(None) if op == "eq" else present.is_not(None)
    given = [item for item in value if item is not None]
    if dialect == SQLITE:
        items = func.json_each(Event.body, _sqlite_path(path)).table_valued("value")
    else:
        items = func.json_array_elements_text(Event.body[path]).table_valued("value")
    parts = [exists().select_from(items).where(items.c.value.in_(given))] if given else []
    if len(given) != len(value):
        parts.append(present.is_(None))
    return or_(false(), *parts)


def _geo(op: str, value: Any) -> ColumnElement[bool]:
    if value is None:  # eq / neq null
        return not_(has_geo()) if op == "eq" else has_geo()
    # geo_position_bbox: boundaries are exclusive.
    lon, lat = value["origin_longitude"], value["origin_latitude"]
    dlon, dlat = value.get("longitude_delta", 0.01), value.get("latitude_delta", 0.01)
    return and_(
        Event.longitude > lon - dlon,
        Event.longitude < lon + dlon,
        Event.latitude > lat - dlat,
        Event.latitude < lat + dlat,
    )


def condition(clause: Clause, dialect: str) -> ColumnElement[bool]:
    field, op, value = clause.field, clause.op, clause.value
    if field == "meta":
        return _meta_is_null(dialect) if op == "eq" else not_(_meta_is_null(dialect))
    if field == "tags":
        tags = [value] if isinstance(value, str) else list(value)
        return _has_tags(tags) if op in ("all", "like") else not_(_has_tags(tags))
    if field == "geo_position":
        return _geo(op, value)
    spec = FIELDS.get(field)
    if spec is not None and spec.kind == COLORS:
        return _colors(spec.body_path, op, value, dialect)
    return compare(value_of(field, dialect, clause.meta_type), op, value, dialect)


def conditions(clauses: list[Clause], dialect: str) -> list[ColumnElement[bool]]:
    return [condition(clause, dialect) for clause in clauses]


# -- execution ---------------------------------------------------------------------------------
def _data_error(exc: DBAPIError) -> str | None:
    """The driver's message when the failure is a data exception (SQLSTATE class 22), else None."""
    state = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")
    if not state.startswith("22"):
        return None
    cause = exc.orig.__cause__ if exc.orig is not None else None
    message = str(cause.args[0]) if cause is not None and cause.args else str(exc.orig)
    return message.splitlines()[0] if message else state


async def execute(session: AsyncSession, statement: Select[Any], user_defined: bool) -> Result[Any]:
    """Run a statement built from filters; a cast that user-defined (meta) filters made fail
    answers 10020 instead of 500."""
    try:
        return await session.execute(statement)
    except DBAPIError as exc:
        message = _data_error(exc) if user_defined else None
        if message is None:
            raise
        raise LunaError(
            errors.INCOMPATIBLE_USER_FILTERS,
            f"SQL request execution failed due to incompatible user-defined filters: {message}",
        ) from None


@dataclass(frozen=True)
class EventPage:
    """One page of GET /6/events: newest first unless ``ascending``; by event id when ``by_id``."""

    clauses: list[Clause]
    by_id: bool = False
    ascending: bool = False
    page: int = 1
    page_size: int = 10


async def page_bodies(session: AsyncSession, query: EventPage) -> list[dict[str, Any]]:
    """The stored bodies of one page of events; only ``body`` is read, never the descriptor."""
    keys = (Event.event_id,) if query.by_id else (Event.create_time, Event.event_id)
    order = [key.asc() if query.ascending else key.desc() for key in keys]
    statement = (
        select(Event.body)
        .where(*conditions(query.clauses, dialect_of(session)))
        .order_by(*order)
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    )
    user_defined = any(is_meta(clause.field) for clause in query.clauses)
    return list((await execute(session, statement, user_defined)).scalars())
