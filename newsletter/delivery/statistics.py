"""Reading the providers' own statistics of each issue into the figures (``stats sync``).

For a publication whose readers' service receives no webhook (one run from GitHub
Actions alone), the provider's figures are the only word on what became of its messages.
Each provider set up with a stats source (delivery/providers/base.py) is asked for each
issue; every answer is read before anything is written, and then all of them are kept in
one transaction (store/synced.py), each replacing what the last sync kept of that issue
and provider. A refusal, a rate limit or a reply not understood stops the sync with
nothing written; running it again gives the same figures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine

from newsletter.delivery.providers.base import IssueStats, StatsSource
from newsletter.errors import DeliveryError
from newsletter.store import figures, synced

__all__ = ["IssueSynced", "issues_to_sync", "sync"]


@dataclass(frozen=True)
class IssueSynced:
    issue: str
    provider: str
    counts: IssueStats | None  # None: the provider has nothing for this issue

    def total(self, kind: str) -> int:
        return sum(n for k, d in (self.counts or {}).items() if k == kind for n in d.values())


def issues_to_sync(engine: Engine, day: dt.date | None, days: int, today: dt.date
                   ) -> list[str]:
    """The issue of ``day``, or those sent in the ``days`` days up to ``today``."""
    if day is not None:
        return [day.isoformat()]
    found = figures.sent_issues(engine, since=today - dt.timedelta(days=days - 1),
                                until=today)
    if not found:
        raise DeliveryError(f"stats sync: no issue was sent in the last {days} days, in the "
                            "database of DATABASE_URL: nothing to ask the provider for")
    return found


def sync(engine: Engine, sources: dict[str, StatsSource], issues: list[str],
         today: dt.date, now: dt.datetime) -> list[IssueSynced]:
    """Ask every source for every issue, then keep every answer; one IssueSynced each.
    A DeliveryError when no source has anything for any of the issues."""
    sent = figures.sent_issues(engine)
    done = [IssueSynced(issue, name, source.issue(dt.date.fromisoformat(issue), today,
                                                  _following(sent, issue)))
            for issue in issues for name, source in sources.items()]
    if all(found.counts is None for found in done):
        asked = "; ".join(source.where for source in sources.values())
        raise DeliveryError(f"stats sync: no statistics for {_span(issues)} at {asked}: "
                            "nothing was sent then, or the provider has not counted it yet")
    synced.replace(engine, [synced.Read(f.issue, f.provider, f.counts)
                            for f in done if f.counts is not None], now)
    return done


def _following(sent: list[str], issue: str) -> dt.date | None:
    later = [other for other in sent if other > issue]
    return dt.date.fromisoformat(later[0]) if later else None


def _span(issues: list[str]) -> str:
    return issues[0] if len(issues) == 1 else f"the issues {issues[0]} to {issues[-1]}"
