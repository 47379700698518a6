"""The spec's operation catalogue: every path and method LUNA v6 defines.

Loaded from Argus's own copy (``api/spec/operations.json``). The route table registers all
of them, so an operation Argus has not built answers 501 instead of 404.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

UUID_RE = "[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}"
# Path parameters whose values are not UUIDs. Anything else named in a path is a UUID:
# a malformed one does not match the route and answers 404 (12013), as LUNA does.
PATH_PARAM_PATTERNS = {
    "samples_type": "faces|bodies",
    "task_id": "[0-9]+",
    "error_id": "[0-9]+",
}


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    operation_id: str | None
    summary: str
    tag: str
    security: tuple[str, ...]
    query_params: frozenset[str]
    deprecated: bool

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path


def route_pattern(path: str) -> str:
    """aiohttp pattern for a spec path, with a regex for each path parameter."""
    parts = []
    for segment in path.split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            name = segment[1:-1]
            parts.append(f"{{{name}:{PATH_PARAM_PATTERNS.get(name, UUID_RE)}}}")
        else:
            parts.append(segment)
    return "/".join(parts)


@cache
def operations() -> tuple[Operation, ...]:
    raw = json.loads((Path(__file__).parent / "spec" / "operations.json").read_text())
    return tuple(
        Operation(
            path=op["path"],
            method=op["method"],
            operation_id=op["operationId"],
            summary=op["summary"] or "",
            tag=op["tags"][0],
            security=tuple(op["security"] or ()),
            query_params=frozenset(op["query_params"]),
            deprecated=bool(op["deprecated"]),
        )
        for op in raw
    )


def paths() -> dict[str, list[Operation]]:
    """Operations grouped by path, static paths first so they win over `{param}` ones."""
    grouped: dict[str, list[Operation]] = {}
    for op in operations():
        grouped.setdefault(op.path, []).append(op)
    return dict(sorted(grouped.items(), key=lambda item: ("{" in item[0], item[0])))
