"""CORE.md type expressions (``*array of uuid string*``) and constraints (``length <= 36; enum: …``) as JSON
Schema keywords. Part of the ``schema_gen`` dev tool; the mapping rules are listed in ``schema_build``.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import yaml

from api.spec.core_md import CoreMdError, parse_constraints

UUID_PATTERN = "^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$"
BYTES = {"type": "string", "contentEncoding": "base64"}
BASE_TYPES: dict[str, dict[str, Any]] = {
    "uuid string": {"type": "string", "pattern": UUID_PATTERN},
    "string/null": {"type": ["string", "null"]},
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "float": {"type": "number"},
    "boolean": {"type": "boolean"},
    "object": {"type": "object"},
    "bytes": BYTES,
    "any": {},
}
FORMATS: dict[str, dict[str, Any]] = {
    "date-time": {"format": "date-time"},
    "uri-reference": {"format": "uri-reference"},
    "uri": {"format": "uri"},
    "double": {},
    "free-form key/value": {},
    "byte": {"contentEncoding": "base64"},
    "binary": {"contentEncoding": "base64"},
    "base64": {"contentEncoding": "base64"},
}
COMPOSITE_KEYS = ("oneOf", "anyOf", "allOf", "if")
MISSING: Any = object()


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def _range(text: str) -> tuple[Any, Any]:
    if text.startswith(">= "):
        return _number(text[3:]), None
    if text.startswith("<= "):
        return None, _number(text[3:])
    low, high = re.fullmatch(r"(-?[\d.]+?)\.\.(-?[\d.]+)", text).groups()  # type: ignore[union-attr]
    return _number(low), _number(high)


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def coerce(raw: str, schema: dict[str, Any]) -> Any:
    """An enum value quoted in CORE.md, typed like the schema it constrains."""
    types = _types(schema)
    numeric = "integer" in types or "number" in types or not types
    if numeric and re.fullmatch(r"-?\d+(\.\d+)?", raw):
        return _number(raw)
    if "boolean" in types and raw in ("true", "false"):
        return raw == "true"
    return raw


def _load(raw: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return yaml.safe_load("{" + re.sub(r" (?=[\w-]+: )", ", ", raw) + "}")


def parse_default(raw: str, schema: dict[str, Any]) -> Any:
    """A ``default `…``` value: YAML as printed (flattened mappings ``a: 1 b: 2`` included)."""
    value = _load(raw)
    if "string" in _types(schema) and not isinstance(value, str):
        return raw
    return value


def matching_paren(text: str, start: int) -> int:
    depth, in_tick = 0, False
    for index in range(start, len(text)):
        char = text[index]
        if char == "`":
            in_tick = not in_tick
        elif not in_tick and char == "(":
            depth += 1
        elif not in_tick and char == ")":
            depth -= 1
            if depth == 0:
                return index
    raise CoreMdError(f"unbalanced parentheses in {text!r}")


def split_alternatives(text: str) -> list[str]:
    parts, depth, in_tick, last = [], 0, False, 0
    for index, char in enumerate(text):
        if char == "`":
            in_tick = not in_tick
        elif not in_tick and char in "()":
            depth += 1 if char == "(" else -1
        elif not in_tick and depth == 0 and text.startswith(" | ", index):
            parts.append(text[last:index])
            last = index + 3
    return [*parts, text[last:]]


def apply_constraints(schema: dict[str, Any], tokens: list[tuple[str, str]]) -> tuple[bool, Any]:
    """Apply constraint tokens; return the outer schema's (nullable, default) for the caller to apply."""
    target, nullable, default = schema, False, MISSING
    for kind, raw in tokens:
        if kind == "item":
            target = schema["items"]
        elif kind == "nullable":
            if target is schema:
                nullable = True
            else:
                make_nullable(target)
        elif kind in ("length", "items", "properties", "range"):
            low, high = _range(raw)
            suffix = {"length": "Length", "items": "Items", "properties": "Properties"}.get(kind)
            names = (f"min{suffix}", f"max{suffix}") if suffix else ("minimum", "maximum")
            for name, value in zip(names, (low, high), strict=True):
                if value is not None:
                    target[name] = value
        elif kind == "enum":
            target["enum"] = [coerce(value, target) for value in re.findall(r"`([^`]*)`", raw)]
        elif kind == "enums":  # the spec's `enums:` typo (§0.1): the intended enum is enforced
            target["enum"] = json.loads(raw)
        elif kind == "pattern":
            target["pattern"] = raw
        elif kind == "minsic":  # the spec's `min: 0` typo (§0.1): enforced as `minimum`
            target["minimum"] = _number(raw)
        elif kind == "unique":
            target["uniqueItems"] = True
        elif kind == "default":
            if target is schema or (isinstance(_load(raw), list) and "array" in _types(schema)):
                default = parse_default(raw, schema)  # "item: …; default `[…]`" is the array's default
            else:
                target["default"] = parse_default(raw, target)
    return nullable, default


def make_nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if not schema:
        return schema
    if "type" not in schema or any(key in schema for key in COMPOSITE_KEYS):
        inner = dict(schema)
        schema.clear()
        schema["anyOf"] = [{"type": "null"}, inner]
        return schema
    if "null" not in _types(schema):
        schema["type"] = [*_types(schema), "null"]
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"].append(None)
    return schema


def type_schema(text: str) -> tuple[dict[str, Any], dict[str, Any] | None, str]:
    """Schema of a ``*type*`` expression, plus the sub-schema that receives the bullet's children
    (``object``: its fields; ``composite``: its oneOf/anyOf block) and which of the two it is."""
    text = text.strip()
    if text.startswith("(") and matching_paren(text, 0) == len(text) - 1:
        text = text[1:-1]
    for keyword in ("oneOf", "anyOf"):
        if text.startswith(f"{keyword}: "):
            alternatives = split_alternatives(text[len(keyword) + 2 :])
            return {keyword: [type_schema(alt)[0] for alt in alternatives]}, None, ""
        if text in (keyword, f"{keyword} variants"):
            slot: dict[str, Any] = {}
            return slot, slot, "composite"
    if text.startswith("array of "):
        inner, slot_, kind = type_schema(text[len("array of ") :])
        return {"type": "array", "items": inner}, slot_, kind
    text = re.sub(r" `[^`]+`$", "", text)
    base = next((name for name in BASE_TYPES if text == name or text.startswith(f"{name} (")), None)
    if base is None:
        raise CoreMdError(f"unknown type {text!r}")
    schema = copy.deepcopy(BASE_TYPES[base])
    rest = text[len(base) :]
    while rest.strip():
        start = rest.index("(")
        end = matching_paren(rest, start)
        group, rest = rest[start + 1 : end], rest[end + 1 :]
        if group in FORMATS:
            schema.update(FORMATS[group])
        else:
            nullable, _ = apply_constraints(schema, parse_constraints(group)[0])
            if nullable:
                make_nullable(schema)
    return (schema, schema, "object") if schema.get("type") == "object" else (schema, None, "")
