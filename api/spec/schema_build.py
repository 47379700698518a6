"""Turn CORE.md field trees (see ``core_md``) into JSON Schema (draft 7) fragments. A dev tool.

Mapping rules (also listed in ``schemas/README.md``):

- objects: ``type: object`` + ``properties`` + ``required`` + ``additionalProperties: false`` unless the tree says
  "*(additional properties allowed)*" or has a ``<… additional fields>`` *any* line; free-form objects get no
  property constraints; a wildcard name (``X-Luna-Meta-*``) becomes a ``patternProperties`` entry;
- ``nullable`` adds ``"null"`` to ``type`` (and to ``enum``); composite schemas are wrapped in ``anyOf [null, …]``;
- ``uuid string`` -> string with the UUID pattern; ``string (date-time)`` -> ``format: date-time``;
  ``bytes`` / ``string (byte|binary|base64)`` -> string with ``contentEncoding: base64`` (msgpack bytes are
  converted to base64 before validation); ``float`` / ``number (double)`` -> number;
- ``oneOf`` / ``anyOf`` variants: when every variant is an object and a property (or a property of a required
  object property) fixes a distinct constant per variant — a declared discriminator, with the spec's mapping, or
  a single-valued ``enum`` — the composite becomes ``if``/``then`` branches selected by that constant, so only the
  selected variant reports errors; otherwise fields shared identically by all variants are validated once
  outside the ``oneOf``/``anyOf`` (an equivalent form with more precise errors).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from api.spec.core_md import CoreDoc, CoreMdError, Item, Node, parse_constraints, parse_item, parse_schema_line

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
    if "integer" in types or "number" in types or not types:
        if re.fullmatch(r"-?\d+(\.\d+)?", raw):
            return _number(raw)
    if "boolean" in types and raw in ("true", "false"):
        return raw == "true"
    return raw


def parse_default(raw: str, schema: dict[str, Any]) -> Any:
    """A ``default `…``` value: YAML as printed (flattened mappings ``a: 1 b: 2`` included)."""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = yaml.safe_load("{" + re.sub(r" (?=[\w-]+: )", ", ", raw) + "}")
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
    """Apply constraint tokens; return (nullable, default) for the outer schema, applied last by the caller."""
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
            value = parse_default(raw, target)
            if target is schema or (isinstance(value, list) and "array" in _types(schema)):
                default = value
            else:
                target["default"] = value
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
            return {keyword: [type_schema(alt)[0] for alt in split_alternatives(text[len(keyword) + 2 :])]}, None, ""
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
            nullable, default = apply_constraints(schema, parse_constraints(group)[0])
            if nullable:
                make_nullable(schema)
    return (schema, schema, "object") if schema.get("type") == "object" else (schema, None, "")


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
        variant_fields: dict[str, dict[str, dict[str, Any]]],
    ) -> None:
        self.doc = doc
        self.mappings = mappings  # variant schema name -> (discriminator property, raw value)
        self.ref_patches = ref_patches  # component name -> keywords to add to its schema
        self.variant_fields = variant_fields  # variant name -> fields CORE.md omitted
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
            for name, extra in self.variant_fields.get(item.name if item.kind == "variant" else "", {}).items():
                body.props.setdefault(name, copy.deepcopy(extra))
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

    def _resolve(self, name: str, parent: Item | None, line: int) -> Node:
        for candidate in (name, parent.ref if parent else ""):
            node = self.doc.registry.get(candidate)
            if node is not None and node.line not in self._expanding:
                return node
        raise CoreMdError(f"L{line}: cannot resolve `{name}`")

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
                target = self._resolve(item.name, parent, child.line)
                self._expanding.append(target.line)
                try:
                    if item.kind == "fields_of":
                        body.merge(self.body(target.children, parse_target(target)))
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
            values = [self._constant(name, schema, path) for name, schema in zip(names, schemas, strict=True)]
            if MISSING not in values and len({json.dumps(value) for value in values}) == len(values):
                return path, values
        return None

    def _constant(self, name: str, schema: dict[str, Any], path: list[str]) -> Any:
        mapped = self.mappings.get(name)
        prop = schema.get("properties", {}).get(path[0])
        if len(path) == 1 and mapped and mapped[0] == path[0] and prop is not None:
            return coerce(mapped[1], prop)
        for key in path:
            if key not in schema.get("properties", {}) or key not in schema.get("required", []):
                return MISSING
            schema = schema["properties"][key]
            if key != path[-1] and schema.get("type") != "object":
                return MISSING
        enum = schema.get("enum", [])
        return enum[0] if len(enum) == 1 else MISSING


def parse_target(node: Node) -> Item:
    return parse_schema_line(node.text) if node.text.startswith("Schema: ") else parse_item(node.text)


def if_then(path: list[str], values: list[Any], schemas: list[dict[str, Any]]) -> dict[str, Any]:
    def nest(leaf: dict[str, Any], keys: list[str]) -> dict[str, Any]:
        for key in reversed(keys):
            leaf = {"properties": {key: leaf}}
        return leaf

    branches = []
    for schema, value in zip(schemas, values, strict=True):
        holder = schema
        for key in path:
            if key not in holder.setdefault("required", []):
                holder["required"].append(key)
            holder = holder["properties"][key]
        holder["enum"] = [value]
        branches.append({"if": nest({"const": value}, path), "then": schema})
    leaf: dict[str, Any] = {"enum": values}
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
