"""Every link of an issue, with where it stands: one walker for every part that needs
them (the file's own checks, lint, the link checker).

It walks the data as read from the file, not the validated model, so the file's checks
can report a bad link in Markdown even when another field of the file is invalid; it
therefore takes nothing for granted about the shape it is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, NamedTuple

from newsletter.content import richtext
from newsletter.content.yamlfile import Path_

Kind = Literal["link", "image", "markdown"]


class Link(NamedTuple):
    path: Path_  # the field it is in
    url: str
    kind: Kind  # a link field, an image's src, or a link inside Markdown


def links(data: Any) -> Iterator[Link]:
    """The links of an issue's data, in the order they appear in the email."""
    if not isinstance(data, dict):
        return
    lead = data.get("lead")
    if isinstance(lead, dict):
        yield from _field(lead, ("lead",), "url", "link")
        image = lead.get("image")
        if isinstance(image, dict):
            yield from _field(image, ("lead", "image"), "src", "image")
        yield from _markdown(lead, ("lead",), "body")
    for s, section in enumerate(_list(data.get("sections"))):
        items = section.get("items") if isinstance(section, dict) else None
        for i, item in enumerate(_list(items)):
            if isinstance(item, dict):
                yield from _field(item, ("sections", s, "items", i), "url", "link")
                yield from _markdown(item, ("sections", s, "items", i), "summary")


def _field(parent: dict[str, Any], at: Path_, name: str, kind: Kind) -> Iterator[Link]:
    value = parent.get(name)
    if isinstance(value, str):
        yield Link((*at, name), value.strip(), kind)


def _markdown(parent: dict[str, Any], at: Path_, name: str) -> Iterator[Link]:
    source = parent.get(name)
    if isinstance(source, str):
        for href in richtext.links(source):
            yield Link((*at, name), href, "markdown")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
