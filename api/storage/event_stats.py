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

Rows are ordered by their group keys, ascending, unset values last. The request's schema and
its reading into a ``StatsQuery`` are in ``event_stats_request``.
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

from api.storage import event_filters as ef
from api.storage.event_filters import FIELDS, GEO, SQLITE, TAGS, Clause
from api.storage.models import Event

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
