"""Checks over a valid issue and its rendered email: what would hurt it in an inbox.

Each finding is a Problem with a severity; ``newsletter check --strict`` fails on warnings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from newsletter.errors import Problem, Severity
from newsletter.issue import Parsed
from newsletter.render import Email
from newsletter.yamlfile import Path_

# Gmail hides everything after about 102 KB of HTML behind "[Message clipped]", and with it
# the unsubscribe link. We count 1 KB as 1,000 bytes to stay on the safe side.
CLIP_BYTES = 102_000
CLIP_WARNING_BYTES = 90_000
PLACEHOLDER = "TODO"


def lint(parsed: Parsed, email: Email) -> list[Problem]:
    return sorted([*size_findings(parsed, email), *placeholder_findings(parsed)])


def size_findings(parsed: Parsed, email: Email) -> Iterator[Problem]:
    size = email.html_bytes
    if size >= CLIP_BYTES:
        yield parsed.doc.problem((), f"email HTML is {size:,} bytes; Gmail clips messages at "
                                     f"{CLIP_BYTES:,} bytes, hiding the rest and the unsubscribe "
                                     "link: shorten the issue")
    elif size > CLIP_WARNING_BYTES:
        yield _warning(parsed, (), f"email HTML is {size:,} bytes, close to Gmail's clipping "
                                   f"limit of {CLIP_BYTES:,} bytes")


def placeholder_findings(parsed: Parsed) -> Iterator[Problem]:
    for path, value in _strings(parsed.doc.data, ()):
        if PLACEHOLDER in value:
            yield _warning(parsed, path, f"still contains the placeholder {PLACEHOLDER!r}")


def _strings(value: Any, path: Path_) -> Iterator[tuple[Path_, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _strings(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _strings(child, (*path, index))


def _warning(parsed: Parsed, path: Path_, message: str) -> Problem:
    return parsed.doc.problem(path, message, severity=Severity.WARNING)
