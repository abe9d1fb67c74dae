"""Which reader opened or clicked what (``reader_activity``): kept only at the
``individual`` level of tracking, for publications whose readers consented.

Two writers, both with the events they already count: the webhook's (a provider's open or
click names the reader's address, looked up here) and the readers' service's own links and
pixel (their address carries a signed token naming the reader's link key, verified by the
service before the click waits in its tally, looked up here as it is written). A row
names the reader by number only; an address that is no reader's, or a link key no longer
on file (an erased reader's old email), adds nothing.

The reader sees their rows in their data download; erasing the reader erases them
(subscribers.py), and ``prune`` ages them with the events. ``stats`` counts, per issue,
the readers who opened and clicked (people, not machines): :func:`unique`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, distinct, func, select

from newsletter.store.db import reader_activity, subscribers
from newsletter.store.vocabulary import URL_LENGTH, Detail, Event, Kind

__all__ = ["add", "erase", "of_reader", "prune", "unique"]

_KINDS = (Kind.OPENED, Kind.CLICKED)
_CHUNK = 500  # keys looked up per statement: well under SQLite's bound parameters


def add(conn: Connection, happened: Sequence[Event], now: dt.datetime) -> int:
    """A row for each open and click in ``happened`` that names a reader on file: by
    address (a provider's event) or by link key (the service's own). Returns how many."""
    wanted = [e for e in happened if e.kind in _KINDS and e.issue and (e.email or e.reader)]
    by_address = _ids(conn, subscribers.c.email_key,
                      {e.email.strip().lower() for e in wanted if e.email})
    by_link = _ids(conn, subscribers.c.link_key, {e.reader for e in wanted if e.reader})
    rows: list[dict[str, Any]] = []
    for event in wanted:
        reader = by_link.get(event.reader) if event.reader else \
            by_address.get(event.email.strip().lower())
        if reader is not None:
            rows.append(_row(reader, event, now))
    if rows:
        conn.execute(reader_activity.insert(), rows)
    return len(rows)


def _row(reader: int, event: Event, now: dt.datetime) -> dict[str, Any]:
    url = event.url[:URL_LENGTH] if event.kind is Kind.CLICKED and event.url else None
    detail = Detail.MACHINE if event.detail is Detail.MACHINE else Detail.PERSON
    return {"subscriber_id": reader, "issue": (event.issue or "")[:40],
            "kind": Kind(event.kind).value, "detail": detail.value, "url": url,
            "happened_at": event.happened_at or now}


def _ids(conn: Connection, column: Any, keys: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start:start + _CHUNK]
        found.update({k: int(i) for k, i in conn.execute(
            select(column, subscribers.c.id).where(column.in_(chunk)))})
    return found


def of_reader(engine: Engine, subscriber_id: int) -> list[dict[str, Any]]:
    """A reader's rows, oldest first: issue, kind, detail, url (clicks), when."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(reader_activity.c.issue, reader_activity.c.kind, reader_activity.c.detail,
                   reader_activity.c.url, reader_activity.c.happened_at)
            .where(reader_activity.c.subscriber_id == subscriber_id)
            .order_by(reader_activity.c.happened_at, reader_activity.c.id)).all()
    return [{"issue": r.issue, "kind": r.kind, "detail": r.detail, "url": r.url,
             "when": r.happened_at.isoformat()} for r in rows]


def unique(engine: Engine, issues: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per issue with rows, how many readers opened and how many clicked (people: a
    machine's open or click is no reader's)."""
    if not issues:
        return {}
    found: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        any_rows = set(conn.execute(select(reader_activity.c.issue).distinct()
                                    .where(reader_activity.c.issue.in_(issues))).scalars())
        for issue, kind, n in conn.execute(
                select(reader_activity.c.issue, reader_activity.c.kind,
                       func.count(distinct(reader_activity.c.subscriber_id)))
                .where(reader_activity.c.issue.in_(issues),
                       reader_activity.c.detail == Detail.PERSON.value)
                .group_by(reader_activity.c.issue, reader_activity.c.kind)):
            found.setdefault(issue, {})[kind] = int(n)
    return {issue: {k.value: found.get(issue, {}).get(k.value, 0) for k in _KINDS}
            for issue in issues if issue in any_rows}


def erase(conn: Connection, subscriber_id: int) -> None:
    """A reader's rows, gone with them."""
    conn.execute(reader_activity.delete().where(reader_activity.c.subscriber_id == subscriber_id))


def prune(engine: Engine, before: dt.datetime) -> int:
    """Remove the rows of opens and clicks before ``before``; return how many went."""
    with engine.begin() as conn:
        return int(conn.execute(reader_activity.delete()
                                .where(reader_activity.c.happened_at < before)).rowcount)
