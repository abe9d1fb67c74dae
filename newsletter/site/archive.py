"""The web archive: every published issue as a page, an index by date, and an Atom feed.

Pages link to each other with relative URLs only, so the folder works wherever it is
served from (a GitHub Pages project site lives under /REPO/). An issue's page is at
``YYYY-MM-DD/index.html``, which is what the email's "view in browser" link points to.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from newsletter.clicks import READER_PART
from newsletter.content import richtext
from newsletter.email import message
from newsletter.email.render import (
    GREETING_HTML_TOKEN,
    GREETING_TOKEN,
    MANAGE_TOKEN,
    UNSUBSCRIBE_TOKEN,
    Email,
    without_open_pixel,
)
from newsletter.errors import Problem, ProblemsFound
from newsletter.files import write_atomic
from newsletter.project import Project, Rendered

ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class Entry:
    email: Email
    lead: str  # the lead story's first paragraph, as plain text, for the index and feed
    updated: dt.datetime


def published(project: Project, today: dt.date, *, include_future: bool = False
              ) -> tuple[list[Rendered], list[Problem]]:
    """Every valid issue dated today or earlier (all of them with ``include_future``),
    newest first, and the problems of those left out: one broken file (or a second file
    for a date) keeps only itself out of the archive."""
    seconds = project.second_files()
    twice = {problem.file for problem in seconds}
    rendered, problems = [], list(seconds)
    for path in project.issue_files():
        if (include_future or path.stem <= today.isoformat()) and str(path) not in twice:
            try:
                rendered.append(project.render(path))
            except ProblemsFound as exc:
                problems += exc.problems
    return sorted(rendered, key=lambda r: r.email.date, reverse=True), problems


def web_page(email: Email, unsubscribe_page: str, manage_page: str = "") -> str:
    """The email as a web page: no per-reader parts, the reader links generic (the pages
    say where a reader's own links are), and no open pixel (a visit is no open)."""
    html = without_open_pixel(email.html).replace(READER_PART, "")  # no reader on the web
    html = html.replace(UNSUBSCRIBE_TOKEN, unsubscribe_page)
    html = html.replace(MANAGE_TOKEN, manage_page or unsubscribe_page)
    return html.replace(GREETING_HTML_TOKEN, "").replace(GREETING_TOKEN, "")


@dataclass(frozen=True)
class Archived:
    files: list[Path]  # every page, then index.html and feed.xml
    left_out: list[Problem]  # why an issue is not in it


def build(project: Project, out: Path, today: dt.date, *, include_future: bool = False
          ) -> Archived:
    pub = project.publication
    issues, left_out = published(project, today, include_future=include_future)
    entries = [Entry(r.email, _first_paragraph(r.parsed.issue.lead.body),
                     message.send_datetime(r.email, pub)) for r in issues]
    written = [write_atomic(out / e.email.date.isoformat() / "index.html",
                            web_page(e.email, pub.unsubscribe_base, pub.manage_base)
                            .encode("utf-8"))
               for e in entries]
    index = project.renderer.env.get_template("archive.html.j2").render(
        pub=pub, theme=pub.theme, entries=entries, lang=pub.locale)
    written.append(write_atomic(out / "index.html", index.encode("utf-8")))
    written.append(write_atomic(out / "feed.xml", atom(project, entries)))
    return Archived(written, left_out)


def _first_paragraph(markdown: str) -> str:
    return richtext.to_text(markdown, width=10_000).split("\n\n")[0]


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
