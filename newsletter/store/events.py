"""What the provider says happened to the email, in our own words: recorded once per
event, applied to the subscriber list, counted per issue.

Every provider's webhook (delivery/providers/NAME/webhook.py) turns its own events into
events of one vocabulary, ``Kind`` (store/vocabulary.py): accepted, delivered, deferred,
bounced (hard or soft, with the reason), dropped (with the suppression it names),
complained, unsubscribed, opened (by a person or a machine), clicked (with the URL). Nothing here
knows a provider's words. A hard bounce makes a subscriber bounced, a complaint
complained, an unsubscribe unsubscribed, a drop for a suppression what that suppression
says (:func:`status_of`); the rest are only counted. An event seen before (a provider
retries for a day) changes nothing.

An event is stored under the SHA-256 of the provider's id (``key``): ids come in any
length, and the column's 100 characters once cut two events that shared a prefix into
one. Events recorded before that were stored under their id itself, so a retry of one of
them is looked up under its old key too (``_stored_whole``).

A post is recorded in one transaction; when the database refuses a value in it, again an
event at a time, and only the events it refuses are left out (``record``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError

from newsletter.redact import addresses
from newsletter.store import activity, tallies
from newsletter.store import status as rules
from newsletter.store.db import event_counts, events, subscribers
from newsletter.store.vocabulary import (
    DETAIL_LENGTH,
    REASON_LENGTH,
    URL_LENGTH,
    Detail,
    Event,
    Kind,
    status_of,
)

log = logging.getLogger(__name__)

__all__ = ["DETAIL_LENGTH", "REASON_LENGTH", "URL_LENGTH", "Detail", "Event", "Kind",
           "Recorded", "breakdown", "count_clicks", "counts", "key", "record",
           "status_of"]


# Ids looked up under their old key per statement: well under SQLite's bound parameters.
_LOOKUP_CHUNK = 1000
_OLD_KEY_LENGTH = 100  # the column's length: longer ids were stored cut, so ambiguous


@dataclass(frozen=True)
class Recorded:
    new: int  # events not seen before
    statuses: int  # subscribers whose status they changed
    refused: int = 0  # events the database refused, left out (``record``)


# What the database says of a value of one event (PEP 249): DataError, a value it cannot
# take (a NUL in text, a number or a time out of range, text too long); IntegrityError, a
# row a constraint refuses. Either is about that event alone. Anything else (the database
# gone, a table missing) is about every event, and fails the post, so that the provider
# retries it once the database is back.
_REFUSALS = (DataError, IntegrityError)


def record(engine: Engine, batch: Sequence[Event], *, individual: bool = False) -> Recorded:
    """Keep the events not seen before and apply them, in one transaction; with
    ``individual`` (``tracking: individual``), each new open and click is kept for its
    reader too (store/activity.py).

    When the database refuses a value of the post, each event is recorded again in a
    transaction of its own, and those it still refuses are left out (``refused``, and a
    log line): a provider posts up to a thousand events at once and retries a failed post
    for a day, so one event it cannot store would otherwise lose the rest of its post,
    at every retry."""
    if not batch:
        return Recorded(0, 0)
    now = dt.datetime.now(dt.UTC)
    try:
        with engine.begin() as conn:
            return _apply(conn, batch, now, individual)
    except _REFUSALS:
        pass  # (not in the handler: the error would be chained to each new one)
    return _one_by_one(engine, batch, now, individual)


def _one_by_one(engine: Engine, batch: Sequence[Event], now: dt.datetime,
                individual: bool) -> Recorded:
    """``record`` an event at a time, leaving out each that the database refuses."""
    new = statuses = 0
    refused: list[str] = []
    for event in batch:
        try:
            with engine.begin() as conn:
                done = _apply(conn, [event], now, individual)
        except _REFUSALS as exc:
            # The error's class, never its message: it quotes the values, the address too.
            refused.append(f"{Kind(event.kind).value} {type(exc.orig).__name__}")
            continue
        new, statuses = new + done.new, statuses + done.statuses
    if refused:
        log.warning("the database refused %d of %d events of a post; the rest are recorded "
                    "(%s)", len(refused), len(batch), ", ".join(sorted(set(refused))))
    return Recorded(new, statuses, len(refused))


def _apply(conn: Connection, batch: Sequence[Event], now: dt.datetime,
           individual: bool) -> Recorded:
    """Insert the new events, count them, and move the subscribers they name."""
    fresh = _insert_new(conn, batch, now)
    new = list({key(e.id): e for e in reversed(batch) if key(e.id) in fresh}.values())
    tallies.add(conn, new)
    if individual:
        activity.add(conn, [replace(e, reader=None) for e in new], now)
    changed = 0
    for event in batch:
        to = status_of(event)
        if to and key(event.id) in fresh:  # moved as status.py's table allows
            cause = rules.Cause.DROPPED if event.kind is Kind.DROPPED else \
                rules.FROM_PROVIDER[to]
            changed += conn.execute(update(subscribers).where(
                subscribers.c.email_key == event.email.strip().lower(),
                rules.condition(cause, to))
                .values(**rules.values(to, now))).rowcount
    return Recorded(len(fresh), changed)


def key(event_id: str) -> str:
    """What an event is stored under: the SHA-256 of the provider's id, 64 hex digits."""
    return hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()


