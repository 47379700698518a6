"""Tokenizer for the field trees of the spec digest ``CORE.md`` (used by ``schema_gen``, a dev tool).

CORE.md prints every schema as an indented bullet tree (its §0 defines the notation)::

    - `name` *type* **required** — constraint; constraint. Description ⟨L123, → schema_name L456⟩
    - (fields of `X` — expanded above, first in POST /6/...)
    - **oneOf** (discriminator `p`) — 2 variants:
      - variant 1 `X`: *object* ⟨L…⟩ — in addition to the common fields:

This module turns the document into :class:`Node` trees, remembers the first expansion of every
named schema (so "fields of X" / "variants of X" can be resolved) and splits one bullet into an
:class:`Item` (kind, name, type, required, constraint tokens). It knows nothing of JSON Schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NUMBER = r"-?\d+(?:\.\d+)?"
_RANGE = rf"(?:{NUMBER}\.\.{NUMBER}|[<>]= {NUMBER})"
_CONSTRAINT = re.compile(
    "|".join(
        (
            r"(?P<nullable>nullable)",
            r"(?P<deprecated>\*\*deprecated\*\*)",
            r"(?P<unique>unique items)",
            rf"(?P<kw>length|items|properties) (?P<kwrange>{_RANGE})",
            rf"(?P<range>{_RANGE})",
            r"(?P<enum>enum: `[^`]*`(?:, `[^`]*`)*)",
            r"`enums` \(sic, not a JSON-schema keyword\): (?P<enums>\[[^\]]*\])",
            r"pattern `(?P<pattern>[^`]*)`",
            r"default `(?P<default>[^`]*)`",
            r"`min: (?P<minsic>[^`]*)` \(sic\)",
            r"(?P<readonly>read-only)",
            r"(?P<item>(?:each )?item:)",
        )
    )
)
_ANNOTATION = re.compile(r" ?⟨([^⟩]*)⟩")
_REF = re.compile(r"→ (\w+) L\d+")
_FIELDS_OF = re.compile(
    r"^\(fields of `(?P<name>[^`]+)` — expanded above(?:, first)? in (?P<op>[^;)]+)"
    r"(?:; in `[^`]+` these are required: (?P<req>[^)]*))?\)$"
)
_VARIANTS_OF = re.compile(
    r"^\(variants of `(?P<name>[^`]+)` — expanded above(?:, first)? in (?P<op>[^)]+)\)$"
)
_COMPOSITE = re.compile(
    r"^\*\*(?P<kw>oneOf|anyOf)\*\*(?: \(discriminator `(?P<disc>[^`]+)`\))? — \d+ variants:$"
)
_VARIANT = re.compile(r"^variant (?P<no>\d+)(?: `(?P<name>[^`]+)`)?: \*(?P<rest>.*)$")
_FIELD = re.compile(r"^`(?P<name>[^`]+)` \*(?P<rest>.*)$")
_HEADING = re.compile(r"^#### (?P<method>[A-Z]+) `(?P<path>[^`]+)`$")
_OPERATION_ID = re.compile(r"operationId `(?P<id>\w+)`")
_SCHEMA = re.compile(r"^(?P<indent>\s*)Schema: \*(?P<rest>.*)$")
_CONTENT = re.compile(r"^`(?P<ct>[\w.+-]+/[\w.+-]+)`:$")
_SAME = re.compile(r"^- `(?P<ct>[^`]+)`: same schema as `(?P<other>[^`]+)`\.$")


class CoreMdError(ValueError):
    """CORE.md contains something this tokenizer does not understand."""


@dataclass
class Node:
    """One bullet (or a ``Schema:`` line, whose children are the list printed under it)."""

    line: int  # 1-based line number in CORE.md
    indent: int
    text: str
    op: str  # "POST /6/streams" of the section it is in
    children: list[Node] = field(default_factory=list)


@dataclass
class Item:
    # field | variant | fields_of | variants_of | additional | composite | common | declared | items
    kind: str
    name: str = ""
    type: str = ""
    required: bool = False
    constraints: list[tuple[str, str]] = field(default_factory=list)  # (token kind, raw value)
    ref: str = ""  # component schema name after "→" in the annotation
    discriminator: str = ""
    keyword: str = ""  # oneOf | anyOf
    extra: list[str] = field(default_factory=list)  # "required" names of fields_of / declared lines
    where: str = ""  # "first in POST /6/…" of fields_of / variants_of lines


def split_type(rest: str) -> tuple[str, str]:
    """``rest`` follows the opening ``*`` of ``*type*``; return (type, text after the closing ``*``)."""
    in_tick = False
    for index, char in enumerate(rest):
        if char == "`":
            in_tick = not in_tick
        elif char == "*" and not in_tick:
            return rest[:index], rest[index + 1 :]
    raise CoreMdError(f"unterminated *type* in {rest!r}")


def parse_constraints(text: str) -> tuple[list[tuple[str, str]], str]:
    """Tokens of ``a; b; c`` at the start of ``text`` and the rest (the description)."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while True:
        match = _CONSTRAINT.match(text, pos)
        if not match:
            raise CoreMdError(f"unknown constraint at {text[pos : pos + 60]!r}")
        kind = match.lastgroup or ""
        if kind == "kwrange":
            tokens.append((match["kw"], match["kwrange"]))
        elif kind == "item":
            tokens.append(("item", ""))
            pos = match.end() + 1  # "item: " is followed by the item's own constraints
            continue
        else:
            tokens.append((kind, match[kind]))
        pos = match.end()
        if text.startswith("; ", pos):
            pos += 2
            continue
        return tokens, text[pos:]


