"""An issue file edited in place: comments, key order, quoting and indentation kept.

ruamel.yaml reads the file into a round-trip tree that remembers what PyYAML forgets
(comments, quotes, flow mappings, the block scalars' style); a story is put into that
tree, and the tree written back with the indentation the file already uses. What the
editor wrote stays as they wrote it; only the new story's lines are new.
"""

from __future__ import annotations

import io
import itertools
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from newsletter.errors import OutputError

PLACEHOLDER = "TODO"
NESTED_KEY = re.compile(r"^(\s*)[^\s#-][^:#]*:\s*(#.*)?$")


class IssueTree:
    """One issue file's round-trip tree and how to write it back."""

    def __init__(self, text: str, name: str) -> None:
        try:
            _, sequence, offset = load_yaml_guess_indent(text)
            self.yaml = _yaml(_mapping_indent(text), sequence or 2, offset or 0)
            self.data = self.yaml.load(text)
        except YAMLError as exc:
            raise OutputError(f"{name}: cannot be edited: {str(exc).splitlines()[0]}") from None
        if not isinstance(self.data, CommentedMap):
            raise OutputError(f"{name}: is not an issue (no mapping at the top)")

    def text(self) -> str:
        out = io.StringIO()
        self.yaml.dump(self.data, out)
        return out.getvalue()

    def put_teaser(self, item: dict[str, Any], section: str | None) -> str:
        """Put a teaser in the section titled ``section`` (made at the end if missing),
        or the first; it takes the place of a scaffold's TODO teaser. Returns the title
        of the section it went to."""
        sections = self.data.setdefault("sections", CommentedSeq())
        target = _section(sections, section)
        items = target.setdefault("items", CommentedSeq())
        spare = next((i for i, old in enumerate(items) if _placeholder(old)), None)
        if spare is None:
            items.append(CommentedMap(item))
        else:
            items[spare] = CommentedMap(item)
        return str(target.get("title") or "(the first section)")

    def put_lead(self, lead: dict[str, Any], name: str) -> None:
        """Make ``lead`` the issue's lead, which must still be the scaffold's TODO."""
        old = self.data.get("lead")
        if isinstance(old, dict) and not _placeholder(old):
            raise OutputError(f"{name}: already has a lead ({str(old.get('headline'))[:60]!r}); "
                              "make room for it by hand, or add this story as a teaser")
        body = lead.pop("body")
        new = CommentedMap(lead)
        new["body"] = LiteralScalarString(body.rstrip("\n") + "\n")
        self.data["lead"] = new


def _yaml(mapping: int, sequence: int, offset: int) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold an editor's long line
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _mapping_indent(text: str) -> int:
    """How far the file indents a mapping inside a mapping (2 unless it shows another)."""
    lines = text.splitlines()
    for line, following in itertools.pairwise(lines):
        key = NESTED_KEY.match(line)
        if key and following.strip() and not following.lstrip().startswith(("-", "#")):
            step = len(following) - len(following.lstrip()) - len(key.group(1))
            if step > 0:
                return step
    return 2


def _section(sections: CommentedSeq, title: str | None) -> CommentedMap:
    for section in sections:
        if isinstance(section, dict) and (title is None or section.get("title") == title):
            return section  # type: ignore[return-value]
    made = CommentedMap({"title": title} if title else {})
    made["items"] = CommentedSeq()
    sections.append(made)
    return made


def _placeholder(story: object) -> bool:
    return isinstance(story, dict) and str(story.get("headline", "")).startswith(PLACEHOLDER)


def dump_item(item: dict[str, Any]) -> str:
    """A story as it would read in an issue file (for ``--dry-run``)."""
    out = io.StringIO()
    _yaml(2, 4, 2).dump([item], out)
    return out.getvalue().rstrip("\n")
