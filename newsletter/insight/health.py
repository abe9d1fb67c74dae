"""The sender's health: the complaint and hard-bounce rates of the recent sends, judged
before a new send begins.

Why these two, and these figures:

- **Complaints.** Gmail and Yahoo ask bulk senders to keep the rate of messages reported
  as spam under 0.1% and reject mail from senders that reach 0.3%. A complaint is counted
  against every message sent, the same way (the providers' own feedback loops report
  them per message).
- **Hard bounces.** An address that does not exist says the list is old or was never
  confirmed. The large sending services review an account whose bounce rate reaches 5%
  (and may pause it at 10%), and mailbox providers judge a sender the same way. Warn
  from 2%.

The window is the sends begun in the last :data:`WINDOW` (30 days: Gmail's Postmaster
Tools judge the spam rate over a rolling 30 days too), the issue being sent left out.
Below :data:`MINIMUM` messages in the window the rates swing with one reader (one
complaint in 200 is 0.5%), so they are shown but never stop a send. With no provider
event at all in the window nothing can be judged, and that is said (the provider's
webhook brings them, or ``stats sync`` its statistics: store/figures.py counts either).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntEnum

from sqlalchemy import Engine, select

from newsletter.store.db import sends
from newsletter.store.figures import CANCELLED, issue_counts
from newsletter.store.vocabulary import Detail, Kind

__all__ = ["MINIMUM", "WINDOW", "Check", "Health", "Level", "explain", "judge", "recent"]

WINDOW = dt.timedelta(days=30)
MINIMUM = 1000  # messages in the window before a rate may stop a send
_DELIVERY = (Kind.ACCEPTED, Kind.DELIVERED, Kind.DEFERRED, Kind.BOUNCED, Kind.DROPPED,
             Kind.COMPLAINED)


class Level(IntEnum):
    OK = 0
    UNKNOWN = 1  # nothing to judge by
    WARN = 2
    STOP = 3


@dataclass(frozen=True)
class Check:
    name: str  # "complaints", "hard bounces"
    count: int
    sent: int
    warn: float  # the rate from which it warns
    stop: float  # the rate from which it stops a send
    level: Level
    advice: str  # what to do, when it is not OK

    @property
    def rate(self) -> float | None:
        return self.count / self.sent if self.sent else None

    def line(self) -> str:
        """``complaints 0.42% (21 of 5,000 messages; stops at 0.30%)``"""
        rate = f"{self.rate:.2%}" if self.rate is not None else "no messages"
        return (f"{self.name} {rate} ({self.count:,} of {self.sent:,} messages; warns from "
                f"{self.warn:.1%}, stops at {self.stop:.1%})")


@dataclass(frozen=True)
class Health:
    since: dt.datetime
    issues: list[str]
    sent: int
    reported: int  # provider events in the window: without them nothing is known
    checks: list[Check]

    @property
    def level(self) -> Level:
        return max((c.level for c in self.checks), default=Level.OK)

    def stopping(self) -> list[Check]:
        return [c for c in self.checks if c.level is Level.STOP]


_COMPLAINT_ADVICE = ("complaints come from readers who do not remember subscribing or get "
                     "more than they want: check how they joined (double opt-in, imports), "
                     "make leaving easy and the sender's name recognisable, and send to "
                     "the readers who engage until the rate falls")
_BOUNCE_ADVICE = ("addresses that do not exist mean an old or unconfirmed list: remove the "
                  "bounced readers (the webhook or `suppressions sync` does), and confirm "
                  "every import before sending to it")


def recent(engine: Engine, now: dt.datetime, *, leave_out: str | None = None) -> list[str]:
    """The issues whose send began in the window before ``now``, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(sends.c.issue).where(
            sends.c.created_at >= now - WINDOW,
            sends.c.issue.not_like(f"%{CANCELLED}%")).order_by(sends.c.issue)).scalars()
        return [issue for issue in rows if issue != leave_out]


def judge(engine: Engine, now: dt.datetime, *, leave_out: str | None = None) -> Health:
    """The health of the sends in the window before ``now``."""
    issues = recent(engine, now, leave_out=leave_out)
    counts = issue_counts(engine, issues)
    sent = sum(c.sent for c in counts)
    # What the provider said of delivery; clicks and opens (the service counts clicks
    # itself) say nothing of whether messages arrived.
    reported = sum(c.count(kind) for c in counts for kind in _DELIVERY)
    complained = sum(c.count(Kind.COMPLAINED) for c in counts)
    bounced = sum(c.count(Kind.BOUNCED, Detail.HARD) for c in counts)
    checks = [_check("complaints", complained, sent, reported, 0.001, 0.003,
                     _COMPLAINT_ADVICE),
              _check("hard bounces", bounced, sent, reported, 0.02, 0.05, _BOUNCE_ADVICE)]
    return Health(now - WINDOW, issues, sent, reported, checks)


def _check(name: str, count: int, sent: int, reported: int, warn: float, stop: float,
           advice: str) -> Check:
    if not sent or not reported:
        level = Level.UNKNOWN
    else:
        rate = count / sent
        level = Level.STOP if rate >= stop else Level.WARN if rate >= warn else Level.OK
        if level is Level.STOP and sent < MINIMUM:
            level = Level.WARN  # too few messages for one reader's act to stop a send
    return Check(name, count, sent, warn, stop, level, advice)


def explain(health: Health) -> str:
    """One line for a send that the health check stops: the figures and what to do."""
    worst = health.stopping()
    figures = "; ".join(c.line() for c in worst)
    advice = " ".join(f"{c.advice}." for c in worst)
    return (f"the sends of the last {WINDOW.days} days are above the limit: {figures}. "
            f"{advice[0].upper()}{advice[1:]} To send anyway, say why with "
            "--override-health REASON")
