"""Generate ``api/spec/schemas/*.json`` — JSON Schemas of the core request bodies — from CORE.md (a dev tool).

Run ``python -m api.spec.schema_gen /path/to/CORE.md [/path/to/luna-api-v6.39.0.txt]``. The raw spec
(found next to CORE.md by default) is read only for its ``discriminator`` mappings. One file is written per
operation and JSON-like content type: ``<operationId>.json.json`` (``application/json``) and
``<operationId>.msgpack.json`` (``application/msgpack``); image, multipart and other bodies are listed as
skipped. The checked-in files must be regenerated, never edited; a test fails while they differ from what this
writes.

CORE.md is a digest of the spec; where it is known to lose or misplace something, the tables below restore
what the spec says (each entry cites the spec line) and ``ERRATA`` lists them for the README.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.spec.core_md import CoreDoc, CoreMdError
from api.spec.schema_build import Builder

HERE = Path(__file__).parent
OUT = HERE / "schemas"
CONTENT_TYPES = {"application/json": "json", "application/msgpack": "msgpack"}
DRAFT7 = "http://json-schema.org/draft-07/schema#"

# Keywords added to the schema of a named component wherever CORE.md uses it (`→ name` in the annotation).
REF_PATCHES: dict[str, dict[str, Any]] = {
    # The spec's own 400 examples (error 12027, CORE.md §5 and §14): "Path: 'policies.match_policy', message:
    # 'ensure this value has at most 30 items'"; the schema (L6341) only says minItems 0.
    "match_policy_for_request": {"maxItems": 30},
}
# What CORE.md omits from a variant (by variant schema name): `fields` to add, names to make `required`.
# `event_sources_base` (L17645) gives both stream-event body variants `use_exif_info` (L17650 -> L17553:
# integer, enum [0, 1], default 1), and every stream-event source requires `source` and `source_type`
# (`required: [ source, source_type ]`, L17754/L17766); CORE.md's expansion drops both.
_USE_EXIF_INFO = {"type": "integer", "enum": [0, 1], "default": 1}
_SOURCE_REQUIRED = {"required": ["source_type", "source"]}
VARIANT_PATCHES: dict[str, dict[str, Any]] = {
    "non_aggregated_event_sources": {"fields": {"use_exif_info": _USE_EXIF_INFO}},
    "aggregated_event_sources": {"fields": {"use_exif_info": _USE_EXIF_INFO}},
    "event_source_raw_image_non_aggregated": _SOURCE_REQUIRED,
    "event_source_detections_non_aggregated": _SOURCE_REQUIRED,
    "event_source_raw_image_aggregated": _SOURCE_REQUIRED,
    "event_source_detections_aggregated": _SOURCE_REQUIRED,
}
# "(fields of X)" resolves to X's first expansion, which CORE.md sometimes printed merged with the context it
# appeared in. Corrections applied wherever such a reference is resolved: fields to `drop`, `required`.
FIELDS_OF_PATCHES: dict[str, dict[str, Any]] = {
    # first printed as `masks_estimation` (L5585, also requires face_occlusion); itself L5581 requires two
    "base_masks_estimation": {"required": ["estimations", "predominant_mask"]},
    # first printed inside `face_detection` (L9672), which adds `face_quality` (L9680) to its attributes
    "base_attributes": {"drop": ["face_quality"]},
}
# JSON-pointer edits of one operation's generated schema: (pointer, value).
OP_PATCHES: dict[str, list[tuple[str, Any]]] = {
    # `target` (L3282) requires `aggregator` although it has `default: count`, and the operation's own curl
    # example (L37770) sends targets without it: optional, as the default implies.
    "getEventStats": [("/properties/targets/items/required", ["column"])],
}
ERRATA = (
    "policies.match_policy: maxItems 30 (from the 12027 example; the schema has none)",
    "generateStreamEvents: use_exif_info added to both body variants (event_sources_base L17645) and "
    "`source` made required in every source variant (L17754, L17766); CORE.md drops both",
    "discriminators: per-variant constants from the spec's `discriminator.mapping` blocks (e.g. source_type "
    "L17775/L17784, which CORE.md prints with both values), the discriminator property made required",
    "`fields of base_masks_estimation`: required [estimations, predominant_mask] (L5581); `fields of "
    "base_attributes`: no `face_quality` (CORE.md's first expansion is merged with face_detection, L9672)",
    "getEventStats: `targets[].aggregator` optional (it has a default; the operation's example omits it)",
    "`enums:` typo (L5966) enforced as enum; `min: 0` typo (L7279) enforced as minimum",
    "`X-Luna-Meta-*` property (L17612) -> patternProperties; other keys allowed (the spec: they are ignored)",
)


def discriminator_mappings(spec_text: str) -> dict[str, tuple[str, str]]:
    """Variant schema name -> (discriminator property, mapping key) from the raw spec's mapping blocks."""
    found: dict[str, set[tuple[str, str]]] = {}
    lines = [line.strip() for line in spec_text.split("\n")]
    for index, line in enumerate(lines[:-2]):
        prop = re.fullmatch(r"propertyName: ['\"]?([\w-]+)['\"]?", lines[index + 1])
        if line != "discriminator:" or not prop or lines[index + 2] != "mapping:":
            continue
        for entry in lines[index + 3 :]:
            mapped = re.fullmatch(r"['\"]?([\w-]+)['\"]?: ['\"]#/components/schemas/(\w+)['\"]", entry)
            if not mapped:
                break
            found.setdefault(mapped[2], set()).add((prop[1], mapped[1]))
    return {name: next(iter(pairs)) for name, pairs in found.items() if len(pairs) == 1}


