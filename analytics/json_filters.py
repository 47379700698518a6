"""User-defined JSON field filters: ``<path.to.field>__<operator>:<type>`` = value (pure Python).

The grammar LUNA uses for general-websocket filters (L48600) and event ``meta.*`` filters:
operators eq (default), neq, like, nlike, in, nin, gt, gte, lt, lte; types string (default),
integer, numeric; ``like`` only for strings; ``in``/``nin`` values are comma-separated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OPERATORS = ("eq", "neq", "like", "nlike", "in", "nin", "gt", "gte", "lt", "lte")
TYPES = {"string": str, "integer": int, "numeric": float}
PATH = re.compile(r"^[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*$")


class FilterError(ValueError):
    """A filter key or value is malformed; the message names it."""


@dataclass(frozen=True)
class FieldFilter:
    path: tuple[str, ...]
    operator: str
    values: tuple[Any, ...]

    def matches(self, document: Any) -> bool:
        value = document
        for part in self.path:
            if not isinstance(value, dict) or part not in value:
                return self.operator in ("neq", "nin", "nlike")
            value = value[part]
        return _COMPARE[self.operator](value, self.values)


def _like(value: Any, pattern: str) -> bool:
    regex = "^" + re.escape(pattern).replace("%", ".*").replace("_", ".") + "$"
    return isinstance(value, str) and re.match(regex, value, re.S) is not None


def _ordered(test: Callable[[Any, Any], bool]) -> Callable[[Any, tuple[Any, ...]], bool]:
    def compare(value: Any, values: tuple[Any, ...]) -> bool:
        try:
            return value is not None and test(type(values[0])(value), values[0])
        except (TypeError, ValueError):
            return False

    return compare


_COMPARE: dict[str, Callable[[Any, tuple[Any, ...]], bool]] = {
    "eq": lambda v, vs: _ordered(lambda a, b: a == b)(v, vs),
    "neq": lambda v, vs: not _ordered(lambda a, b: a == b)(v, vs),
    "like": lambda v, vs: _like(v, vs[0]),
    "nlike": lambda v, vs: not _like(v, vs[0]),
    "in": lambda v, vs: any(_ordered(lambda a, b: a == b)(v, (x,)) for x in vs),
    "nin": lambda v, vs: not any(_ordered(lambda a, b: a == b)(v, (x,)) for x in vs),
    "gt": _ordered(lambda a, b: a > b),
    "gte": _ordered(lambda a, b: a >= b),
    "lt": _ordered(lambda a, b: a < b),
    "lte": _ordered(lambda a, b: a <= b),
}


def parse_filter(key: str, raw: str) -> FieldFilter:
    """One filter from its key (without the ``event.``/``meta.`` prefix) and raw value."""
    name, _, kind = key.partition(":")
    kind = kind or "string"
    path, sep, operator = name.rpartition("__")
    if not sep:
        path, operator = name, "eq"
    if not PATH.match(path) or operator not in OPERATORS or kind not in TYPES:
        raise FilterError(f"bad filter name '{key}'")
    if operator in ("like", "nlike") and kind != "string":
        raise FilterError(f"'{operator}' works on strings only: '{key}'")
    parts = raw.split(",") if operator in ("in", "nin") else [raw]
    try:
        values = tuple(TYPES[kind](part) for part in parts)
    except ValueError:
        raise FilterError(f"value '{raw}' of '{key}' is not {kind}") from None
    return FieldFilter(tuple(path.split(".")), operator, values)
