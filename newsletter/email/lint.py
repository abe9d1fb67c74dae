"""Checks over a valid issue and its rendered email: what would hurt it in an inbox.

Each finding is a Problem with a severity; ``newsletter check --strict`` fails on warnings.
"""

from __future__ import annotations

from collections.abc import Iterator

import lxml.html

from newsletter.content import characters, drafts
from newsletter.content.issue import PREHEADER_MAX, Parsed
from newsletter.content.links import links
from newsletter.content.settings import Publication
from newsletter.content.yamlfile import Path_, dotted
from newsletter.email.render import UNSUBSCRIBE_TOKEN, Email
from newsletter.errors import Problem, Severity

# Gmail hides everything after about 102 KB of HTML behind "[Message clipped]", and with it
# the unsubscribe link. We count 1 KB as 1,000 bytes to stay on the safe side.
CLIP_BYTES = 102_000
CLIP_WARNING_BYTES = 90_000
PLACEHOLDER = drafts.PLACEHOLDER
PLACEHOLDER_CODE = "placeholder"  # a draft's mark: never sent, even with --allow-warnings
SUBJECT_MAX = 78  # inboxes cut subjects at roughly 40 (phones) to 78 (desktops) characters
SUMMARY_MAX = 320  # a teaser is two or three lines, not the story


def lint(parsed: Parsed, email: Email, publication: Publication) -> list[Problem]:
    return sorted([*required_findings(parsed, email, publication),
                   *size_findings(parsed, email), *placeholder_findings(parsed),
                   *subject_findings(parsed, email), *preheader_findings(parsed),
                   *link_findings(parsed), *teaser_findings(parsed),
                   *invisible_findings(parsed)])


def _shown_lines(parsed: Parsed) -> Iterator[tuple[Path_, str | None]]:
    """The one-line fields a reader sees first: subject, preheader, titles, headlines."""
    issue = parsed.issue
    yield ("subject",), issue.subject
    yield ("preheader",), issue.preheader
    yield ("lead", "headline"), issue.lead.headline
    for s, section in enumerate(issue.sections):
        yield ("sections", s, "title"), section.title
        for i, item in enumerate(section.items):
            yield ("sections", s, "items", i, "headline"), item.headline


def invisible_findings(parsed: Parsed) -> Iterator[Problem]:
    for path, value in _shown_lines(parsed):
        found = characters.invisible(value or "")
        if found:
            yield _warning(parsed, path, f"contains {found}, which can make it read "
                                         "differently from what it says (or hide text)")


def subject_findings(parsed: Parsed, email: Email) -> Iterator[Problem]:
    where = ("subject",) if parsed.issue.subject else ("lead", "headline")
    subject = email.subject
    if len(subject) > SUBJECT_MAX:
        yield _warning(parsed, where, f"subject is {len(subject)} characters; inboxes show "
                                      f"about {SUBJECT_MAX} at most")
    letters = [c for c in subject if c.isalpha()]
    if (len(letters) >= 8 and sum(c.isupper() for c in letters) > len(letters) / 2) \
            or "!!" in subject:
        yield _warning(parsed, where, "subject shouts (capitals or '!!'): it reads as spam "
                                      "and spam filters agree")


def preheader_findings(parsed: Parsed) -> Iterator[Problem]:
    preheader = parsed.issue.preheader
    if preheader is None:
        yield _warning(parsed, (), "no preheader: inboxes will show the teasers' headlines "
                                   "after the subject")
    elif len(preheader) > PREHEADER_MAX:
        yield _warning(parsed, ("preheader",), f"preheader is {len(preheader)} characters; "
                                               f"inboxes show about {PREHEADER_MAX} at most")


def link_findings(parsed: Parsed) -> Iterator[Problem]:
    seen: dict[str, Path_] = {}
    for path, url, kind in links(parsed.doc.data):
        if url.lower().startswith("http://"):
            what = "image" if kind == "image" else "link"
            yield _warning(parsed, path, f"{what} is http, not https: {url}")
        if url in seen and kind != "image":
            yield _warning(parsed, path, f"links to {url} again (first at {dotted(seen[url])})")
        seen.setdefault(url, path)


def teaser_findings(parsed: Parsed) -> Iterator[Problem]:
    for s, section in enumerate(parsed.issue.sections):
        for i, item in enumerate(section.items):
            if len(item.summary) > SUMMARY_MAX:
                yield _warning(parsed, ("sections", s, "items", i, "summary"),
                               f"teaser is {len(item.summary)} characters; keep it under "
                               f"{SUMMARY_MAX}")


def required_findings(parsed: Parsed, email: Email, publication: Publication
                      ) -> Iterator[Problem]:
    """What the law asks of every bulk message (CAN-SPAM; Gmail's and Yahoo's rules), in
    whatever template made it: an unsubscribe link and the postal address in both
    editions, and the web version's link in the HTML."""
    page = lxml.html.document_fromstring(email.html)
    hrefs = {a.get("href") for a in page.iter("a")}
    shown = _words(" ".join(page.itertext()))
    postal = _words(publication.postal_address)
    missing = [
        ("HTML", "an unsubscribe link ({{ unsubscribe_url }})", UNSUBSCRIBE_TOKEN in hrefs),
        ("HTML", "the postal address ({{ pub.postal_address }})", postal in shown),
        ("HTML", "the link to the web version ({{ web_url }})", email.web_url in hrefs),
        ("text", "the unsubscribe link ({{ unsubscribe_url }})", UNSUBSCRIBE_TOKEN in email.text),
        ("text", "the postal address ({{ pub.postal_address }})",
         postal in _words(email.text)),
    ]
    for edition, what, present in missing:
        if not present:
            yield parsed.doc.problem((), f"the {edition} edition lacks {what}, which the law "
                                         "requires in every message: restore it in the template")


def _words(text: str) -> str:
    return " ".join(text.split())


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
    for path, _ in drafts.placeholders(parsed.doc.data):
        yield parsed.doc.problem(path, f"still contains the placeholder {PLACEHOLDER!r}",
                                 severity=Severity.WARNING, code=PLACEHOLDER_CODE)


def _warning(parsed: Parsed, path: Path_, message: str) -> Problem:
    return parsed.doc.problem(path, message, severity=Severity.WARNING)
