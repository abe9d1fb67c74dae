"""``newsletter report``: a static, private HTML page of what readers did, to look at
rather than read: rates over the last issues, the list's growth, the sender's health, and
the clicks on each story of each issue, every chart beside a table of its figures.

One file, ``index.html``, with everything inline (styles, SVG): it opens from a CI
artifact or a disk, needs no JavaScript and asks nothing of the network. It names no
reader. ``noindex`` keeps it out of search engines where it is served.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.numbers import NumberPattern, format_decimal
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine

from newsletter import words
from newsletter.content.issue import Issue
from newsletter.errors import OutputError
from newsletter.insight import charts
from newsletter.insight.health import Health
from newsletter.insight.issues import IssueFigures, figures, plain_url
from newsletter.store import figures as counts
from newsletter.store.figures import Growth, totals
from newsletter.store.vocabulary import Detail, Kind

__all__ = ["ISSUES", "Report", "build", "write"]

ISSUES = 90  # issues in the rates' chart
STORY_ISSUES = 30  # issues whose stories are charted one by one
GROWTH_DAYS = 90


@dataclass(frozen=True)
class Report:
    name: str
    made: dt.datetime
    issues: list[IssueFigures]  # oldest first
    growth: list[Growth]
    health: Health

    @property
    def growth_total(self) -> Growth:
        return totals(self.growth)


def build(engine: Engine, name: str, zone: ZoneInfo, today: dt.date, health: Health,
          issue_file: Callable[[str], Issue | None], default_title: str) -> Report:
    """The report's figures: the last :data:`ISSUES` issues sent, the list's growth over
    :data:`GROWTH_DAYS` days to ``today``, and the sender's health."""
    sent = counts.sent_issues(engine, until=today)[-ISSUES:]
    every = counts.issue_counts(engine, sent)
    storied = set(sent[-STORY_ISSUES:])
    issues = [figures(c, issue_file(c.issue) if c.issue in storied else None, default_title)
              for c in every]
    since = today - dt.timedelta(days=GROWTH_DAYS - 1)
    return Report(name, dt.datetime.now(dt.UTC), issues,
                  counts.growth(engine, since, today, zone), health)


def _rate_chart(report: Report, _: Callable[[str], str]) -> str:
    x = [f.issue for f in report.issues]
    return charts.lines(_("Rates per message sent, by issue"), x, {
        _("delivered"): [f.rate(Kind.DELIVERED) for f in report.issues],
        _("opened (people)"): [f.rate(Kind.OPENED, Detail.PERSON) for f in report.issues],
        _("clicked"): [f.rate(Kind.CLICKED) for f in report.issues],
        _("bounced"): [f.rate(Kind.BOUNCED) for f in report.issues],
        _("complained"): [f.rate(Kind.COMPLAINED) for f in report.issues]})


def _growth_chart(report: Report, _: Callable[[str], str]) -> str:
    return charts.bars(_("Net change in active readers, by day"),
                       [g.day.isoformat() for g in report.growth],
                       [g.net for g in report.growth], horizontal=False)


def _story_chart(_: Callable[[str], str]) -> Callable[[IssueFigures], str]:
    def chart(issue: IssueFigures) -> str:
        return charts.bars(_("Clicks per story, {day}").format(day=issue.issue),
                           [s.headline for s in issue.stories],
                           [s.people for s in issue.stories])

    return chart


def render(report: Report, locale: str = "en") -> str:
    """The report's page, in the words (and the numbers' spelling) of ``locale``."""
    env = Environment(loader=PackageLoader("newsletter.insight", "templates"),
                      autoescape=select_autoescape(default=True), trim_blocks=True,
                      lstrip_blocks=True)
    lang = words.install(env, locale)
    gettext = words.catalogue(locale)[1].gettext
    numbers = Locale.parse(lang.replace("-", "_"))
    env.filters["percent"] = lambda r: "–" if r is None else _percent(
        numbers, 2 if r < 0.1 else 1).apply(r, numbers)
    env.filters["number"] = lambda n: format_decimal(n, locale=numbers)
    env.filters["signed"] = lambda n: format_decimal(n, "+#,##0;-#,##0", locale=numbers)
    env.filters["plain_url"] = plain_url
    return env.get_template("report.html.j2").render(
        report=report, Kind=Kind, Detail=Detail,
        rates=_rate_chart(report, gettext) if report.issues else None,
        growth_chart=_growth_chart(report, gettext), story_chart=_story_chart(gettext),
        storied=[i for i in reversed(report.issues) if i.stories])


def _percent(locale: Locale, digits: int) -> NumberPattern:
    """The language's own way of writing a percentage ("3,00 %" in German), with
    ``digits`` after the decimal sign."""
    pattern: NumberPattern = copy.copy(locale.percent_formats[None])
    pattern.frac_prec = (digits, digits)
    return pattern


def write(report: Report, out: Path, locale: str = "en") -> Path:
    """Write the report to ``out/index.html``, in the words of ``locale``; OutputError
    when it cannot be written."""
    target = out / "index.html"
    try:
        out.mkdir(parents=True, exist_ok=True)
        target.write_text(render(report, locale), encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write the report to {target}: {exc.strerror}") from None
    return target
