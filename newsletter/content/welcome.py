"""``welcome.yaml``: the email a reader gets once, after confirming their subscription.

The file is the publication's, beside ``newsletter.yaml``, written like an issue: a
subject, an optional preheader, and a body in the issues' Markdown (what the reader can
expect). What the file does not say, because it would go stale, the email says from the
facts: when issues arrive (the schedule in newsletter.yaml), the latest issue's link,
and how to leave. Without the file no welcome is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter.content import yamlfile
from newsletter.content.drafts import PLACEHOLDER
from newsletter.content.schema import Prose, Strict, Text, validate
from newsletter.errors import Problem, ProblemsFound, Severity

FILE_NAME = "welcome.yaml"
MAX_BYTES = 64 * 1024


class Welcome(Strict):
    subject: Text
    preheader: Text | None = None
    body: Prose


@dataclass(frozen=True)
class Loaded:
    welcome: Welcome
    findings: list[Problem]  # warnings: a TODO left in it


def path_in(root: Path) -> Path:
    return root / FILE_NAME


def load(path: Path, *, display: str | None = None) -> Loaded:
    """Read and validate ``path``; ProblemsFound with every error at once."""
    doc = yamlfile.load(path, display=display or str(path), max_bytes=MAX_BYTES)
    welcome, problems = validate(Welcome, doc)
    if doc.problems or problems or welcome is None:
        raise ProblemsFound(doc.problems + problems or
                            [doc.problem((), "the welcome file is empty")])
    return Loaded(welcome, _placeholders(welcome, doc))


def _placeholders(welcome: Welcome, doc: yamlfile.Document) -> list[Problem]:
    fields = {"subject": welcome.subject, "preheader": welcome.preheader or "",
              "body": welcome.body}
    return [doc.problem((name,), f"still has a {PLACEHOLDER}: the welcome is not sent "
                        "until it is written", severity=Severity.WARNING, code="placeholder")
            for name, value in fields.items() if PLACEHOLDER in value]
