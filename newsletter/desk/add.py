"""``newsletter add``: stories drafted from their links into an issue file.

Each link is read through the guard, its page's metadata made into a story, and the
story put into the issue's round-trip tree. The file is written once, after every
story is in and the result validates as an issue (a file that would not validate is
left as it was). A link already in one of the last :data:`REPEAT_WINDOW` issues (or in
this one) is a warning naming the issue: yesterday's story may be today's follow-up,
so the editor decides.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsletter.content import issue, scaffold, yamlfile
from newsletter.content.links import links
from newsletter.desk import fetch, metadata, urls
from newsletter.desk.edit import IssueTree
from newsletter.errors import FetchError, ProblemsFound
from newsletter.files import write_atomic

REPEAT_WINDOW = 30
MARKDOWN = re.compile(r"([\\`*_\[\]<>])")  # a page's words are text, not our Markdown
ALT_PLACEHOLDER = "TODO what the picture shows"  # the lint blocks a send until written
IMAGE_WIDTHS = (50, 600)  # what the issue's schema takes for a lead image


@dataclass(frozen=True)
class Added:
    url: str  # as given
    story: dict[str, Any]  # as it went (or would go) into the file
    where: str  # "lead", or the section's title
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AddResult:
    path: Path
    added: list[Added]
    failed: list[str]  # one line per link that could not be read
    created: bool  # the file was made from the scaffold
    written: bool  # False for a dry run, or when nothing was added


@dataclass(frozen=True)
class Request:
    issues_dir: Path
    day: dt.date
    section_title: str  # the publication's default, for a new file
    lead: bool = False
    section: str | None = None
    dry_run: bool = False
    guard: fetch.Guard = field(default_factory=fetch.Guard)


def add(request: Request, links_: Sequence[str]) -> AddResult:
    path = issue.path_for(request.issues_dir, request.day)
    existed = path.exists()
    tree = IssueTree(path.read_text("utf-8") if existed else _scaffold(request), str(path))
    added: list[Added] = []
    failed = []
    for url in links_:
        try:
            one = _one(request, tree, url)
        except FetchError as exc:
            failed.append(str(exc))
            continue
        earlier = [a.url for a in added if urls.same(a.story["url"], one.story["url"])]
        added.append(Added(one.url, one.story, one.where, one.warnings + [
            f"{one.story['url']} is given twice (also as {u})" for u in earlier]))
    result = tree.text()
    _validate(path, result)
    written = bool(added) and not request.dry_run
    if written:
        request.issues_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(path, result.encode("utf-8"))
    return AddResult(path, added, failed, not existed, written)


def _scaffold(request: Request) -> str:
    with tempfile.TemporaryDirectory() as folder:
        made = scaffold.create(Path(folder), request.day, request.section_title)
        return made.read_text("utf-8")


def _one(request: Request, tree: IssueTree, url: str) -> Added:
    if not url.startswith(("http://", "https://")):
        raise FetchError(f"{url}: not an http(s) link")
    story = metadata.story(fetch.read(url, request.guard))
    warnings = repeats(request.issues_dir, request.day, story.url)
    if request.lead:
        item = lead_item(story)
        tree.put_lead(dict(item), str(issue.path_for(request.issues_dir, request.day)))
        return Added(url, item, "lead", warnings)
    item = teaser_item(story)
    where = tree.put_teaser(dict(item), request.section)
    return Added(url, item, where, warnings)


def teaser_item(story: metadata.Story) -> dict[str, Any]:
    from newsletter.email.lint import SUMMARY_MAX

    return {"headline": story.headline, "source": story.source, "url": story.url,
            "summary": literal(metadata.cut(story.summary, SUMMARY_MAX))
            or "TODO two lines that make the reader want the story."}


def lead_item(story: metadata.Story) -> dict[str, Any]:
    item: dict[str, Any] = {"headline": story.headline, "source": story.source,
                            "url": story.url}
    if story.image:
        image: dict[str, Any] = {"src": story.image, "alt": ALT_PLACEHOLDER}
        if story.image_width:
            image["width"] = min(max(story.image_width, IMAGE_WIDTHS[0]), IMAGE_WIDTHS[1])
        item["image"] = image
    item["body"] = literal(story.summary) or "TODO the story in two or three short paragraphs."
    return item


def literal(text: str) -> str:
    """``text`` as the issues' Markdown shows it: emphasis and link marks escaped."""
    return MARKDOWN.sub(r"\\\1", text)


def repeats(issues_dir: Path, day: dt.date, url: str) -> list[str]:
    """A warning for each of the last issues up to ``day`` that has ``url`` already."""
    found = []
    for path in _recent(issues_dir, day):
        try:
            data = yamlfile.load(path, display=str(path), max_bytes=issue.MAX_ISSUE_BYTES).data
        except OSError:
            continue
        if any(urls.same(link.url, url) for link in links(data)):
            found.append(f"{url} is already in {path.name}")
    return found


def _recent(issues_dir: Path, day: dt.date) -> list[Path]:
    dated = []
    for path in issues_dir.glob("*.y*ml") if issues_dir.is_dir() else []:
        match = issue.FILE_NAME.fullmatch(path.name)
        if match and match.group(1) <= day.isoformat():
            dated.append(path)
    return sorted(dated, reverse=True)[:REPEAT_WINDOW]


def _validate(path: Path, text: str) -> None:
    """ProblemsFound unless ``text`` is a valid issue for ``path``; nothing is written."""
    with tempfile.TemporaryDirectory() as folder:
        trial = Path(folder) / path.name
        trial.write_text(text, "utf-8")
        try:
            issue.parse(trial, display=str(path))
        except ProblemsFound as exc:
            raise ProblemsFound(list(exc.problems)) from None
