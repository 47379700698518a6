"""Request-body JSON Schemas of the core operations, generated from the spec (see ``schemas/README.md``).

``schema(operation_id, content_type)`` loads ``api/spec/schemas/<operationId>.<json|msgpack>.json`` from the
package (cached; the returned dict is shared, do not mutate it). ``with_defaults(schema, data)`` returns a
copy of an already validated body with the spec's defaults filled in.

Default rule (``with_defaults``): for every object in ``data`` and every property its schema declares,

- a property present in the data is kept and descended into (objects and array items alike);
- a property absent from the data gets a deep copy of its schema ``default`` if it has one, and that value is
  then descended into as well — so an absent nested object whose own default is an object (``{}``,
  ``{min: 0.3, max: 1.0}``) is created and gets the defaults of its fields;
- an absent property without a default stays absent, even if its fields have defaults (``policies`` without
  ``detect_policy`` stays so) — unless ``materialize=True``: then an absent property whose schema is a plain
  object (``type: object``, no ``required``, no variants) is created as ``{}`` and filled recursively;
- ``oneOf``/``anyOf``: the first variant the value is valid against is used; ``if``/``then``: the branch the
  value selects; ``allOf``: every member. Array items never get defaults of their own.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

CONTENT_TYPES = {
    "application/json": "json",
    "application/msgpack": "msgpack",
    "json": "json",
    "msgpack": "msgpack",
}


@cache
def _load(name: str) -> dict[str, Any]:
    try:
        text = resources.files("api.spec").joinpath("schemas", name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyError(f"no generated request-body schema {name}") from None
    return json.loads(text)


def schema(operation_id: str, content_type: str = "json") -> dict[str, Any]:
    """The request-body schema of ``operation_id`` for ``json``/``msgpack`` (or the full MIME type)."""
    suffix = CONTENT_TYPES.get(content_type)
    if suffix is None:
        raise KeyError(f"no request-body schemas for content type {content_type!r}")
    return _load(f"{operation_id}.{suffix}.json")


def with_defaults(schema: dict[str, Any], data: Any, *, materialize: bool = False) -> Any:
    """A deep copy of ``data`` (valid against ``schema``) with the spec's defaults filled in (module doc)."""
    data = copy.deepcopy(data)
    _fill(schema, data, materialize)
    return data


@cache
def _validator(key: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(key))


def _valid(schema: Any, value: Any) -> bool:
    return _validator(json.dumps(schema, sort_keys=True)).is_valid(value)


def _plain_object(schema: dict[str, Any]) -> bool:
    return (
        schema.get("type") == "object"
        and not schema.get("required")
        and not any(key in schema for key in ("oneOf", "anyOf", "allOf", "if"))
    )


def _fill(schema: Any, value: Any, materialize: bool) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name not in value:
                if isinstance(sub, dict) and "default" in sub:
                    value[name] = copy.deepcopy(sub["default"])
                elif materialize and isinstance(sub, dict) and _plain_object(sub):
                    value[name] = {}
                else:
                    continue
            _fill(sub, value[name], materialize)
        for pattern, sub in schema.get("patternProperties", {}).items():
            for name in [name for name in value if re.search(pattern, name)]:
                _fill(sub, value[name], materialize)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _fill(schema["items"], item, materialize)
    for sub in schema.get("allOf", []):
        _fill(sub, value, materialize)
    if "if" in schema:
        branch = schema.get("then") if _valid(schema["if"], value) else schema.get("else")
        _fill(branch, value, materialize)
    for keyword in ("oneOf", "anyOf"):
        for sub in schema.get(keyword, []):
            if _valid(sub, value):
                _fill(sub, value, materialize)
                break
