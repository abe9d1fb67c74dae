"""Each confirmed reader's welcome email, sent once whatever repeats.

A row is made by the transaction that confirms the reader (``queue``, called from
signups.py and consent.py), keyed by the reader's number: a second confirmation, a
restart or a second instance of the service finds it there and makes none. The
service's mailer claims a row (queued -> mailing, a conditional update: of two mailers
one wins) before the email leaves, and marks it sent after. What may have left is
never sent again: a claim older than :data:`LEASE` (its process died mid-send) and a
send that got no answer become ``uncertain``. A send refused before anything left is
tried again, later, up to :data:`MAX_ATTEMPTS` times. Erasing a reader erases the row.

    queued -> mailing -> sent | uncertain
       ^         |
       +-- retry +-> failed (attempts spent) | skipped (no longer a reader)
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, Engine, or_, select, update

from newsletter.store.db import welcomes

LEASE = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 6
RETRY_FIRST = dt.timedelta(minutes=1)


def queue(conn: Connection, subscriber_id: int, at: dt.datetime) -> None:
    """A welcome for the reader, unless they have one (sent or not) already."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    conn.execute(insert(welcomes).values(subscriber_id=subscriber_id, state="queued",
                                         attempts=0, queued_at=at)
                 .on_conflict_do_nothing(index_elements=["subscriber_id"]))


def claim(engine: Engine, at: dt.datetime) -> int | None:
    """The number of a reader whose welcome is due, now claimed by this caller; None
    when there is none. Claims that outlived their lease are made uncertain first."""
    with engine.begin() as conn:
        conn.execute(update(welcomes).where(welcomes.c.state == "mailing",
                                            welcomes.c.claimed_at < at - LEASE)
                     .values(state="uncertain"))
    for _ in range(5):  # another mailer may take the one we saw: look again
        with engine.begin() as conn:
            found = conn.execute(select(welcomes.c.subscriber_id).where(
                welcomes.c.state == "queued",
                or_(welcomes.c.retry_at.is_(None), welcomes.c.retry_at <= at))
                .order_by(welcomes.c.subscriber_id).limit(1)).scalar()
            if found is None:
                return None
            if _move(conn, found, "queued", "mailing", claimed_at=at):
                return int(found)
    return None


def sent(engine: Engine, subscriber_id: int, at: dt.datetime) -> None:
    with engine.begin() as conn:
        _move(conn, subscriber_id, "mailing", "sent", sent_at=at)


def end(engine: Engine, subscriber_id: int, state: str) -> None:
    """A claimed welcome that ends unsent: uncertain, or skipped."""
    with engine.begin() as conn:
        _move(conn, subscriber_id, "mailing", state)


def retry(engine: Engine, subscriber_id: int, at: dt.datetime) -> bool:
    """Back in the queue for later (1, 2, 4, ... minutes), or failed when its attempts
    are spent; whether it will be tried again."""
    with engine.begin() as conn:
        attempts = conn.execute(select(welcomes.c.attempts).where(
            welcomes.c.subscriber_id == subscriber_id)).scalar() or 0
        again = attempts + 1 < MAX_ATTEMPTS
        _move(conn, subscriber_id, "mailing", "queued" if again else "failed",
              attempts=attempts + 1, retry_at=at + RETRY_FIRST * 2 ** attempts)
    return again


def state(engine: Engine, subscriber_id: int) -> str | None:
    with engine.connect() as conn:
        found = conn.execute(select(welcomes.c.state).where(
            welcomes.c.subscriber_id == subscriber_id)).scalar()
    return None if found is None else str(found)


def _move(conn: Connection, subscriber_id: int, old: str, new: str,
          **values: object) -> bool:
    return bool(conn.execute(update(welcomes).where(
        welcomes.c.subscriber_id == subscriber_id, welcomes.c.state == old)
        .values(state=new, **values)).rowcount)
