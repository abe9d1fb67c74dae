"""What the database knows of each issue's readers and of the list, as counts: what
``newsletter stats``, the report and the health check read.

Nothing here reads a reader's row or names one: the figures come from tables of counts
(and, at ``tracking: individual``, how many readers opened and clicked each issue, which
store/activity.py counts by number, naming none): the send's own (``sends``,
``batches``: how many a send reached), the events' (``event_counts``, kept by
store/events.py as events come), the providers' own statistics (``synced_counts``, read
by ``stats sync``, store/synced.py) and list growth (``reader_moves``, kept by the
database's triggers, revision 0014).

Events counted as they come and a provider's statistics count the same happenings, so
they are never added up. Per issue and kind, the larger total is shown, with its own
split by detail; on a tie the events', which say more (a person's open from a machine's,
each link's clicks). A webhook that was down for a day counts less than the provider
did; a sync that ran before the last opens counts less than the webhook: in either case
the larger is the nearer to what happened, and neither can count one event twice.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from newsletter.store import activity
from newsletter.store.db import batches, event_counts, reader_moves, sends
from newsletter.store.states import Absent, Status
from newsletter.store.vocabulary import Detail, Kind

__all__ = ["Growth", "IssueCounts", "LinkCount", "growth", "issue_counts", "sent_issues"]

CANCELLED = "/"  # a cancelled send's key is ISSUE/cancelled-N: never an issue's figures


@dataclass(frozen=True)
class LinkCount:
    url: str
    people: int  # clicks a provider or our redirect counted as a person's
    machines: int  # clicks by a link scanner (within seconds of delivery, HEAD, a bot)


@dataclass
class IssueCounts:
    """What happened to one issue's messages, by our words. ``events[kind][detail]``."""

    issue: str
    sent: int = 0  # the readers the send reached (the provider accepted their message)
    started: dt.datetime | None = None
    events: dict[str, dict[str, int]] = field(default_factory=dict)
    links: list[LinkCount] = field(default_factory=list)
    synced: set[str] = field(default_factory=set)  # kinds shown from the provider's stats
    synced_at: dt.datetime | None = None  # the latest ``stats sync`` of this issue
    # How many readers opened and clicked (people), where opens and clicks were kept per
    # reader (``tracking: individual``): {"opened": n, "clicked": n}; None where none were.
    unique: dict[str, int] | None = None

    def count(self, kind: Kind, detail: Detail | None = None) -> int:
        found = self.events.get(kind.value, {})
        return found.get(detail.value, 0) if detail else sum(found.values())


def sent_issues(engine: Engine, *, since: dt.date | None = None,
                until: dt.date | None = None) -> list[str]:
    """The issues a send was begun for (cancelled sends left out), oldest first."""
    query = select(sends.c.issue).where(sends.c.issue.not_like(f"%{CANCELLED}%"))
    if since:
        query = query.where(sends.c.issue >= since.isoformat())
    if until:
        query = query.where(sends.c.issue <= until.isoformat())
    with engine.connect() as conn:
        return sorted(conn.execute(query).scalars())


def issue_counts(engine: Engine, issues: Sequence[str]) -> list[IssueCounts]:
    """The counts of each issue in ``issues``, in that order: three grouped queries,
    whatever the number of issues or readers."""
    found = {issue: IssueCounts(issue) for issue in issues}
    if not found:
        return []
    with engine.connect() as conn:
        for issue, started, reached in conn.execute(
                select(sends.c.issue, sends.c.created_at,
                       func.coalesce(sends.c.sent_count, 0)).where(sends.c.issue.in_(found))):
            found[issue].sent += int(reached)
            found[issue].started = started
        for issue, reached in conn.execute(
                select(batches.c.issue, func.sum(batches.c.reached))
                .where(batches.c.issue.in_(found)).group_by(batches.c.issue)):
            found[issue].sent += int(reached or 0)
        links: dict[str, dict[str, list[int]]] = defaultdict(dict)
        for issue, kind, detail, url, n in conn.execute(
                select(event_counts.c.issue, event_counts.c.kind, event_counts.c.detail,
                       event_counts.c.url, event_counts.c.count)
                .where(event_counts.c.issue.in_(found))):
            counts = found[issue].events.setdefault(kind, {})
            counts[detail] = counts.get(detail, 0) + int(n)
            if kind == Kind.CLICKED and url:
                pair = links[issue].setdefault(url, [0, 0])
                pair[detail == Detail.MACHINE] += int(n)
    _merge_synced(engine, found)
    for issue, unique in activity.unique(engine, list(found)).items():
        found[issue].unique = unique
    for issue, by_url in links.items():
        found[issue].links = sorted((LinkCount(url, p, m) for url, (p, m) in by_url.items()),
                                    key=lambda link: (-link.people, link.url))
    return [found[issue] for issue in issues]


