"""The POST /6/events/statistic request (`get_event_stats`, L9169): its schema and its reading.

Which aggregators and filter operators each column takes follows the spec's tables; the body is
validated against ``SCHEMA`` and turned into a ``StatsQuery`` that ``event_stats.statistic``
runs as one SQL statement.
"""

from __future__ import annotations

from typing import Any

from api.errors import bad_json
from api.storage import event_filters as ef
from api.storage.event_filters import FIELDS, GEO, TAGS, Clause
from api.storage.event_stats import GROUP_BY_PATTERN, PERIOD_PATTERN, StatsQuery, Target
from api.validation import q_time

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
