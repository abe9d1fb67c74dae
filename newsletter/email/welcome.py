"""The welcome email: ``welcome.yaml`` and the publication's facts -> subject, HTML, text.

Rendered with Jinja2 alone (templates ``welcome.html.j2``, in the frame of the
service's other emails, and ``welcome.txt.j2``, overridable from the publication's
``templates/`` like the issue's), so the readers' service, which sends it, never loads
MJML or premailer: the HTML is written with its styles inline, in the issue's colours,
light and dark. Every word is the templates', in the publication's language (words.py);
Python passes data only. When issues arrive is content/schedule.py's data, worded by
``arrives.j2`` as the readers' pages word it, so neither can drift from the send.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup

from newsletter import look, words
from newsletter.content import issue, richtext
from newsletter.content.schedule import long_date, schedule
from newsletter.content.settings import Publication
from newsletter.content.welcome import Welcome


@dataclass(frozen=True)
class Links:
    """A reader's own links (made by the service), or the preview's stand-ins."""

    unsubscribe: str
    manage: str


@dataclass(frozen=True)
class WelcomeEmail:
    subject: str
    preheader: str
    html: str
    text: str


class Welcomes:
    """What every welcome of one publication shares, made once (the readers' service
    keeps one): the templates' environment and the schedule."""

    def __init__(self, publication: Publication, overrides: Path | None = None) -> None:
        self.publication = publication
        self.env = _environment(overrides, publication.locale)
        self.schedule = schedule(publication)

    def render(self, welcome: Welcome, links: Links, *,
               latest: dt.date | None) -> WelcomeEmail:
        """The welcome for one reader; ``latest`` is the newest published issue, if any."""
        publication = self.publication
        values = {"pub": publication, "subject": welcome.subject,
                  "preheader": welcome.preheader or "", "schedule": self.schedule,
                  "links": links,
                  "latest_url": publication.web_url(latest) if latest else None,
                  "latest_day": long_date(latest, publication) if latest else None}
        # Markup: the Markdown dialect escapes what the editor typed and allows no HTML.
        html = self.env.get_template("welcome.html.j2").render(
            body=Markup(richtext.to_html(welcome.body)), **values)
        text = self.env.get_template("welcome.txt.j2").render(
            body=richtext.to_text(welcome.body), **values)
        return WelcomeEmail(welcome.subject, welcome.preheader or "", html, text)


def render(welcome: Welcome, publication: Publication, links: Links, *,
           latest: dt.date | None, overrides: Path | None = None) -> WelcomeEmail:
    """The welcome for one reader; ``latest`` is the newest published issue, if any."""
    return Welcomes(publication, overrides).render(welcome, links, latest=latest)


def latest_issue(issues_dir: Path, today: dt.date) -> dt.date | None:
    """The newest issue dated today or earlier (the archive publishes those)."""
    days = []
    for path in issues_dir.glob("*.y*ml") if issues_dir.is_dir() else []:
        match = issue.FILE_NAME.fullmatch(path.name)
        if match and match.group(1) <= today.isoformat():
            days.append(dt.date.fromisoformat(match.group(1)))
    return max(days, default=None)


def _environment(overrides: Path | None, locale: str) -> jinja2.Environment:
    """The readers' pages' kind of environment (HTML escaped, ``*.txt.j2`` not; the words
    of ``locale``), with the text edition's ``wrap``."""
    env = words.templates(look.loader(overrides), locale)
    env.keep_trailing_newline = True
    env.filters["wrap"] = richtext.wrap
    return env
