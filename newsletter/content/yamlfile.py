"""Read a YAML file into plain data, remembering where every value came from.

PyYAML's safe loader alone cannot tell us the line of a value, silently keeps the last of
two duplicate keys, expands aliases (the "billion laughs" bomb) and turns ``06:00`` into
360 or ``no`` into False. So we compose the node tree ourselves and walk it:

* every plain scalar stays a string (``null``/``~``/empty become None) and the schema
  layer converts it, so an editor's ``no`` or ``06:00`` means what it says;
* aliases are refused outright: issue files have no use for them;
* duplicate keys are reported, the first value is kept;
* the position of every value and key is recorded under its path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from newsletter.errors import Problem, Severity

try:  # libyaml is several times faster; the pure-Python parser gives the same events
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[str | int, ...]

_NULL = "tag:yaml.org,2002:null"
_ALLOWED_TAGS = {
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:timestamp",
    _NULL,
}


@dataclass
class Document:
    """Plain data from one YAML file plus where each piece of it stands."""

    file: str
    data: Any = None
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def position(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """Line and column of ``path``, or of its nearest ancestor we know."""
        table = self.keys if key else self.values
        for end in range(len(path), -1, -1):
            spot = table.get(path[:end]) or self.values.get(path[:end])
            if spot:
                return spot
        return (1, 1)

    def problem(self, path: Path_, message: str, *, key: bool = False,
                severity: Severity = Severity.ERROR, code: str = "") -> Problem:
        line, column = self.position(path, key=key)
        return Problem(self.file, line, column, dotted(path), message, severity, code)


def dotted(path: Path_) -> str:
    """``("sections", 0, "items")`` -> ``sections[0].items``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def load(path: Path, *, display: str, max_bytes: int) -> Document:
    """Read ``path``; the Document's problems say what kept it from loading cleanly."""
    doc = Document(display)
    raw = path.read_bytes()
    if len(raw) > max_bytes:
        doc.problems.append(
            Problem(display, 1, 1, "", f"file is {len(raw):,} bytes; the limit is {max_bytes:,}")
        )
        return doc
    text = _decode(raw, doc)
    if text is not None:
        _parse(text, doc)
    return doc


def _decode(raw: bytes, doc: Document) -> str | None:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = raw[exc.start : exc.start + 1].hex()
        doc.problems.append(
            Problem(doc.file, line, column, "",
                    f"not valid UTF-8 (byte 0x{bad}); save the file as UTF-8")
        )
        return None


def _parse(text: str, doc: Document) -> None:
    try:
        refused = _refused_structure(text, doc.file)
        if refused is not None:
            doc.problems.append(refused)
            return
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        doc.problems.append(_syntax_problem(doc.file, exc))
        return
    except yaml.reader.ReaderError as exc:  # a raw control character in the file
        doc.problems.append(_reader_problem(doc.file, text, exc))
        return
    if node is None:
        doc.problems.append(Problem(doc.file, 1, 1, "", "file is empty"))
        return
    doc.data = _Walker(doc).value(node, ())


MAX_DEPTH = 20  # an issue file is four levels deep; far deeper is a mistake or an attack


def _refused_structure(text: str, file: str) -> Problem | None:
    """An alias, or nesting past MAX_DEPTH, found by reading the events one by one (the
    composer itself would recurse once per level and could exhaust the stack)."""
    events: Iterator[yaml.Event] = yaml.parse(text, Loader=_Loader)
    depth = 0
    for event in events:
        mark = event.start_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if isinstance(event, yaml.AliasEvent):
            return Problem(file, line, column, "",
                           "YAML aliases (*name) are not allowed; write the value out")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return Problem(file, line, column, "", f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


# The slips editors make most, and what to do about them.
_HINTS = {
    "mapping values are not allowed": "a value that contains ': ' must be quoted, like "
                                      "subject: \"Plus: more\"",
    "found character that cannot start any token": "indent with spaces, not tabs; a value "
                                                   "that starts with @ or ` must be quoted",
}


def _syntax_problem(file: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    what = " ".join(part for part in (exc.context, exc.problem) if part)
    hint = next((h for key, h in _HINTS.items() if key in what), None)
    return Problem(file, line, column, "",
                   f"YAML syntax error: {what}" + (f" ({hint})" if hint else ""))


def _reader_problem(file: str, text: str, exc: yaml.reader.ReaderError) -> Problem:
    line = text.count("\n", 0, exc.position) + 1
    column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
    char = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
    return Problem(file, line, column, "",
                   f"character U+{ord(char[:1] or ' '):04X} cannot be in a YAML file; "
                   "remove it")


class _Walker:
    def __init__(self, doc: Document) -> None:
        self.doc = doc

    def value(self, node: yaml.Node, path: Path_) -> Any:
        self.doc.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if node.tag not in _ALLOWED_TAGS:
            refused = self.doc.problem(path, f"YAML tag {node.tag!r} is not allowed")
            self.doc.problems.append(refused)
            return None
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.value(child, (*path, i)) for i, child in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self.scalar(node, path)

    def mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(self.scalar(key_node, path)) if isinstance(key_node, yaml.ScalarNode) else "?"
            where = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in out:
                first = self.doc.keys[(*path, key)][0]
                self.doc.problems.append(
                    Problem(self.doc.file, *where, dotted((*path, key)),
                            f"duplicate key (first given on line {first})")
                )
                continue
            self.doc.keys[(*path, key)] = where
            out[key] = self.value(value_node, (*path, key))
        return out

    def scalar(self, node: yaml.ScalarNode, path: Path_) -> str | None:
        if node.tag == _NULL and node.style is None:
            return None
        return str(node.value)
