"""POST /6/events/statistic: aggregation of events (`get_event_stats`, L9169).

One SQL statement per request: ``targets`` become aggregates (count, min, max, avg) or GROUP BY
keys (``group_by``), ``filters`` and ``period`` become WHERE conditions (see event_filters), and
``group_by`` adds a leading time key computed in SQL on both backends, so no event is loaded
into Python:

- intervals (``<N><unit>``, unit s m h d w M y): s..w are fixed widths counted from the Unix
  epoch (weeks from Monday 1970-01-05), M and y count calendar months/years; a bucket is reported
  by its start time (UTC, ISO 8601). Only buckets holding events are returned.
- frequencies (``dayOfWeek`` ... ``minuteOfHour``): the UTC calendar field; weeks are ISO weeks,
  days of week and months are reported by English name, the other fields as numbers.

Rows are ordered by their group keys, ascending, unset values last.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Integer, case, cast, extract, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from api.errors import bad_json
from api.storage import event_filters as ef
from api.storage.event_filters import FIELDS, GEO, SQLITE, TAGS, Clause
from api.storage.models import Event
from api.validation import q_time

FREQUENCIES = (
    "monthOfYear",
    "weekOfYear",
    "dayOfYear",
    "dayOfMonth",
    "dayOfWeek",
    "hourOfDay",
    "minuteOfHour",
)
INTERVAL = re.compile(r"^([1-9][0-9]{0,5})([smhdwMy])$")
PERIOD_PATTERN = (
    r"^((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|\.\d+Z|\.\d+[+-]\d{2}:\d{2}))|(now-\d+(y|M|w|d|h|m|s)))$"
)
GROUP_BY_PATTERN = rf"^([1-9][0-9]{{0,5}}[smhdwMy]|{'|'.join(FREQUENCIES)})$"
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Monday 1970-01-05 00:00 UTC: week buckets start on Mondays.
_WEEK_ORIGIN = 4 * 86400
_DAY_NAMES = list(calendar.day_name)  # Monday first, as ISO day numbers 1..7


@dataclass(frozen=True)
class Target:
    column: str  # a FIELDS key or "meta.<path>"
    aggregator: str  # count | min | max | avg | group_by
    meta_type: str = "numeric"


@dataclass(frozen=True)
class StatsQuery:
    targets: list[Target]
    clauses: list[Clause]
    group_by: str | None = None


def label(target: Target) -> str:
    return f"{target.column}, aggregator '{target.aggregator}'"


# -- time keys ---------------------------------------------------------------------------------
def _epoch(dialect: str) -> ColumnElement[Any]:
    if dialect == SQLITE:
        return cast(func.strftime("%s", Event.create_time), BigInteger)
    return cast(func.floor(extract("epoch", Event.create_time)), BigInteger)


def _utc_field(dialect: str, sqlite_format: str, pg_field: str) -> ColumnElement[Any]:
    if dialect == SQLITE:
        return cast(func.strftime(sqlite_format, Event.create_time), Integer)
    return cast(extract(pg_field, func.timezone(literal_column("'UTC'"), Event.create_time)), Integer)


def _iso_week(dialect: str) -> ColumnElement[Any]:
    if dialect != SQLITE:
        return _utc_field(dialect, "", "week")
    # The ISO week is the week of its Thursday: day-of-year of that Thursday, in sevens.
    thursday = func.date(Event.create_time, "-3 days", "weekday 4")
    return (cast(func.strftime("%j", thursday), Integer) - 1) // 7 + 1


def time_key(group_by: str, dialect: str) -> ColumnElement[Any]:
    """The bucket or calendar field of ``create_time`` as an integer computed by the database."""
    interval = INTERVAL.match(group_by)
    if interval:
        count, unit = int(interval[1]), interval[2]
        if unit in _SECONDS:
            width = count * _SECONDS[unit]
            origin = _WEEK_ORIGIN if unit == "w" else 0
            return cast((_epoch(dialect) - origin) // width, BigInteger)
        months = _utc_field(dialect, "%Y", "year") * 12 + _utc_field(dialect, "%m", "month") - 1
        return months // count if unit == "M" else _utc_field(dialect, "%Y", "year") // count
    if group_by == "weekOfYear":
        return _iso_week(dialect)
    if group_by == "dayOfWeek":
        if dialect == SQLITE:  # %w counts from Sunday = 0; ISO from Monday = 1
            return (cast(func.strftime("%w", Event.create_time), Integer) + 6) % 7 + 1
        return _utc_field(dialect, "", "isodow")
    sqlite_format, pg_field = {
        "monthOfYear": ("%m", "month"),
        "dayOfYear": ("%j", "doy"),
        "dayOfMonth": ("%d", "day"),
        "hourOfDay": ("%H", "hour"),
        "minuteOfHour": ("%M", "minute"),
    }[group_by]
    return _utc_field(dialect, sqlite_format, pg_field)


def time_label(group_by: str, key: Any) -> Any:
    """A time key as the reply shows it."""
    if key is None:
        return None
    key = int(key)
    interval = INTERVAL.match(group_by)
    if interval:
        count, unit = int(interval[1]), interval[2]
        if unit in _SECONDS:
            start = key * count * _SECONDS[unit] + (_WEEK_ORIGIN if unit == "w" else 0)
            return datetime.fromtimestamp(start, UTC).isoformat()
        if unit == "M":
            year, month = divmod(key * count, 12)
            return datetime(year, month + 1, 1, tzinfo=UTC).isoformat()
        return datetime(key * count, 1, 1, tzinfo=UTC).isoformat()
    if group_by == "dayOfWeek":
        return _DAY_NAMES[key - 1]
    if group_by == "monthOfYear":
        return calendar.month_name[key]
    return key


# -- targets -----------------------------------------------------------------------------------
def aggregate(target: Target, dialect: str) -> ColumnElement[Any]:
    column, aggregator = target.column, target.aggregator
    spec = FIELDS.get(column)
    kind = spec.kind if spec is not None else None
    if kind == TAGS:
        value: ColumnElement[Any] = ef.tag_value(aggregator)
    elif kind == GEO:
        value = case((ef.has_geo(), 1))
    elif column.startswith("meta."):
        # Counting needs no cast: any value, whatever its JSON type, counts.
        meta_type = "string" if aggregator == "count" else target.meta_type
        value = ef.meta_value(ef.parse_meta_key(column).path, meta_type, dialect)
    else:
        value = ef.value_of(column, dialect)
    return {"count": func.count, "min": func.min, "max": func.max, "avg": func.avg}[aggregator](value)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):  # PostgreSQL numeric: avg, extract, meta numeric
        return int(value) if value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


async def statistic(session: AsyncSession, query: StatsQuery) -> dict[str, Any]:
    """``{"fields": [...], "stats": [[...], ...]}``: group keys first, then the aggregates."""
    dialect = ef.dialect_of(session)
    keys: list[ColumnElement[Any]] = []
    fields: list[str] = []
    if query.group_by is not None:
        keys.append(time_key(query.group_by, dialect))
        fields.append(f"Group by time: {query.group_by}")
    grouped = [t for t in query.targets if t.aggregator == "group_by"]
    measured = [t for t in query.targets if t.aggregator != "group_by"]
    keys += [ef.value_of(t.column, dialect) for t in grouped]
    fields += [label(t) for t in grouped]
    fields += [label(t) for t in measured]
    # Keys are grouped and ordered by their output names: the same expression written twice
    # would carry different bound parameters, which PostgreSQL treats as different expressions.
    names = [f"k{i}" for i in range(len(keys))]
    columns = [key.label(name) for key, name in zip(keys, names, strict=True)]
    columns += [aggregate(t, dialect).label(f"a{i}") for i, t in enumerate(measured)]
    statement = select(*columns).select_from(Event).where(*ef.conditions(query.clauses, dialect))
    if names:
        statement = statement.group_by(*map(literal_column, names)).order_by(
            *(literal_column(name).asc().nulls_last() for name in names)
        )
    user_defined = any(ef.is_meta(c.field) for c in query.clauses) or any(
        ef.is_meta(t.column) for t in query.targets
    )
    rows = (await ef.execute(session, statement, user_defined)).all()
    stats = []
    for row in rows:
        values = [_plain(value) for value in row]
        if query.group_by is not None:
            values[0] = time_label(query.group_by, row[0])
        stats.append(values)
    return {"fields": fields, "stats": stats}


# -- the request -------------------------------------------------------------------------------
# Which aggregators each column takes (the table of `targets`, L9172).
_GROUPABLE = (
    "event_id", "external_id", "handler_id", "stream_id", "source", "top_matching_candidates_label",
    "top_similar_object_id", "top_similar_external_id", "face_id", "user_data", "city", "area", "district",
    "street", "house_number", "track_id", "sleeve_length", "headwear_apparent_color", "lower_garment_type",
    "shoes_apparent_color",
)  # fmt: skip
_NUMBERS = (
    "gender", "age", "emotion", "mask", "ethnic_group", "liveness", "deepfake", "apparent_age",
    "apparent_gender", "headwear_state", "backpack_state",
)  # fmt: skip
AGGREGATORS: dict[str, tuple[str, ...]] = {
    **{column: ("count", "group_by") for column in _GROUPABLE},
    **{column: ("count", "max", "min", "avg", "group_by") for column in _NUMBERS},
    "top_similar_object_similarity": ("count", "max", "min", "avg"),
    "create_time": ("count", "max", "min"),
    "end_time": ("count", "max", "min"),
    "tags": ("count", "max", "min"),
    "geo_position": ("count",),
    "upper_clothing_colors": ("count",),
    "lower_garment_colors": ("count",),
}
META_AGGREGATORS = ("count", "max", "min", "avg")
# Which operators each filter column takes, and whether `eq` with a null value is allowed (the
# table of `filters`, L9174). create_time is filtered by `period`, not here.
_EQ_IN, _RANGE = ("eq", "neq", "in", "nin"), ("gt", "gte", "lt", "lte")
_IDS = (
    "account_id", "event_id", "external_id", "handler_id", "top_similar_object_id", "top_similar_external_id",
    "face_id",
)  # fmt: skip
_NAMED = (
    "source", "stream_id", "city", "area", "district", "street", "house_number", "track_id", "sleeve_length",
    "headwear_apparent_color", "lower_garment_type", "shoes_apparent_color",
)  # fmt: skip
OPERATORS: dict[str, tuple[tuple[str, ...], bool]] = {
    "tags": (("like", "nlike"), False),
    "user_data": (_EQ_IN, False),
    "top_matching_candidates_label": (_EQ_IN, False),
    "top_similar_object_similarity": (_RANGE, False),
    "geo_position": (("covered",), True),
    "upper_clothing_colors": (("in",), True),
    "lower_garment_colors": (("in",), True),
    **{column: (_EQ_IN + _RANGE, False) for column in _IDS},
    **{column: (_EQ_IN + _RANGE, True) for column in _NUMBERS},
    **{column: (_EQ_IN, True) for column in _NAMED},
}
META_OPERATORS = (("like", "nlike", *_EQ_IN, *_RANGE), True)
_META = {"type": "string", "pattern": "^meta"}
_BBOX = {
    "type": "object",
    "properties": {
        "origin_longitude": {"type": "number", "minimum": -180, "maximum": 180},
        "origin_latitude": {"type": "number", "minimum": -90, "maximum": 90},
        "longitude_delta": {"type": "number", "minimum": 0, "maximum": 90},
        "latitude_delta": {"type": "number", "minimum": 0, "maximum": 90},
    },
    "required": ["origin_longitude", "origin_latitude"],
    "additionalProperties": False,
}
_TAG = {"type": "string", "maxLength": 36}
_ITEMS = {
    ef.TEXT: {"type": "string"},
    ef.INT: {"type": "integer"},
    ef.FLOAT: {"type": "number"},
    ef.COLORS: {"type": "string"},
    TAGS: {"anyOf": [_TAG, {"type": "array", "items": _TAG, "minItems": 1}]},
    GEO: {"anyOf": [_BBOX, {"type": "array", "items": _BBOX, "minItems": 1, "maxItems": 1}]},
    "meta": {"type": ["string", "number"]},
}


def _when(name: str, values: Any, then: dict[str, Any]) -> dict[str, Any]:
    condition = {"pattern": values} if isinstance(values, str) else {"enum": list(values)}
    return {"if": {"properties": {name: condition}, "required": [name]}, "then": then}


def _filter_rule(
    column: Any, operators: tuple[str, ...], eq_null: bool, item: dict[str, Any]
) -> dict[str, Any]:
    """Operators a column allows and the value each takes (a list for in/nin)."""
    listed = {"type": "array", "items": item, "minItems": 1}
    rules = [_when("operator", ("in", "nin"), {"properties": {"value": listed}})]
    single = [op for op in operators if op not in ("in", "nin", "eq")]
    if single:
        rules.append(_when("operator", single, {"properties": {"value": item}}))
    if "eq" in operators:
        eq = {"anyOf": [item, {"type": "null"}]} if eq_null else item
        rules.append(_when("operator", ["eq"], {"properties": {"value": eq}}))
    elif eq_null:
        rules.append(_when("operator", ["eq"], {"properties": {"value": {"type": "null"}}}))
    allowed = sorted({*operators, *(["eq"] if eq_null else [])})
    return _when("column", column, {"properties": {"operator": {"enum": allowed}}, "allOf": rules})


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "targets": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "column": {"anyOf": [{"enum": sorted(AGGREGATORS)}, _META]},
                    "aggregator": {"enum": ["count", "max", "min", "avg", "group_by"]},
                },
                # `aggregator` defaults to count (the spec's own example leaves it out).
                "required": ["column"],
                "additionalProperties": False,
                "allOf": [
                    *(
                        _when("column", [c], {"properties": {"aggregator": {"enum": list(a)}}})
                        for c, a in AGGREGATORS.items()
                    ),
                    _when(
                        "column", "^meta", {"properties": {"aggregator": {"enum": list(META_AGGREGATORS)}}}
                    ),
                ],
            },
        },
        "filters": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "column": {"anyOf": [{"enum": sorted(OPERATORS)}, _META]},
                    "operator": {
                        "enum": [
                            "eq",
                            "neq",
                            "in",
                            "nin",
                            "like",
                            "nlike",
                            "gt",
                            "gte",
                            "lt",
                            "lte",
                            "covered",
                        ]
                    },
                    "value": {},
                },
                "required": ["column", "operator", "value"],
                "additionalProperties": False,
                "allOf": [
                    *(
                        _filter_rule([c], ops, null, _ITEMS[FIELDS[c].kind])
                        for c, (ops, null) in OPERATORS.items()
                    ),
                    _filter_rule("^meta", *META_OPERATORS, _ITEMS["meta"]),
                ],
            },
        },
        "period": {
            "type": "array",
            "maxItems": 2,
            "items": {
                "type": "object",
                "properties": {
                    "operator": {"enum": ["gt", "gte", "lt", "lte"]},
                    "value": {"type": "string", "pattern": PERIOD_PATTERN},
                },
                "required": ["operator", "value"],
                "additionalProperties": False,
            },
        },
        "group_by": {"type": "string", "pattern": GROUP_BY_PATTERN},
    },
    "additionalProperties": False,
}


def _meta_type(path: str, given: str | None, value: Any) -> str:
    """The declared type (``meta.x:integer``), or the JSON type of the value; 12022 if they differ."""
    items = [item for item in (value if isinstance(value, list) else [value]) if item is not None]
    numbers = all(isinstance(item, int | float) and not isinstance(item, bool) for item in items)
    if given is None:
        return "numeric" if items and numbers else "string"
    fits = {
        "string": all(isinstance(item, str) for item in items),
        "numeric": numbers,
        "integer": all(isinstance(item, int) and not isinstance(item, bool) for item in items),
    }[given]
    if not fits:
        raise bad_json(path, f"value does not match type '{given}'")
    return given


def _meta_key(path: str, column: str) -> ef.MetaKey:
    try:
        key = ef.parse_meta_key(column)
    except ValueError:
        key = None
    if key is None or key.op is not None:
        raise bad_json(path, f"'{column}' is not a valid meta column: expected meta.<path.to.field>[:<type>]")
    return key


def _filter_clause(index: int, item: dict[str, Any]) -> Clause:
    column, op, value = item["column"], item["operator"], item["value"]
    if column == "geo_position" and op == "covered":
        return Clause(column, op, value[0] if isinstance(value, list) else value)
    if not column.startswith("meta"):
        return Clause(column, op, value)
    key = _meta_key(f"filters.{index}.column", column)
    if not key.path and not (op == "eq" and value is None):
        raise bad_json(f"filters.{index}", "the whole meta can only be compared with null (operator 'eq')")
    meta_type = _meta_type(f"filters.{index}.value", key.type, value)
    if op in ("like", "nlike") and meta_type != "string":
        raise bad_json(f"filters.{index}.operator", f"'{op}' needs string values")
    return Clause(".".join(("meta", *key.path)), op, value, meta_type)


def _period_clauses(period: list[dict[str, str]]) -> list[Clause]:
    lower = [p for p in period if p["operator"] in ("gt", "gte")]
    if len(lower) > 1 or len(period) - len(lower) > 1:
        raise bad_json("period", "only one period can be given: at most one lower and one upper bound")
    clauses = []
    for index, bound in enumerate(period):
        try:
            when = q_time(bound["value"])
        except ValueError:
            raise bad_json(f"period.{index}.value", f"'{bound['value']}' is not a valid time") from None
        clauses.append(Clause("create_time", bound["operator"], when))
    return clauses


def stats_query(body: dict[str, Any]) -> StatsQuery:
    """A request body valid against :data:`SCHEMA` as a query; 12022 for what the schema cannot say."""
    targets = []
    for index, item in enumerate(body.get("targets", [{"column": "event_id", "aggregator": "count"}])):
        column, aggregator = item["column"], item.get("aggregator", "count")
        if column.startswith("meta"):
            key = _meta_key(f"targets.{index}.column", column)
            if not key.path:
                raise bad_json(f"targets.{index}.column", "a meta target needs a field path")
            targets.append(Target(column, aggregator, key.type or "numeric"))
        else:
            targets.append(Target(column, aggregator))
    if all(target.aggregator == "group_by" for target in targets):
        raise bad_json("targets", "there must be at least one function different from 'group_by'")
    clauses = [_filter_clause(index, item) for index, item in enumerate(body.get("filters", []))]
    clauses += _period_clauses(body.get("period", []))
    return StatsQuery(targets, clauses, body.get("group_by"))
