"""What the providers' own statistics say of each issue (``stats sync``): kept, replaced
and read here.

A sync reads every issue it was asked for from every provider first, and only then
writes, in one transaction: each (issue, provider) it read is replaced whole, so a sync
run twice leaves the same rows, and a sync that fails before writing leaves the rows it
found. How these figures meet the events counted as they come is store/figures.py's rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, insert, select

from newsletter.store.db import synced_counts
from newsletter.store.vocabulary import Detail, Kind

__all__ = ["Read", "replace", "totals"]

# kind -> detail ('' where there is none) -> count, in our words
Counts = Mapping[Kind, Mapping[Detail | None, int]]


@dataclass(frozen=True)
class Read:
    """One provider's statistics of one issue."""

    issue: str
    provider: str
    counts: Counts


def replace(engine: Engine, found: list[Read], now: dt.datetime) -> None:
    """Keep what ``found`` says, each (issue, provider) replacing what was kept of it."""
    with engine.begin() as conn:
        for read in found:
            conn.execute(delete(synced_counts).where(
                synced_counts.c.issue == read.issue,
                synced_counts.c.provider == read.provider))
            rows = [{"issue": read.issue, "provider": read.provider, "kind": kind.value,
                     "detail": detail.value if detail else "", "count": int(n),
                     "synced_at": now}
                    for kind, details in read.counts.items()
                    for detail, n in details.items() if n]  # a zero changes no figure
            if rows:
                conn.execute(insert(synced_counts), rows)


def totals(engine: Engine, issues: list[str]
           ) -> tuple[dict[str, dict[str, dict[str, int]]], dict[str, dt.datetime]]:
    """For each issue in ``issues``: the providers' statistics added up by kind and
    detail (providers that each sent part of an issue counted each their part), and the
    time of its latest sync."""
    counts: dict[str, dict[str, dict[str, int]]] = {}
    when: dict[str, dt.datetime] = {}
    if not issues:
        return counts, when
    with engine.connect() as conn:
        for issue, kind, detail, n, at in conn.execute(
                select(synced_counts.c.issue, synced_counts.c.kind, synced_counts.c.detail,
                       func.sum(synced_counts.c.count), func.max(synced_counts.c.synced_at))
                .where(synced_counts.c.issue.in_(issues))
                .group_by(synced_counts.c.issue, synced_counts.c.kind,
                          synced_counts.c.detail)):
            details = counts.setdefault(issue, {}).setdefault(kind, {})
            details[detail] = details.get(detail, 0) + int(n)
            when[issue] = max(when.get(issue, at), at)
    return counts, when