def parse_item(text: str) -> Item:
    """Classify one bullet's text (without the leading ``- ``)."""
    if match := _FIELDS_OF.match(text):
        required = re.findall(r"`([^`]+)`", match["req"] or "")
        return Item("fields_of", name=match["name"], extra=required, where=match["op"])
    if match := _VARIANTS_OF.match(text):
        return Item("variants_of", name=match["name"], where=match["op"])
    if text.strip() == "*(additional properties allowed)*":
        return Item("additional")
    if match := _COMPOSITE.match(text):
        return Item("composite", keyword=match["kw"], discriminator=match["disc"] or "")
    if text == "fields common to all variants:":
        return Item("common")
    if text.startswith("required (declared, defined elsewhere in the composition):"):
        return Item("declared", extra=re.findall(r"`([^`]+)`", text))
    if text.startswith("items: *"):
        return Item("items", type=split_type(text[len("items: *") :])[0])
    if match := _VARIANT.match(text):
        item = _typed(Item("variant", name=match["name"] or ""), match["rest"])
        item.extra = ["common"] if "in addition to the common fields" in text else []
        return item
    if match := _FIELD.match(text):
        return _typed(Item("field", name=match["name"]), match["rest"])
    raise CoreMdError(f"unknown bullet {text[:80]!r}")


def _typed(item: Item, rest: str) -> Item:
    item.type, tail = split_type(rest)
    if tail.startswith(" **required**"):
        item.required, tail = True, tail[len(" **required**") :]
    annotation = _ANNOTATION.search(tail)
    if annotation:
        ref = _REF.search(annotation[1])
        item.ref = ref[1] if ref else ""
        tail = tail[: annotation.start()]
    if tail.startswith(" — "):
        item.constraints, _ = parse_constraints(tail[3:])
    return item


def parse_schema_line(text: str) -> Item:
    """``Schema: *type* `name` ⟨L…⟩ — constraints. Description`` (constraints follow the annotation)."""
    match = _SCHEMA.match(text)
    if not match:
        raise CoreMdError(f"not a Schema line: {text!r}")
    type_, tail = split_type(match["rest"])
    name = re.match(r" `([^`]+)`", tail)
    item = Item("schema", name=name[1] if name else "", type=type_)
    annotation = _ANNOTATION.search(tail)
    after = tail[annotation.end() :] if annotation else ""
    if after.startswith(" — "):
        item.constraints, _ = parse_constraints(after[3:])
    return item


@dataclass
class Operation:
    method: str
    path: str
    operation_id: str
    line: int
    bodies: dict[str, Node] = field(default_factory=dict)  # content type -> Schema pseudo-node
    body_line: int = 0


class CoreDoc:
    """The parsed document: bullet forests, operations with their request bodies, the name registry."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.operations: list[Operation] = []
        self.schema_nodes: dict[int, Node] = {}  # line of a "Schema:" line -> its pseudo-node
        self.registry: dict[str, Node] = {}
        self._build_forest()
        self._find_operations()
        self._register()

    def _build_forest(self) -> None:
        stack: list[Node] = []
        pending: Node | None = None  # last Schema line, waiting for its list
        self.nodes: list[Node] = []
        op = ""
        for number, raw in enumerate(self.lines, start=1):
            if heading := _HEADING.match(raw):
                op = f"{heading['method']} {heading['path']}"
            bullet = re.match(r"^(\s*)- (.*)$", raw)
            if not bullet:
                if raw.strip():
                    stack = []
                    pending = None
                    if schema := _SCHEMA.match(raw):
                        pending = Node(number, len(schema["indent"]), raw.strip(), op)
                        self.schema_nodes[number] = pending
                else:
                    stack = []
                continue
            node = Node(number, len(bullet[1]), bullet[2].rstrip(), op)
            self.nodes.append(node)
            while stack and stack[-1].indent >= node.indent:
                stack.pop()
            if stack:
                stack[-1].children.append(node)
            elif pending is not None and node.indent == pending.indent:
                pending.children.append(node)
            stack.append(node)

    def _find_operations(self) -> None:
        current: Operation | None = None
        content: str | None = None
        for number, raw in enumerate(self.lines, start=1):
            if heading := _HEADING.match(raw):
                current = None
                for look in self.lines[number : number + 4]:
                    if found := _OPERATION_ID.search(look):
                        current = Operation(heading["method"], heading["path"], found["id"], number)
                        self.operations.append(current)
                        break
            elif current is None or raw.startswith("Responses:"):
                current = None
            elif raw.startswith("Request body ("):
                current.body_line = number
                types = re.findall(r"`([^`]+)`", raw.split("content types:", 1)[1])
                content = types[0] if len(types) == 1 else None
            elif not current.body_line:
                continue
            elif ct := _CONTENT.match(raw):
                content = ct["ct"]
            elif number in self.schema_nodes and content:
                current.bodies[content] = self.schema_nodes[number]
            elif (same := _SAME.match(raw)) and same["other"] in current.bodies:
                current.bodies[same["ct"]] = current.bodies[same["other"]]

    def _register(self) -> None:
        """Name -> first node that expands it (document order, responses included)."""
        named: list[tuple[int, str, Node]] = []
        for node in self.schema_nodes.values():
            item = parse_schema_line(node.text)
            if item.name and node.children:
                named.append((node.line, item.name, node))
        for node in self.nodes:
            try:
                item = parse_item(node.text)
            except CoreMdError:
                continue
            inline = item.type.startswith(("oneOf:", "anyOf:"))
            if item.kind not in ("field", "variant") or not (node.children or inline):
                continue
            names = [item.ref] if item.ref else []
            if item.kind == "variant" and item.name:
                names.append(item.name)
            names += re.findall(r"array of object `([^`]+)`", item.type)
            named += [(node.line, name, node) for name in names]
        for _, name, node in sorted(named, key=lambda entry: entry[0]):
            self.registry.setdefault(name, node)
