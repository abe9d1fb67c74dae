"""The web archive: every published issue as a page, an index by date, and an Atom feed.

Pages link to each other with relative URLs only, so the folder works wherever it is
served from (a GitHub Pages project site lives under /REPO/). An issue's page is at
``YYYY-MM-DD/index.html``, which is what the email's "view in browser" link points to.

An issue's page is rendered for the web (``archive_issue.html.j2``) from the issue the
email is made of, not the email itself: a page has no reader, so it carries none of the
reader's links (unsubscribe, manage, view in browser) but a way back to the index, the
issues before and after it, and a subscribe form when a readers' service takes one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from newsletter.clicks import READER_PART
from newsletter.content import richtext
from newsletter.content.issue import Issue
from newsletter.content.settings import Publication
from newsletter.email import message
from newsletter.email.render import Email
from newsletter.errors import NotReady, Problem, ProblemsFound, errors_in
from newsletter.files import write_atomic
from newsletter.project import Project, Rendered

ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class Entry:
    email: Email
    issue: Issue
    lead: str  # the lead story's first paragraph, as plain text, for the index and feed
    updated: dt.datetime


@dataclass(frozen=True)
class Draft:
    """An issue file left out because it still holds a draft's TODO."""

    path: Path
    todos: int  # how many fields still hold one


@dataclass
class Published:
    """What :func:`published` found: the issues to publish, newest first, the problems
    of the files left out as broken, and the drafts left out."""

    rendered: list[Rendered]
    problems: list[Problem]
    drafts: list[Draft]


def published(project: Project, today: dt.date, *, include_future: bool = False
              ) -> Published:
    """Every issue dated today or earlier (all of them with ``include_future``) that the
    send would take, warnings allowed (an issue sent with --allow-warnings has a page).
    One broken file (an error, or a second file for a date) keeps only itself out, and
    so does a draft (a TODO left in it: never sent, so never published either)."""
    seconds = project.second_files()
    twice = {problem.file for problem in seconds}
    found = Published([], list(seconds), [])
    for path in project.issue_files():
        if (include_future or path.stem <= today.isoformat()) and str(path) not in twice:
            _judge(project, path, found)
    found.rendered.sort(key=lambda r: r.email.date, reverse=True)
    return found


def _judge(project: Project, path: Path, found: Published) -> None:
    """Put the file among the issues to publish, the broken ones or the drafts."""
    try:
        rendered = project.render(path)
        rendered.raise_unless_sendable(allow_warnings=True)
    except NotReady as exc:
        errors = errors_in(exc.problems)
        if errors:
            found.problems += errors
        else:  # only placeholders stand in the way: an unfinished draft, not a fault
            found.drafts.append(Draft(path, len(exc.problems)))
        return
    except ProblemsFound as exc:
        found.problems += exc.problems
        return
    found.rendered.append(rendered)


@dataclass(frozen=True)
class Archived:
    files: list[Path]  # every page, then index.html and feed.xml
    left_out: list[Problem]  # why a broken issue file is not in it
    drafts: list[Draft] = field(default_factory=list)  # issue files with a TODO left


def build(project: Project, out: Path, today: dt.date, *, include_future: bool = False
          ) -> Archived:
    pub = project.publication
    found = published(project, today, include_future=include_future)
    entries = [Entry(r.email, r.parsed.issue, _first_paragraph(r.parsed.issue.lead.body),
                     message.send_datetime(r.email, pub)) for r in found.rendered]
    written = [write_atomic(out / e.email.date.isoformat() / "index.html",
                            issue_page(project, entries, at).encode("utf-8"))
               for at, e in enumerate(entries)]
    index = project.renderer.page("archive.html.j2", pub=pub, theme=pub.theme, entries=entries,
                    lang=pub.locale, home="", subscribe=subscribing(pub))
    written.append(write_atomic(out / "index.html", index.encode("utf-8")))
    written.append(write_atomic(out / "feed.xml", atom(project, entries)))
    return Archived(written, found.problems, found.drafts)


def issue_page(project: Project, entries: list[Entry], at: int) -> str:
    """The page of ``entries[at]`` (entries newest first): the issue's words and links as
    the email has them (a story's link tagged, through the readers' service when clicks
    are counted, but naming no reader), and the pages around it."""
    context = project.renderer.context(entries[at].issue)
    story_link = context["tag"]
    assert callable(story_link)

    def tag(url: str) -> str:
        return str(story_link(url)).replace(READER_PART, "")  # no reader on the web

    return project.renderer.page("archive_issue.html.j2", **context
                   | {"tag": tag, "home": "../", "subscribe": subscribing(project.publication),
                      "later": entries[at - 1] if at > 0 else None,
                      "earlier": entries[at + 1] if at + 1 < len(entries) else None})


def subscribing(pub: Publication) -> str:
    """How a page offers the email: "form" (posted to the readers' service), "link" (to
    the service's own form, where a proof of work must be solved first), or "" when no
    service runs: the archive is static pages, and a form there would post to nothing."""
    if pub.readers.service_url is None:
        return ""
    return "link" if pub.readers.altcha else "form"


def _first_paragraph(markdown: str) -> str:
    """The first paragraph's words, Markdown's marks gone: the index and the feed show
    text, and a reader would see ``*`` and ``_`` as they are."""
    return richtext.to_plain(markdown).split("\n\n")[0]


def atom(project: Project, entries: list[Entry]) -> bytes:
    pub = project.publication
    base = pub.site_url.rstrip("/") + "/"
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})
    _text(feed, "id", base)
    _text(feed, "title", pub.name)
    _text(feed, "subtitle", pub.tagline)
    _text(feed, "updated", (entries[0].updated if entries else
                            dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).isoformat())
    etree.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=base + "feed.xml")
    etree.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", href=base)
    author = etree.SubElement(feed, f"{{{ATOM}}}author")
    _text(author, "name", pub.name)
    for entry in entries:
        item = etree.SubElement(feed, f"{{{ATOM}}}entry")
        url = pub.web_url(entry.email.date)
        _text(item, "id", url)
        _text(item, "title", entry.email.subject)
        _text(item, "updated", entry.updated.isoformat())
        _text(item, "published", entry.updated.isoformat())
        etree.SubElement(item, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=url)
        _text(item, "summary", entry.lead)
    return bytes(etree.tostring(feed, xml_declaration=True, encoding="utf-8",
                                pretty_print=True))


def _text(parent: etree._Element, name: str, value: str) -> None:
    etree.SubElement(parent, f"{{{ATOM}}}{name}").text = value
