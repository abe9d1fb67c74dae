"""A draft's mark: the word TODO in any text of an issue file, where the scaffold
(scaffold.py) and ``newsletter add`` leave what a person must still write (and the
welcome's file, welcome.py, by the same word). An issue with one is never sent
(email/lint.py: even with --allow-warnings), never archived (site/archive.py), and never
shown to readers as a latest issue (web/recent.py). Read from the file's plain data
alone, so the readers' service needs no renderer for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from newsletter.content.yamlfile import Path_

PLACEHOLDER = "TODO"


def placeholders(data: Any, path: Path_ = ()) -> Iterator[tuple[Path_, str]]:
    """Where a text of ``data`` still holds the placeholder, and that text."""
    if isinstance(data, str):
        if PLACEHOLDER in data:
            yield path, data
    elif isinstance(data, dict):
        for key, child in data.items():
            yield from placeholders(child, (*path, key))
    elif isinstance(data, list):
        for index, child in enumerate(data):
            yield from placeholders(child, (*path, index))


def is_draft(data: Any) -> bool:
    return next(placeholders(data), None) is not None
