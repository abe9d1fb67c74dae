"""The welcome email: ``welcome.yaml`` and the publication's facts -> subject, HTML, text.

Rendered with Jinja2 alone (templates ``welcome.html.j2`` and ``welcome.txt.j2``,
overridable from the publication's ``templates/`` like the issue's), so the readers'
service, which sends it, never loads MJML or premailer: the HTML is written with its
styles inline, in the issue's colours, light and dark. The schedule line is made from
newsletter.yaml, so it cannot drift from what the send does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup

from newsletter import look
from newsletter.content import issue, richtext
from newsletter.content.settings import DAYS, Publication
from newsletter.content.welcome import Welcome

DAY_NAMES = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                            "Saturday", "Sunday"), strict=True))


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


def render(welcome: Welcome, publication: Publication, links: Links, *,
           latest: dt.date | None, overrides: Path | None = None) -> WelcomeEmail:
    """The welcome for one reader; ``latest`` is the newest published issue, if any."""
    env = _environment(overrides)
    values = {"pub": publication, "theme": publication.theme, "welcome": welcome,
              "subject": welcome.subject, "preheader": welcome.preheader or "",
              "schedule": schedule(publication), "links": links,
              "latest_url": publication.web_url(latest) if latest else None,
              "latest_day": latest.strftime("%-d %B %Y") if latest else None,
              "lang": publication.locale.split("-")[0]}
    # Markup: the Markdown dialect escapes what the editor typed and allows no HTML.
    html = env.get_template("welcome.html.j2").render(
        body=Markup(richtext.to_html(welcome.body)), **values)
    text = env.get_template("welcome.txt.j2").render(body=richtext.to_text(welcome.body),
                                                     **values)
    return WelcomeEmail(welcome.subject, welcome.preheader or "", html, text)


def schedule(publication: Publication) -> str:
    """"every day at 06:00 (Europe/London time)", "every Monday, Wednesday and Friday
    at 07:30 (...)", from the settings the send obeys."""
    days = publication.publishing_days
    if set(days) == set(DAYS):
        when = "every day"
    elif set(days) == set(DAYS[:5]):
        when = "every weekday"
    else:
        names = [DAY_NAMES[d] for d in DAYS if d in days]
        when = "every " + (names[0] if len(names) == 1 else
                           ", ".join(names[:-1]) + " and " + names[-1])
    return f"{when} at {publication.send_time} ({publication.timezone} time)"


def latest_issue(issues_dir: Path, today: dt.date) -> dt.date | None:
    """The newest issue dated today or earlier (the archive publishes those)."""
    days = []
    for path in issues_dir.glob("*.y*ml") if issues_dir.is_dir() else []:
        match = issue.FILE_NAME.fullmatch(path.name)
        if match and match.group(1) <= today.isoformat():
            days.append(dt.date.fromisoformat(match.group(1)))
    return max(days, default=None)


def _environment(overrides: Path | None) -> jinja2.Environment:
    return jinja2.Environment(loader=look.loader(overrides), autoescape=True,
                              trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
