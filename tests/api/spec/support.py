"""Shared by the request-schema tests: spec paths, error helpers, the spec's request examples.

The raw spec lost its indentation, but JSON-like example values survive: the curl samples' ``--data '…'``
bodies and the ``requestBody`` ``examples`` written in flow style (``value: {…}``). Python samples are not
used: many of them post a payload to another resource first (a list, a handler) before calling the operation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from jsonschema.exceptions import best_match

from api.spec.schemas import schema

ROOT = Path(__file__).resolve().parents[3]
SPEC_DIR = ROOT.parent / "shared" / "spec"
CORE_MD = SPEC_DIR / "CORE.md"
SPEC_TXT = SPEC_DIR / "luna-api-v6.39.0.txt"
SCHEMAS = ROOT / "api" / "spec" / "schemas"
SPEC_MISSING = f"{CORE_MD} / {SPEC_TXT.name} not found: the spec is checked out next to the repo in CI"
needs_spec = pytest.mark.skipif(not (CORE_MD.exists() and SPEC_TXT.exists()), reason=SPEC_MISSING)
UUID = "8950722f-3fd4-4223-b48f-03f95f0e8dfb"
# fmt: off
GENERATED = {
    "createAccount.json", "createAttributes.json", "createAttributes.msgpack", "createFace.json",
    "createFace.msgpack", "createHandler.json", "createList.json", "createStream.json", "createToken.json",
    "deleteFaces.json", "deleteLists.json", "deleteStreams.json", "detectFaces.json",
    "extractAttributes.json", "generateEvents.json", "generateStreamEvents.msgpack", "getEventStats.json",
    "linkFaces.json", "matchBodies.json", "matchBodies.msgpack", "matchFaces.json", "matchFaces.msgpack",
    "matchingRaw.json", "matchingRaw.msgpack", "patchAccount.json", "patchFace.json", "patchList.json",
    "putFaceAttributes.json", "putFaceAttributes.msgpack", "putHandler.json", "putStream.json",
    "putToken.json", "saveEvent.json", "validatePolicies.json",
}
# fmt: on


def error(body: Any, operation_id: str, content_type: str = "json") -> jsonschema.ValidationError | None:
    """What ``api.validation.validate`` would report: jsonschema's ``best_match``."""
    validator = jsonschema.Draft7Validator(schema(operation_id, content_type))
    return best_match(validator.iter_errors(body))


def assert_error(
    body: Any, operation_id: str, path: list[Any], keyword: str, content_type: str = "json"
) -> jsonschema.ValidationError:
    found = error(body, operation_id, content_type)
    assert found is not None, "body unexpectedly valid"
    assert (list(found.absolute_path), found.validator) == (path, keyword), found.message[:300]
    return found


@dataclass
class Example:
    operation_id: str
    kind: str  # "curl" | "example"
    line: int  # 1-based line in the spec
    value: Any


def _balanced(lines: list[str], start: int, first: str) -> tuple[str, int]:
    """Text from ``first`` (the tail of ``lines[start]``) on, up to the line where brackets balance."""
    depth, chunks = 0, []
    for index in range(start, len(lines)):
        chunk = first if index == start else lines[index]
        chunks.append(chunk)
        quote = None
        for char in chunk:
            if quote:
                quote = None if char == quote else quote
            elif char in "\"'":
                quote = char
            elif char in "{[":
                depth += 1
            elif char in "}]":
                depth -= 1
        if depth <= 0:
            return "\n".join(chunks), index
    raise ValueError(f"unbalanced example at line {start + 1}")


def examples(spec_lines: list[str], operation_id: str) -> list[Example]:
    start = next(i for i, line in enumerate(spec_lines) if line.strip() == f"operationId: {operation_id}")
    end = next(i for i in range(start, len(spec_lines)) if spec_lines[i].strip() == "responses:")
    found: list[Example] = []
    index, in_body = start, False
    while index < end:
        line = spec_lines[index]
        in_body = in_body or line.strip() == "requestBody:"
        if curl := re.match(r"^--data '(.*)$", line):
            text, last = _balanced(spec_lines, index, curl[1])
            found.append(Example(operation_id, "curl", index + 1, json.loads(text.rstrip().rstrip("'"))))
            index = last
        elif in_body and (value := re.match(r"^value: ?(.*)$", line)):
            first, at = (value[1], index) if value[1] else (spec_lines[index + 1], index + 1)
            if first.strip()[:1] in ("{", "["):
                text, index = _balanced(spec_lines, at, first)
                found.append(Example(operation_id, "example", at + 1, yaml.safe_load(text)))
        index += 1
    return found