@dataclass
class Result:
    files: dict[str, str] = field(default_factory=dict)  # file name -> text
    skipped: dict[str, list[str]] = field(default_factory=dict)  # operationId -> content types
    failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def generate(core_text: str, spec_text: str) -> Result:
    doc = CoreDoc(core_text)
    builder = Builder(doc, discriminator_mappings(spec_text), REF_PATCHES, VARIANT_PATCHES, FIELDS_OF_PATCHES)
    result = Result()
    for op in doc.operations:
        label = f"{op.method} {op.path} ({op.operation_id})"
        for content_type, node in op.bodies.items():
            suffix = CONTENT_TYPES.get(content_type)
            if suffix is None:
                result.skipped.setdefault(op.operation_id, []).append(content_type)
                continue
            try:
                schema = builder.request_body(node)
            except (CoreMdError, KeyError, ValueError) as exc:
                result.failed.append(f"{label} {content_type}: {exc}")
                continue
            for pointer, value in OP_PATCHES.get(op.operation_id, []):
                *parents, last = pointer.strip("/").split("/")
                holder = schema
                for key in parents:
                    holder = holder[key]
                holder[last] = value
            document = {
                "$schema": DRAFT7,
                "$comment": (
                    f"{op.method} {op.path} {content_type} request body, generated by api.spec.schema_gen "
                    f"from CORE.md line {node.line}; regenerate, do not edit."
                ),
                **schema,
            }
            text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
            result.files[f"{op.operation_id}.{suffix}.json"] = text
    result.warnings = builder.warnings
    return result


README = """# Request-body JSON Schemas (generated)

One JSON Schema (draft 7) per core operation and content type: `<operationId>.json.json` for
`application/json`, `<operationId>.msgpack.json` for `application/msgpack` (msgpack bytes are converted to
base64 strings before validation, so binary fields are base64 strings here too). Load them with
`api.spec.schemas.schema(operation_id, "json" | "msgpack")`; fill spec defaults with `with_defaults`.

**Generated — do not edit.** Regenerate with

    python -m api.spec.schema_gen ../shared/spec/CORE.md

(the raw spec `luna-api-v6.39.0.txt` next to CORE.md supplies the discriminator mappings).
`tests/api/spec/test_schema_gen.py` fails while these files differ from what the generator writes.

Mapping rules are documented in `api/spec/schema_build.py`. Deviations from CORE.md (errata, see
`api/spec/schema_gen.py`):

{errata}

Bodies that are not JSON/msgpack are not described here (images, descriptors, multipart forms):

{skipped}
"""


def main(argv: list[str]) -> int:
    core = Path(argv[1] if len(argv) > 1 else "../shared/spec/CORE.md")
    spec = Path(argv[2]) if len(argv) > 2 else next(iter(sorted(core.parent.glob("luna-api-v*.txt"))), None)
    if spec is None:
        print("the raw spec (luna-api-v*.txt) was not found next to CORE.md; pass it as 2nd argument")
        return 2
    result = generate(core.read_text(), spec.read_text())
    OUT.mkdir(exist_ok=True)
    for stale in OUT.glob("*.json"):
        if stale.name not in result.files:
            stale.unlink()
    for name, text in result.files.items():
        (OUT / name).write_text(text)
    (OUT / "README.md").write_text(readme(result))
    print(f"wrote {len(result.files)} schemas to {OUT}")
    for line in result.failed:
        print(f"FAILED {line}")
    for line in result.warnings:
        print(f"warning {line}")
    return 1 if result.failed else 0


def readme(result: Result) -> str:
    skipped = "\n".join(
        f"- `{op}`: " + ", ".join(f"`{ct}`" for ct in types) for op, types in sorted(result.skipped.items())
    )
    failed = "\n".join(f"- {line}" for line in result.failed)
    errata = "\n".join(f"- {line}" for line in ERRATA)
    return README.format(errata=errata, skipped=skipped or "- nothing") + (
        f"\nThe generator could not handle:\n\n{failed}\n" if failed else ""
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv))
