"""``issues/YYYY-MM-DD.yaml`` -> Issue, with every problem of the file found at once."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from newsletter.content import yamlfile
from newsletter.content.links import links
from newsletter.content.schema import Prose, Strict, Text, Url, url_problem, validate
from newsletter.errors import IssueNotFound, NotADate, Problem, ProblemsFound

MAX_ISSUE_BYTES = 256 * 1024
PREHEADER_MAX = 140  # characters an inbox shows after the subject, at most
FILE_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})\.ya?ml")
DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # how a day is written, here and in a name
DATE_EXAMPLE = "2024-07-24"
# The words that name a day, read by the API (they depend on the publication's timezone
# and schedule): today, tomorrow, and the next publishing day still to send.
DAY_WORDS = ("today", "tomorrow", "next")
WORDS_TEXT = "today, tomorrow or next"


class Image(Strict):
    src: Url
    alt: Text = Field(description="what the picture shows, for screen readers and blocked images")
    width: Annotated[int, Field(ge=50, le=600)] | None = None


class Lead(Strict):
    headline: Text
    source: Text
    url: Url
    image: Image | None = None
    body: Prose


class Item(Strict):
    headline: Text
    source: Text
    url: Url
    summary: Prose


class Section(Strict):
    title: Text | None = None
    items: Annotated[list[Item], Field(min_length=1)]


class Issue(Strict):
    date: dt.date
    subject: Text | None = None
    preheader: Text | None = None
    lead: Lead
    sections: Annotated[list[Section], Field(min_length=1)]

    @property
    def subject_line(self) -> str:
        return self.subject or self.lead.headline


def path_for(issues_dir: Path, day: dt.date) -> Path:
    return issues_dir / f"{day.isoformat()}.yaml"


def resolve(issues_dir: Path, ref: str | dt.date | Path) -> Path:
    """A date (``2024-07-23``) or a path (read as :func:`read_ref` reads text) -> the
    issue file, which must exist."""
    found = read_ref(ref) if isinstance(ref, str) else ref
    candidate = found if isinstance(found, Path) else path_for(issues_dir, found)
    if not candidate.is_file():
        raise IssueNotFound(f"{candidate}: no such issue file")
    return candidate


def read_day(text: str) -> dt.date:
    """``2024-07-23`` -> the date; NotADate for anything else, an impossible date too.
    Only the form issue files are named by: ``fromisoformat`` alone would also take
    ``20240723`` and ``2024-W30-2``, which no editor means."""
    if DATE_TEXT.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise NotADate(f"{text!r} is not a date like {DATE_EXAMPLE}") from None
    raise NotADate(f"{text!r} is not a date like {DATE_EXAMPLE}, {WORDS_TEXT}")


def read_ref(text: str) -> dt.date | Path:
    """An issue as text names it: a date (:func:`read_day`), or the path of an issue file.
    Text written as a date is a date (a wrong one says so, rather than "no such file");
    other text is a path when it reads as one (a folder in it, an issue file's suffix)
    or names something that exists; anything else (``tomorow``) is NotADate."""
    if DATE_TEXT.fullmatch(text):
        return read_day(text)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.parent != Path(".") or path.exists():
        return path
    raise NotADate(f"{text!r} is not a date like {DATE_EXAMPLE}, {WORDS_TEXT}, nor the path "
                   "of an issue file")


@dataclass(frozen=True)
class Parsed:
    """A valid issue and the document it came from (for positions in later findings)."""

    issue: Issue
    doc: yamlfile.Document


def load(path: Path, *, display: str | None = None) -> Issue:
    return parse(path, display=display).issue


def parse(path: Path, *, display: str | None = None) -> Parsed:
    """Read, validate and cross-check one issue file; raise every problem together."""
    doc = yamlfile.load(path, display=display or str(path), max_bytes=MAX_ISSUE_BYTES)
    issue, problems = validate(Issue, doc)
    # The cross-checks read the raw data, so they are reported even when the schema failed.
    raw = doc.data if isinstance(doc.data, dict) else {}
    problems = doc.problems + problems + _name_problems(path, raw, doc) + _link_problems(raw, doc)
    if problems or issue is None:
        raise ProblemsFound(problems)
    return Parsed(issue, doc)


def _name_problems(path: Path, raw: dict[str, Any], doc: yamlfile.Document) -> list[Problem]:
    match = FILE_NAME.fullmatch(path.name)
    if not match:
        return [doc.problem((), "file name must be the issue's date, like 2024-07-23.yaml")]
    date = raw.get("date")
    if isinstance(date, str) and date != match.group(1) and _is_date(date):
        return [doc.problem(("date",), f"date {date} does not match the file name {path.name}")]
    return []


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _link_problems(raw: dict[str, Any], doc: yamlfile.Document) -> list[Problem]:
    return [doc.problem(link.path, f"link {link.url[:60]!r} must be an absolute http(s) URL")
            for link in links(raw) if link.kind == "markdown" and url_problem(link.url)]
