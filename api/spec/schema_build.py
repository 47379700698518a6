"""Turn CORE.md field trees (see ``core_md``) into JSON Schema (draft 7) fragments. A dev tool.

Mapping rules (also listed in ``schemas/README.md``):

- objects: ``type: object`` + ``properties`` + ``required`` + ``additionalProperties: false`` unless the
  tree says "*(additional properties allowed)*" or has a ``<… additional fields>`` *any* line; free-form
  objects get no property constraints; a wildcard name (``X-Luna-Meta-*``) becomes ``patternProperties``;
- ``nullable`` adds ``"null"`` to ``type`` (and to ``enum``); composite schemas become ``anyOf [null, …]``;
- ``uuid string`` -> string with the UUID pattern; ``string (date-time)`` -> ``format: date-time``;
  ``bytes`` / ``string (byte|binary|base64)`` -> string with ``contentEncoding: base64`` (msgpack bytes are
  converted to base64 before validation); ``float`` / ``number (double)`` -> number;
- ``oneOf`` / ``anyOf`` variants: when every variant is an object and a property (or a property of a
  required object property) fixes a distinct constant per variant — a declared discriminator, with the spec's
  mapping, or a single-valued ``enum`` — the composite becomes ``if``/``then`` branches selected by that
  constant, so only the selected variant reports errors; otherwise fields shared identically by all variants
  are validated once outside the ``oneOf``/``anyOf`` (equivalent forms with more precise errors, see
  ``schema_variants``).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from api.spec.core_md import CoreDoc, CoreMdError, Item, Node, parse_item, parse_schema_line
from api.spec.schema_types import (
    COMPOSITE_KEYS,
    MISSING,
    apply_constraints,
    coerce,
    make_nullable,
    type_schema,
)
from api.spec.schema_variants import factor, if_then


@dataclass
class Body:
    """What the children of an object bullet say about it."""

    props: dict[str, dict[str, Any]] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)
    additional: bool = False
    patterns: dict[str, dict[str, Any]] = field(default_factory=dict)
    composite: dict[str, Any] | None = None
    declared: list[str] = field(default_factory=list)

    def merge(self, other: Body) -> None:
        self.props.update(other.props)
        self.required += [name for name in other.required if name not in self.required]
        self.additional = self.additional or other.additional
        self.patterns.update(other.patterns)
        self.composite = other.composite if other.composite is not None else self.composite
        self.declared += other.declared

    def schema(self) -> dict[str, Any]:
        if self.composite is not None:
            if self.props:
                raise CoreMdError("an object with both fields and variants")
            return self.composite
        schema: dict[str, Any] = {"type": "object"}
        if self.props:
            schema["properties"] = self.props
        if self.patterns:
            schema["patternProperties"] = self.patterns
        required = self.required + [name for name in self.declared if name not in self.props]
        if required:
            schema["required"] = required
        if not self.additional:
            schema["additionalProperties"] = False
        return schema


class Builder:
    """Builds schemas from one parsed CoreDoc, with errata supplied by ``schema_gen``."""

    def __init__(
        self,
        doc: CoreDoc,
        mappings: dict[str, tuple[str, str]],
        ref_patches: dict[str, dict[str, Any]],
        variant_patches: dict[str, dict[str, Any]],
        fields_of_patches: dict[str, dict[str, Any]],
    ) -> None:
        self.doc = doc
        self.mappings = mappings  # variant schema name -> (discriminator property, raw value)
        self.ref_patches = ref_patches  # component name -> keywords to add to its schema
        self.variant_patches = variant_patches  # variant name -> {"fields": {...}, "required": [...]}
        self.fields_of_patches = fields_of_patches  # name -> {"drop": [...], "required": [...]}
        self.warnings: list[str] = []
        self._expanding: list[int] = []

    def request_body(self, node: Node) -> dict[str, Any]:
        return self.build(node, parse_schema_line(node.text))

    def build(self, node: Node, item: Item, common: Body | None = None) -> dict[str, Any]:
        schema, slot, kind = type_schema(item.type)
        children = [child for child in node.children if parse_item(child.text).kind != "items"]
        if kind:
            body = self.body(children, item)
            if common is not None:
                merged = copy.deepcopy(common)
                merged.merge(body)
                body = merged
            patch = self.variant_patches.get(item.name, {}) if item.kind == "variant" else {}
            for name, extra in patch.get("fields", {}).items():
                body.props.setdefault(name, copy.deepcopy(extra))
            body.required += [name for name in patch.get("required", []) if name not in body.required]
            if kind == "composite" and body.composite is None:
                raise CoreMdError(f"L{node.line}: {item.type} without variants")
            if kind == "object" and not children and item.type == "object":
                self.warnings.append(f"L{node.line}: object `{item.name}` has no listed fields")
            assert slot is not None
            slot.update(body.schema())
        elif any(parse_item(child.text).kind != "variants_of" for child in children):
            raise CoreMdError(f"L{node.line}: unexpected children under *{item.type}*")
        nullable, default = apply_constraints(schema, item.constraints)
        schema.update(copy.deepcopy(self.ref_patches.get(item.ref, {})))
        if nullable:
            make_nullable(schema)
        if default is not MISSING:
            schema["default"] = default
        return schema

    def _resolve(self, item: Item, parent: Item | None, line: int) -> Node:
        for candidate in (item.name, parent.ref if parent else ""):
            node = self.doc.registry.get(candidate)
            if node is not None and node.line not in self._expanding:
                if node.op != item.where:
                    self.warnings.append(f"L{line}: `{item.name}` found in {node.op}, not in {item.where}")
                return node
        raise CoreMdError(f"L{line}: cannot resolve `{item.name}`")

    def body(self, children: list[Node], parent: Item | None = None) -> Body:
        body = Body()
        for child in children:
            item = parse_item(child.text)
            if item.kind == "field" and item.name.startswith("<") and item.type == "any":
                body.additional = True
            elif item.kind == "field" and "*" in item.name:
                pattern = "^" + ".*".join(re.escape(part) for part in item.name.split("*"))
                body.patterns[pattern] = self.build(child, item)
                body.additional = True  # "All keys which don't match the pattern will be ignored"
            elif item.kind == "field":
                body.props[item.name] = self.build(child, item)
                if item.required:
                    body.required.append(item.name)
            elif item.kind in ("fields_of", "variants_of"):
                target = self._resolve(item, parent, child.line)
                self._expanding.append(target.line)
                try:
                    if item.kind == "fields_of":
                        body.merge(self.fields_of(item.name, target))
                        body.required += [name for name in item.extra if name not in body.required]
                    elif target.children:
                        body.composite = self.body(target.children, parse_target(target)).composite
                    else:
                        body.composite = type_schema(parse_target(target).type)[0]
                finally:
                    self._expanding.pop()
            elif item.kind == "additional":
                body.additional = True
            elif item.kind == "composite":
                body.composite = self.composite(child, item)
            elif item.kind == "declared":
                body.declared += item.extra
            else:
                raise CoreMdError(f"L{child.line}: unexpected {item.kind} line")
        return body

    def fields_of(self, name: str, target: Node) -> Body:
        body = self.body(target.children, parse_target(target))
        patch = self.fields_of_patches.get(name, {})
        for dropped in patch.get("drop", []):
            body.props.pop(dropped, None)
        body.required = patch.get("required", [n for n in body.required if n in body.props])
        return body

    def composite(self, block: Node, item: Item) -> dict[str, Any]:
        common: Body | None = None
        names, schemas = [], []
        for child in block.children:
            sub = parse_item(child.text)
            if sub.kind == "common":
                common = self.body(child.children)
            elif sub.kind == "variant":
                names.append(sub.name)
                schemas.append(self.build(child, sub, common if sub.type == "object" else None))
            else:
                raise CoreMdError(f"L{child.line}: unexpected {sub.kind} line in a variant list")
        plain = all(
            schema.get("type") == "object" and not any(key in schema for key in COMPOSITE_KEYS)
            for schema in schemas
        )
        if plain and len(schemas) > 1:
            found = self.discriminator(item.discriminator, names, schemas)
            if found:
                return if_then(*found, schemas)
            factored = factor(item.keyword, schemas)
            if factored:
                return factored
        if item.discriminator:
            self.warnings.append(f"L{block.line}: discriminator `{item.discriminator}` not encoded")
        return {item.keyword: schemas}

    def discriminator(self, declared: str, names: list[str], schemas: list[dict[str, Any]]) -> Any:
        first = schemas[0].get("properties", {})
        paths = [[declared]] if declared else [[key] for key in first]
        if not declared:
            paths += [[key, sub] for key in first for sub in first[key].get("properties", {})]
        for path in paths:
            pairs = zip(names, schemas, strict=True)
            values = [self._constants(name, schema, path) for name, schema in pairs]
            flat = [json.dumps(value) for group in values if group is not MISSING for value in group]
            if MISSING not in values and len(set(flat)) == len(flat):
                return path, values
        return None

    def _constants(self, name: str, schema: dict[str, Any], path: list[str]) -> Any:
        """The values of ``path`` that select this variant (a disjoint ``enum`` or the spec's mapping)."""
        mapped = self.mappings.get(name)
        prop = schema.get("properties", {}).get(path[0])
        if len(path) == 1 and mapped and mapped[0] == path[0] and prop is not None:
            return [coerce(mapped[1], prop)]
        for key in path:
            if key not in schema.get("properties", {}) or key not in schema.get("required", []):
                return MISSING
            schema = schema["properties"][key]
            if key != path[-1] and schema.get("type") != "object":
                return MISSING
        enum = schema.get("enum", [])
        return enum if enum and None not in enum else MISSING


def parse_target(node: Node) -> Item:
    return parse_schema_line(node.text) if node.text.startswith("Schema: ") else parse_item(node.text)
