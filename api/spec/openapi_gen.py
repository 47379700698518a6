"""Generate the OpenAPI document Argus serves (``openapi.yaml``, ``openapi.html``, ``manual.md``).

Run ``python -m api.spec.openapi_gen`` after changing the route table or README; a test
fails while the checked-in files differ from what this would write.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import yaml

from api import __version__
from api.catalogue import paths
from api.routes import IMPLEMENTED, SECURITY_OVERRIDES

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error_code", "desc", "detail", "link"],
    "properties": {
        "error_code": {"type": "integer"},
        "desc": {"type": "string"},
        "detail": {"type": "string"},
        "link": {"type": "string"},
    },
}
SECURITY_SCHEMES = {
    "BasicAuth": {"type": "http", "scheme": "basic"},
    "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "LunaAccountIdAuth": {
        "type": "apiKey",
        "in": "header",
        "name": "Luna-Account-Id",
        "description": "Deprecated; switch off with auth.luna_account_id_auth = false.",
    },
}
ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def _responses(raw: dict[str, str], implemented: bool) -> dict[str, Any]:
    if not implemented:
        return {"501": {"description": "Not implemented in this Argus version.", "content": ERROR_REF}}
    result: dict[str, Any] = {}
    for code, schema in raw.items():
        entry: dict[str, Any] = {"description": schema}
        if schema.startswith("Error"):
            entry["content"] = ERROR_REF
        result[code] = entry
    return result


def build() -> dict[str, Any]:
    raw_ops = {(op["method"], op["path"]): op for op in json.loads((HERE / "operations.json").read_text())}
    doc_paths: dict[str, Any] = {}
    for path, ops in paths().items():
        item: dict[str, Any] = {}
        for op in ops:
            implemented = op.method == "OPTIONS" or op.key in IMPLEMENTED
            security = SECURITY_OVERRIDES.get(op.key, op.security)
            entry: dict[str, Any] = {
                "summary": op.summary,
                "tags": [op.tag],
                "x-argus-implemented": implemented,
                "responses": _responses(raw_ops[op.key]["responses"], implemented),
            }
            if op.operation_id:
                entry["operationId"] = op.operation_id
            if security:
                entry["security"] = [{name: []} for name in security]
            item[op.method.lower()] = entry
        doc_paths[path] = item
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Argus (LUNA PLATFORM 5 API v6 compatible)",
            "version": __version__,
            "description": "Operations marked x-argus-implemented: false answer 501.",
        },
        "paths": doc_paths,
        "components": {"schemas": {"Error": ERROR_SCHEMA}, "securitySchemes": SECURITY_SCHEMES},
    }


def render_html(doc: dict[str, Any]) -> str:
    rows = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            state = "implemented" if op["x-argus-implemented"] else "501 not implemented"
            rows.append(
                f"<tr><td>{method.upper()}</td><td>{html.escape(path)}</td>"
                f"<td>{html.escape(op['summary'])}</td><td>{state}</td></tr>"
            )
    return (
        "<!doctype html><meta charset=utf-8><title>Argus API</title>"
        f"<h1>{html.escape(doc['info']['title'])} {doc['info']['version']}</h1>"
        "<table><tr><th>method</th><th>path</th><th>summary</th><th>state</th></tr>"
        + "\n".join(rows)
        + "</table>\n"
    )


def outputs() -> dict[str, str]:
    doc = build()
    return {
        "openapi.yaml": yaml.safe_dump(doc, sort_keys=False, allow_unicode=True),
        "openapi.html": render_html(doc),
        "manual.md": (ROOT / "README.md").read_text(encoding="utf-8"),
    }


def main() -> None:
    for name, text in outputs().items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
