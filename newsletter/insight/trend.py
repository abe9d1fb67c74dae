"""The figures over time: one line per issue sent in a span of days, and the list's
growth on each of those days (in the publication's timezone)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from newsletter.insight.issues import IssueFigures, figures
from newsletter.store import figures as counts
from newsletter.store.figures import Growth

__all__ = ["BARS", "Trend", "sparkline", "trend"]

BARS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Trend:
    since: dt.date
    until: dt.date
    issues: list[IssueFigures]  # oldest first
    days: list[Growth]
    total: Growth

    def as_dict(self) -> dict[str, object]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat(),
                "issues": [i.as_dict() for i in self.issues],
                "growth": [_growth(g) for g in self.days], "total": _growth(self.total)}


def _growth(day: Growth) -> dict[str, object]:
    return {"day": day.day.isoformat(), "asked": day.asked, "joined": day.joined,
            "unsubscribed": day.unsubscribed, "bounced": day.bounced,
            "complained": day.complained, "erased": day.erased, "net": day.net}


def trend(engine: Engine, today: dt.date, days: int, zone: ZoneInfo) -> Trend:
    """The ``days`` days up to ``today`` (included). Issues are told by their date, not
    by when they were sent: an issue of the span sent late is in it."""
    since = today - dt.timedelta(days=days - 1)
    issues = counts.sent_issues(engine, since=since, until=today)
    every = [figures(c, None, "") for c in counts.issue_counts(engine, issues)]
    growth = counts.growth(engine, since, today, zone)
    return Trend(since, today, every, growth, counts.totals(growth))


def sparkline(values: list[float | None]) -> str:
    """``▁▃█▅``: each value's height among the others ('·' where there is none)."""
    known = [v for v in values if v is not None]
    if not known:
        return "·" * len(values)
    low, high = min(known), max(known)
    span = high - low
    return "".join("·" if v is None else
                   BARS[round((v - low) / span * (len(BARS) - 1)) if span else 0]
                   for v in values)
