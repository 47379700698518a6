"""Request input: JSON bodies checked against JSON Schemas, query strings against typed parsers.

Both raise :class:`LunaError` with the spec's codes: 12017 bad content type, 12002 no JSON,
12022 "Failed to validate input json. Path: '...', message: '...'", 12012 bad query parameter.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import msgpack
from aiohttp import web
from jsonschema.exceptions import best_match

from api import errors
from api.errors import LunaError, bad_json, bad_query

UUID_RE = "^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$"
_UUID = re.compile(UUID_RE)
_RELATIVE_TIME = re.compile(r"^now-(\d+)([smhdwMy])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}


# Building a validator for a large schema (handler policies: ~100 KB) costs milliseconds; the
# schemas are long-lived module constants, so one validator each is kept, keyed by identity
# (the schema is held too, so its id cannot be reused by another object).
_VALIDATORS: dict[int, tuple[Mapping[str, Any], jsonschema.Draft7Validator]] = {}


def _validator(schema: Mapping[str, Any]) -> jsonschema.Draft7Validator:
    cached = _VALIDATORS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    if len(_VALIDATORS) < 512:  # bounded: schemas built per request (rare) are not kept
        _VALIDATORS[id(schema)] = (schema, validator)
    return validator


def validate(data: Any, schema: Mapping[str, Any]) -> Any:
    """Raise 12022 naming the most relevant failing path, or return ``data``."""
    error = best_match(_validator(schema).iter_errors(data))
    if error is not None:
        path = ".".join(str(part) for part in error.absolute_path)
        raise bad_json(path, error.message)
    return data


async def read_json(request: web.Request, schema: Mapping[str, Any] | None = None) -> Any:
    if request.content_type != "application/json":
        raise LunaError(errors.BAD_CONTENT_TYPE, "Bad content type")
    raw = await request.read()
    if not raw.strip():
        raise LunaError(errors.NO_JSON, "Request does not contain json")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_json("", f"invalid json: {exc}") from None
    return validate(data, schema) if schema is not None else data


def _bytes_to_base64(value: Any) -> Any:
    """msgpack carries binary fields as bytes; validate them as the JSON form's base64 strings."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {key: _bytes_to_base64(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_bytes_to_base64(item) for item in value]
    return value


async def read_json_or_msgpack(request: web.Request, schema: Mapping[str, Any] | None = None) -> Any:
    """A JSON or msgpack body (by Content-Type), validated against the same JSON Schema."""
    if request.content_type != "application/msgpack":
        return await read_json(request, schema)
    raw = await request.read()
    if not raw:
        raise LunaError(errors.NO_JSON, "Request does not contain json")
    try:
        data = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException, TypeError) as exc:
        raise bad_json("", f"invalid msgpack: {exc}") from None
    data = _bytes_to_base64(data)
    return validate(data, schema) if schema is not None else data


# -- query parameters ------------------------------------------------------------------------
Parser = Callable[[str], Any]


def q_int(minimum: int | None = None, maximum: int | None = None) -> Parser:
    def parse(value: str) -> int:
        number = int(value)
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise ValueError(value)
        return number

    return parse


def q_float(minimum: float, maximum: float) -> Parser:
    def parse(value: str) -> float:
        number = float(value)
        if not minimum <= number <= maximum:  # also rejects NaN
            raise ValueError(value)
        return number

    return parse


def q_enum(*allowed: str) -> Parser:
    def parse(value: str) -> str:
        if value not in allowed:
            raise ValueError(value)
        return value

    return parse


def q_uuid(value: str) -> str:
    if not _UUID.match(value):
        raise ValueError(value)
    return value


def q_str(min_length: int = 0, max_length: int = 1 << 20, pattern: str | None = None) -> Parser:
    compiled = re.compile(pattern) if pattern else None

    def parse(value: str) -> str:
        if not min_length <= len(value) <= max_length or (compiled and not compiled.match(value)):
            raise ValueError(value)
        return value

    return parse


def q_time(value: str) -> datetime:
    """RFC 3339 time, or the relative form ``now-<N><unit>``."""
    relative = _RELATIVE_TIME.match(value)
    if relative:
        return datetime.now(UTC) - timedelta(seconds=int(relative[1]) * _UNIT_SECONDS[relative[2]])
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(value)
    return parsed.astimezone(UTC)


def q_list(item: Parser, allowed: Iterable[str] | None = None) -> Parser:
    allowed_set = set(allowed) if allowed is not None else None

    def parse(value: str) -> list[Any]:
        items = [part for part in value.split(",") if part != ""]
        if not items or (allowed_set is not None and not set(items) <= allowed_set):
            raise ValueError(value)
        return [item(part) for part in items]

    return parse


PAGE = q_int(1)
PAGE_SIZE = q_int(1, 1000)
PAGINATION: dict[str, Parser] = {"page": PAGE, "page_size": PAGE_SIZE}


def parse_query(
    request: web.Request, parsers: Mapping[str, Parser], defaults: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Parse every query parameter; unknown or malformed ones answer 12012 naming them."""
    result: dict[str, Any] = dict(defaults or {})
    if not request.query_string:
        return result
    for name in request.query:
        parser = parsers.get(name)
        values = request.query.getall(name)
        if parser is None or len(values) != 1:
            raise bad_query(name)
        try:
            result[name] = parser(values[0])
        except (ValueError, TypeError, KeyError):
            raise bad_query(name) from None
    return result