def _merge_synced(engine: Engine, found: dict[str, IssueCounts]) -> None:
    """Put each issue's synced statistics in place of its counted events, kind by kind,
    where they are larger (the rule of the module's docstring)."""
    from newsletter.store import synced

    stats, when = synced.totals(engine, list(found))
    for issue, kinds in stats.items():
        counts = found[issue]
        counts.synced_at = when.get(issue)
        for kind, details in kinds.items():
            if sum(details.values()) > sum(counts.events.get(kind, {}).values()):
                counts.events[kind] = dict(details)
                counts.synced.add(kind)


@dataclass
class Growth:
    """How the list moved on one day (in the publication's timezone)."""

    day: dt.date
    asked: int = 0  # requests to subscribe (the form's queue, or an old pending row)
    joined: int = 0  # became active: a confirmed request, an operator's add or import
    unsubscribed: int = 0
    bounced: int = 0
    complained: int = 0
    erased: int = 0  # rows deleted: "forget me", the operator's --forget, expiry
    net: int = 0  # active readers at the end of the day less at its start


# The states reader_moves records are status.py's, and "requested": a request queued by
# the form (revision 0014's triggers write it; it is no reader's status).
_REQUESTED = "requested"
# A move to each way of leaving, and the Growth field that counts it.
_LEAVING: dict[str, str] = {Status.UNSUBSCRIBED: "unsubscribed", Status.BOUNCED: "bounced",
                            Status.COMPLAINED: "complained", Absent.ERASED: "erased"}


def growth(engine: Engine, since: dt.date, until: dt.date, zone: ZoneInfo) -> list[Growth]:
    """One :class:`Growth` a day from ``since`` to ``until`` (both included), the days
    taken in ``zone``. Moves are kept by the UTC hour, so a zone whose offset is not a
    whole hour counts the moves of its days' first or last half hour a day off."""
    days = {since + dt.timedelta(n): Growth(since + dt.timedelta(n))
            for n in range((until - since).days + 1)}
    start = dt.datetime.combine(since, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(until + dt.timedelta(1), dt.time(), zone).astimezone(dt.UTC)
    with engine.connect() as conn:
        rows = conn.execute(select(reader_moves).where(
            reader_moves.c.hour >= _hour(start), reader_moves.c.hour < _hour(end))).all()
    local = _local_days(start, end, zone)
    for hour, old, new, n in rows:
        day = local.get(hour)
        if day in days:
            _add(days[day], old, new, int(n))
    return list(days.values())


def _local_days(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> dict[str, dt.date]:
    """Each UTC hour from ``start`` to ``end``, as stored, and the day it falls on in
    ``zone``: the zone is asked once a day (where each day begins), not once a row."""
    found: dict[str, dt.date] = {}
    day = start.astimezone(zone).date()
    begins = dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
    while begins < end:
        following = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone) \
            .astimezone(dt.UTC)
        at = begins.replace(minute=0, second=0, microsecond=0)
        while at < following:
            found[f"{at.year:04d}-{at.month:02d}-{at.day:02d}T{at.hour:02d}"] = day
            at += _HOUR
        day, begins = day + dt.timedelta(days=1), following
    return found


_HOUR = dt.timedelta(hours=1)


def _add(day: Growth, old: str, new: str, n: int) -> None:
    if new == _REQUESTED or (old, new) == (Absent.NEW, Status.PENDING):
        day.asked += n
    if new == Status.ACTIVE:
        day.joined += n
        day.net += n
    elif old == Status.ACTIVE:
        day.net -= n
    field_name = _LEAVING.get(new)  # a stored string finds its member: StrEnum
    if field_name:
        setattr(day, field_name, getattr(day, field_name) + n)


def _hour(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H")


def totals(days: Iterable[Growth]) -> Growth:
    """The days added up (dated the last one)."""
    whole: Growth | None = None
    for day in days:
        whole = whole or Growth(day.day)
        whole.day = day.day
        for name in ("asked", "joined", "unsubscribed", "bounced", "complained", "erased",
                     "net"):
            setattr(whole, name, getattr(whole, name) + getattr(day, name))
    return whole or Growth(dt.date.min)
