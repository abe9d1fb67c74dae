"""What the provider says happened to the email: recorded once per event, applied to the
subscriber list, counted per issue.

Events arrive normalized (see web/sendgrid.py): a kind, the address, the provider's event
id, the issue from our own custom arguments, and when it happened. A hard bounce makes a
subscriber bounced, a spam report complained, an unsubscribe unsubscribed; the rest
(delivered, opened, clicked, deferred, ...) are only counted. An event seen before (the
provider retries for a day) changes nothing.

An event is stored under the SHA-256 of the provider's id (``key``): ids come in any
length, and the column's 100 characters once cut two events that shared a prefix into
one. Events recorded before that were stored under their id itself, so a retry of one of
them is looked up under its old key too (``_stored_whole``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.store import status as rules
from newsletter.store.db import events, subscribers

# An event kind -> the status it gives a subscriber who is still active.
STATUS_OF = {"bounce": "bounced", "spamreport": "complained", "unsubscribe": "unsubscribed",
             "group_unsubscribe": "unsubscribed"}


@dataclass(frozen=True)
class Event:
    id: str  # the provider's own, unique: what makes a retried post harmless
    kind: str  # bounce, spamreport, unsubscribe, delivered, open, click, ...
    email: str
    issue: str | None
    happened_at: dt.datetime | None


# Ids looked up under their old key per statement: well under SQLite's bound parameters.
_LOOKUP_CHUNK = 1000
_OLD_KEY_LENGTH = 100  # the column's length: longer ids were stored cut, so ambiguous


@dataclass(frozen=True)
class Recorded:
    new: int  # events not seen before
    statuses: int  # subscribers whose status they changed


def record(engine: Engine, batch: Sequence[Event]) -> Recorded:
    """Keep the events not seen before and apply them, in one transaction."""
    if not batch:
        return Recorded(0, 0)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        fresh = _insert_new(conn, batch, now)
        changed = 0
        for event in batch:
            status = STATUS_OF.get(event.kind)
            if status and key(event.id) in fresh:  # moved as status.py's table allows
                to = rules.Status(status)
                changed += conn.execute(update(subscribers).where(
                    subscribers.c.email_key == event.email.strip().lower(),
                    rules.condition(rules.FROM_PROVIDER[to], to))
                    .values(**rules.values(to, now))).rowcount
    return Recorded(len(fresh), changed)


def key(event_id: str) -> str:
    """What an event is stored under: the SHA-256 of the provider's id, 64 hex digits."""
    return hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()


def _row(event: Event, now: dt.datetime) -> dict[str, Any]:
    return {"id": key(event.id), "issue": (event.issue or None) and event.issue[:40],
            "kind": event.kind[:32], "happened_at": event.happened_at, "received_at": now}


def _old_key(event: Event) -> str | None:
    """The key the event had before keys were hashed: its id, when it fitted the column
    whole. (A longer id was stored cut, and so could be another event's.)"""
    return event.id if len(event.id) <= _OLD_KEY_LENGTH else None


def _stored_whole(conn: Connection, ids: set[str]) -> set[str]:
    """The ids among ``ids`` that were recorded under the id itself, before keys were
    hashed: SendGrid retries a post for a day, so a retry can span the upgrade."""
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
_PG_INSERT = ("INSERT INTO events (id, issue, kind, happened_at, received_at) "
              "SELECT u.id, u.issue, u.kind, u.happened_at, %(now)s FROM unnest("
              "%(ids)s::varchar[], %(olds)s::varchar[], %(issues)s::varchar[], "
              "%(kinds)s::varchar[], %(times)s::timestamptz[]) "
              "AS u(id, old, issue, kind, happened_at) "
              "WHERE u.old IS NULL OR NOT EXISTS (SELECT 1 FROM events e WHERE e.id = u.old) "
              "ON CONFLICT (id) DO NOTHING RETURNING id")


def _insert_new(conn: Connection, batch: Sequence[Event], now: dt.datetime) -> set[str]:
    """Insert the events not seen before; return their keys."""
    rows = [_row(event, now) for event in batch]
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        found = conn.exec_driver_sql(_PG_INSERT, {
            "now": now, "ids": [r["id"] for r in rows], "olds": [_old_key(e) for e in batch],
            "issues": [r["issue"] for r in rows], "kinds": [r["kind"] for r in rows],
            "times": [r["happened_at"] for r in rows]})
        return {row[0] for row in found}
    seen = _stored_whole(conn, {old for e in batch if (old := _old_key(e))})
    rows = [row for row, event in zip(rows, batch, strict=True) if event.id not in seen]
    if not rows:
        return set()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return set(conn.execute(dialect.insert(events).on_conflict_do_nothing(
        index_elements=["id"]).returning(events.c.id), rows).scalars().all())


def counts(engine: Engine, issue: str) -> dict[str, int]:
    """How many events of each kind the provider reported for an issue."""
    with engine.connect() as conn:
        rows = conn.execute(select(events.c.kind, func.count()).where(events.c.issue == issue)
                            .group_by(events.c.kind)).all()
    return {kind: int(n) for kind, n in rows}
