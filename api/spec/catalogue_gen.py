"""Regenerate ``operations.json`` from the LUNA spec's ``endpoints.json`` (a dev tool).

Keeps only what the server needs at run time: which operations exist, their security
schemes, query parameters and path parameters.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
KEEP = (
    "path",
    "method",
    "operationId",
    "summary",
    "tags",
    "security",
    "query_params",
    "path_params",
    "deprecated",
    "request_body",
    "responses",
)


def generate(source: Path) -> list[dict]:
    operations = json.loads(source.read_text())
    return [{key: op[key] for key in KEEP} for op in operations]


def main() -> None:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/spec/endpoints.json")
    out = HERE / "operations.json"
    out.write_text(json.dumps(generate(source), indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
