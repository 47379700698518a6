"""Shape ``oneOf``/``anyOf`` variants so that jsonschema's ``best_match`` names the field really at fault.

Both forms accept exactly what the plain ``oneOf``/``anyOf`` accepts:

- ``if_then``: the variants are objects told apart by constants (``aggregate_attributes: 0|1``,
  ``source_type``, a reference ``type``, ``candidates.origin``…). The outer schema requires the discriminator
  and checks it against all constants; one ``if``/``then`` branch per variant applies that variant, so errors
  come only from the variant the body chose.
- ``factor``: no discriminator, but some fields are identical in every variant. They are validated once in the
  outer schema (with ``additionalProperties: false`` over the union of all fields when every variant is
  strict); the reduced variants only check their own fields.
"""

from __future__ import annotations

from typing import Any


def if_then(path: list[str], values: list[list[Any]], schemas: list[dict[str, Any]]) -> dict[str, Any]:
    """``values[i]``: the discriminator values (at ``path``) that select ``schemas[i]``; pairwise disjoint."""

    def nest(leaf: dict[str, Any], keys: list[str]) -> dict[str, Any]:
        for key in reversed(keys):
            leaf = {"properties": {key: leaf}}
        return leaf

    branches = []
    for schema, selecting in zip(schemas, values, strict=True):
        holder = schema
        for key in path:
            if key not in holder.setdefault("required", []):
                holder["required"].append(key)
            holder = holder["properties"][key]
        holder["enum"] = list(selecting)
        condition = {"const": selecting[0]} if len(selecting) == 1 else {"enum": list(selecting)}
        branches.append({"if": nest(condition, path), "then": schema})
    leaf: dict[str, Any] = {"enum": [value for selecting in values for value in selecting]}
    for key in reversed(path[1:]):
        leaf = {"type": "object", "required": [key], "properties": {key: leaf}}
    return {"type": "object", "required": [path[0]], "properties": {path[0]: leaf}, "allOf": branches}


def factor(keyword: str, schemas: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Validate fields shared identically by all object variants once, outside ``keyword``."""
    if any("patternProperties" in schema for schema in schemas):
        return None
    first, required = schemas[0].get("properties", {}), schemas[0].get("required", [])
    common = [
        key
        for key, prop in first.items()
        if all(
            schema.get("properties", {}).get(key) == prop
            and (key in schema.get("required", [])) == (key in required)
            for schema in schemas
        )
    ]
    if not common:
        return None
    union: dict[str, Any] = {}
    for schema in schemas:
        for key in schema.get("properties", {}):
            union.setdefault(key, first[key] if key in common else {})
    outer: dict[str, Any] = {"type": "object", "properties": union}
    if [key for key in common if key in required]:
        outer["required"] = [key for key in common if key in required]
    strict = all(schema.get("additionalProperties") is False for schema in schemas)
    if strict:
        outer["additionalProperties"] = False
    reduced = []
    for schema in schemas:
        props = {key: ({} if key in common else prop) for key, prop in schema.get("properties", {}).items()}
        variant: dict[str, Any] = {"properties": props}
        own = [key for key in schema.get("required", []) if key not in common]
        if own:
            variant["required"] = own
        if schema.get("additionalProperties") is False:
            variant["additionalProperties"] = False
        reduced.append(variant)
    outer[keyword] = reduced
    return outer