def _row(event: Event, now: dt.datetime) -> dict[str, Any]:
    # The reason may quote the address (a bounce's "550 5.1.1 <ann@...>"): never kept.
    reason = addresses(event.reason)[:REASON_LENGTH] if event.reason else None
    return {"id": key(event.id), "issue": (event.issue or None) and event.issue[:40],
            "kind": Kind(event.kind).value, "happened_at": event.happened_at,
            "received_at": now, "detail": event.detail and Detail(event.detail).value,
            "reason": reason, "url": event.url[:URL_LENGTH] if event.url else None}


def _old_key(event: Event) -> str | None:
    """The key the event had before keys were hashed: its id, when it fitted the column
    whole. (A longer id was stored cut, and so could be another event's.)"""
    return event.id if len(event.id) <= _OLD_KEY_LENGTH else None


def _stored_whole(conn: Connection, ids: set[str]) -> set[str]:
    """The ids among ``ids`` that were recorded under the id itself, before keys were
    hashed: a provider retries a post for a day, so a retry can span the upgrade."""
    whole = sorted(ids)
    found: set[str] = set()
    for start in range(0, len(whole), _LOOKUP_CHUNK):
        chunk = whole[start:start + _LOOKUP_CHUNK]
        found.update(conn.execute(select(events.c.id).where(events.c.id.in_(chunk))).scalars())
    return found


# PostgreSQL: the whole post as six arrays in one statement whose text never changes. A
# multi-row VALUES of a thousand events is a new statement of 5,000 placeholders each
# time, and parsing it cost more than the database's own work. The old key of each event
# is looked up in the same statement, one index probe a row.
_PG_INSERT = ("INSERT INTO events (id, issue, kind, happened_at, received_at, detail, reason, "
              "url) SELECT u.id, u.issue, u.kind, u.happened_at, %(now)s, u.detail, u.reason, "
              "u.url FROM unnest("
              "%(ids)s::varchar[], %(olds)s::varchar[], %(issues)s::varchar[], "
              "%(kinds)s::varchar[], %(times)s::timestamptz[], %(details)s::varchar[], "
              "%(reasons)s::varchar[], %(urls)s::varchar[]) "
              "AS u(id, old, issue, kind, happened_at, detail, reason, url) "
              "WHERE u.old IS NULL OR NOT EXISTS (SELECT 1 FROM events e WHERE e.id = u.old) "
              "ON CONFLICT (id) DO NOTHING RETURNING id")


def _insert_new(conn: Connection, batch: Sequence[Event], now: dt.datetime) -> set[str]:
    """Insert the events not seen before; return their keys."""
    rows = [_row(event, now) for event in batch]
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        found = conn.exec_driver_sql(_PG_INSERT, {
            "now": now, "ids": [r["id"] for r in rows], "olds": [_old_key(e) for e in batch],
            "issues": [r["issue"] for r in rows], "kinds": [r["kind"] for r in rows],
            "times": [r["happened_at"] for r in rows],
            "details": [r["detail"] for r in rows], "reasons": [r["reason"] for r in rows],
            "urls": [r["url"] for r in rows]})
        return {row[0] for row in found}
    seen = _stored_whole(conn, {old for e in batch if (old := _old_key(e))})
    rows = [row for row, event in zip(rows, batch, strict=True) if event.id not in seen]
    if not rows:
        return set()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return set(conn.execute(dialect.insert(events).on_conflict_do_nothing(
        index_elements=["id"]).returning(events.c.id), rows).scalars().all())


def count_clicks(engine: Engine, clicked: Sequence[Event]) -> None:
    """Add clicks (and opens of the service's pixel) to their issue's counts, without
    keeping each as an event: the readers' service's own, which no provider retries (so
    they need no id). Those naming a reader (``reader``, at the individual level) are
    kept for that reader too, when the reader is still on file."""
    with engine.begin() as conn:
        tallies.add(conn, clicked)
        named = [e for e in clicked if e.reader]
        if named:
            activity.add(conn, named, dt.datetime.now(dt.UTC))


def counts(engine: Engine, issue: str) -> dict[str, int]:
    """How many events of each kind the provider reported for an issue, by our words."""
    return {kind: sum(n.values()) for kind, n in breakdown(engine, issue).items()}


def breakdown(engine: Engine, issue: str) -> dict[str, dict[str, int]]:
    """The counts of :func:`counts`, each split by detail ('' where there is none): how
    many bounces were hard, how many opens were a machine's."""
    with engine.connect() as conn:
        rows = conn.execute(select(event_counts.c.kind, event_counts.c.detail,
                                   func.sum(event_counts.c.count))
                            .where(event_counts.c.issue == issue)
                            .group_by(event_counts.c.kind, event_counts.c.detail)).all()
    found: dict[str, dict[str, int]] = {}
    for kind, detail, n in rows:
        found.setdefault(kind, {})[detail or ""] = int(n)
    return found


def prune(engine: Engine, before: dt.datetime) -> int:
    """Remove events received before ``before``; return how many went. The events' own
    retention, apart from the sends': ``newsletter prune`` asks for both."""
    with engine.begin() as conn:
        return int(conn.execute(events.delete().where(events.c.received_at < before)).rowcount)
