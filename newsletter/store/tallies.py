"""The counts of what happened to each issue's messages (``event_counts``), added to in
one statement per distinct count: what store/events.py adds as a provider's events come,
and what a reader's leaving through an issue's own link adds (counted where the reader's
row moves, in the same transaction, so a reader counts once however often they click)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.store.db import event_counts, sends
from newsletter.store.vocabulary import URL_LENGTH, Detail, Event, Kind


def count_left(conn: Connection, made: int) -> str | None:
    """Count a reader who left through an unsubscribe link made on day ``made`` (days
    since 1970) under the issue that link came with: the one whose send began last by the
    end of that day, the day before included (a send resumed after midnight makes its
    links on the next day). A link made on a day no send began (the manage page's, a
    welcome's, days later) counts under no issue. The issue, or None."""
    end = dt.datetime.fromtimestamp((made + 1) * 86400, dt.UTC)
    issue = conn.execute(
        select(sends.c.issue)
        .where(sends.c.created_at < end, sends.c.created_at >= end - dt.timedelta(days=2),
               sends.c.issue.not_like("%/%"))  # a cancelled send's key: ISSUE/cancelled-N
        .order_by(sends.c.created_at.desc()).limit(1)).scalar()
    if issue is not None:
        add(conn, [Event("", Kind.UNSUBSCRIBED, "", issue, None)])
    return issue


def link_key(url: str) -> str:
    """What a click's URL is counted under in ``event_counts``."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def add(conn: Connection, fresh: Sequence[Event]) -> None:
    """Add the new events to their issue's counts, one statement per distinct count: a
    post of a thousand events is a handful of kinds and links."""
    found: dict[tuple[str, str, str, str], tuple[str | None, int]] = {}
    for event in fresh:
        if not event.issue:
            continue
        url = event.url[:URL_LENGTH] if event.kind is Kind.CLICKED and event.url else None
        group = (event.issue[:40], Kind(event.kind).value,
                 Detail(event.detail).value if event.detail else "", link_key(url) if url else "")
        found[group] = (url, found.get(group, (url, 0))[1] + 1)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    for (issue, kind, detail, link), (url, n) in sorted(found.items()):
        statement = dialect.insert(event_counts).values(
            issue=issue, kind=kind, detail=detail, link=link, url=url, count=n)
        conn.execute(statement.on_conflict_do_update(
            index_elements=["issue", "kind", "detail", "link"],
            set_={"count": event_counts.c.count + statement.excluded.count}))
