"""Double opt-in: a reader asks, the list mails them a link, their click confirms.

A request records the reader as ``pending`` (or, for one who had left, notes the request
and leaves them as they are) with where it came from; confirming makes them ``active``
and records when. The answer to a request never says whether the address was known: the
caller shows the same page whatever happened. At most one confirmation email goes to an
address an hour, decided by one conditional UPDATE so that two instances of the service
answering at the same instant send one.

What is kept about a reader can be read back whole (:func:`record`), for the download
on their preferences page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, or_, select, update
from sqlalchemy.exc import IntegrityError

from newsletter.errors import SubscriberError
from newsletter.safetext import one_line
from newsletter.store.db import batches, deliveries, holding, sends, subscribers
from newsletter.store.subscribers import Subscriber, check_timezone, find_by_id, normalize, now

RESEND_AFTER = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Request:
    """What a subscribe request came to: whom to mail a confirmation link, if anyone."""

    subscriber_id: int
    email: str
    name: str | None
    send: bool  # a confirmation email is due now (not already active, none in the hour)


def request(engine: Engine, address: str, *, name: str | None = None,
            timezone: str | None = None, source: str = "form",
            at: dt.datetime | None = None) -> Request:
    """Record that ``address`` asked to subscribe; SubscriberError when the address or the
    timezone is not valid (that much the form may say)."""
    email, key = normalize(address)
    zone = check_timezone(timezone)
    name = one_line(name)[:200] or None
    stamp = at or now()
    with engine.begin() as conn:
        row = _by_key(conn, key)
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(subscribers.insert().values(
                        email=email, email_key=key, name=name, timezone=zone,
                        status="pending", created_at=stamp, updated_at=stamp,
                        consent_source=source[:200], requested_at=stamp))
            except IntegrityError:  # the same address, at the same instant, elsewhere
                pass
            row = _by_key(conn, key)
            assert row is not None
        elif row.status != "active":
            # Pending, or had left: the request is noted; only confirming changes them.
            conn.execute(update(subscribers).where(subscribers.c.id == row.id).values(
                requested_at=stamp, consent_source=source[:200],
                name=name or row.name, timezone=zone or row.timezone))
    if row.status == "active":
        return Request(row.id, row.email, row.name, send=False)
    return Request(row.id, row.email, name or row.name, send=_claim_send(engine, row.id, stamp))


def _by_key(conn: Connection, key: str) -> Any:
    return conn.execute(select(subscribers).where(subscribers.c.email_key == key)).first()


def _claim_send(engine: Engine, subscriber_id: int, stamp: dt.datetime) -> bool:
    """Whether this request may send the confirmation email: none went in the last hour.
    One statement, so concurrent requests claim it once."""
    with engine.begin() as conn:
        return bool(conn.execute(update(subscribers).where(
            subscribers.c.id == subscriber_id,
            or_(subscribers.c.confirm_sent_at.is_(None),
                subscribers.c.confirm_sent_at <= stamp - RESEND_AFTER))
            .values(confirm_sent_at=stamp)).rowcount)


def release_send(engine: Engine, subscriber_id: int) -> None:
    """The confirmation email could not be sent: let the next request try again."""
    with engine.begin() as conn:
        conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id)
                     .values(confirm_sent_at=None))


def awaiting(engine: Engine, subscriber_id: int, made: dt.date) -> Subscriber | None:
    """The reader a confirmation link made on ``made`` is for, if it still has something
    to confirm: they asked (pending, or came back after leaving) no later than that day.
    None when there is nothing to confirm (already active, erased, or a link older than
    their last change of mind)."""
    with engine.connect() as conn:
        row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
    if row is None or row.status == "active" or row.requested_at is None:
        return None
    asked = row.requested_at if row.requested_at.tzinfo else \
        row.requested_at.replace(tzinfo=dt.UTC)
    if asked.date() > made:
        return None  # a link from before a later request still works; not one from before
    return find_by_id(engine, subscriber_id)


def confirm(engine: Engine, subscriber_id: int, at: dt.datetime | None = None) -> bool:
    """Make a reader who asked active; False when there was nothing to confirm."""
    stamp = at or now()
    with engine.begin() as conn:
        return bool(conn.execute(update(subscribers).where(
            subscribers.c.id == subscriber_id, subscribers.c.status != "active",
            subscribers.c.requested_at.is_not(None))
            .values(status="active", confirmed_at=stamp, requested_at=None,
                    updated_at=stamp)).rowcount)


def drop_unconfirmed(engine: Engine, asked_before: dt.datetime) -> int:
    """Erase readers who asked before ``asked_before`` and never confirmed (their link has
    expired: an address nobody confirmed is not kept), and forget the stale requests of
    readers who had left; return how many readers were erased."""
    with engine.begin() as conn:
        gone = conn.execute(subscribers.delete().where(
            subscribers.c.status == "pending",
            subscribers.c.requested_at < asked_before)).rowcount
        conn.execute(update(subscribers).where(
            subscribers.c.status != "pending", subscribers.c.requested_at < asked_before)
            .values(requested_at=None))
    return int(gone)


def leave(engine: Engine, subscriber_id: int) -> bool:
    """Unsubscribe a reader by number (their own request), cancelling any outstanding
    confirmation; False when they were not active."""
    with engine.begin() as conn:
        return bool(conn.execute(update(subscribers).where(
            subscribers.c.id == subscriber_id, subscribers.c.status.in_(("active", "pending")))
            .values(status="unsubscribed", requested_at=None, updated_at=now())).rowcount)


def set_preferences(engine: Engine, subscriber_id: int, *, name: str | None,
                    timezone: str | None) -> None:
    """A reader's own name and timezone (empty clears them); SubscriberError for a zone
    that does not exist."""
    zone = check_timezone(timezone)
    with engine.begin() as conn:
        conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(
            name=one_line(name)[:200] or None, timezone=zone, updated_at=now()))


def forget(engine: Engine, subscriber_id: int) -> None:
    """Erase a reader and their delivery records, by number (their own request)."""
    found = find_by_id(engine, subscriber_id)
    if found is None:
        raise SubscriberError("nothing is stored about this reader any more")
    from newsletter.store.subscribers import forget as forget_address

    forget_address(engine, found.email)


def record(engine: Engine, subscriber_id: int) -> dict[str, Any] | None:
    """Everything kept about one reader: their row, the consent on record, and the issues
    sent to them. A send keeps no row for a reader it reached (only a number); the
    finished sends begun while the reader was subscribed are listed as such."""
    with engine.connect() as conn:
        row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
        if row is None:
            return None
        own = [(issue, state) for issue, state in conn.execute(
            select(deliveries.c.issue, deliveries.c.state).where(
                deliveries.c.subscriber_id == subscriber_id))]
        # A send under way holds the reader on a batch's list until the batch goes.
        own += [(issue, "uncertain" if state == "uncertain" else "pending")
                for issue, state in conn.execute(select(batches.c.issue, batches.c.state)
                                                 .where(holding(subscriber_id)))]
        own.sort()
        known = {issue for issue, _ in own}
        since = row.confirmed_at or row.created_at
        finished = conn.execute(select(sends.c.issue, sends.c.created_at).where(
            sends.c.compacted_at.is_not(None), sends.c.cancelled_at.is_(None),
            sends.c.created_at >= since).order_by(sends.c.issue)).all()
    left_at = _aware(row.updated_at) if row.status != "active" else None
    return {
        "email": row.email, "name": row.name, "timezone": row.timezone, "status": row.status,
        "subscribed_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
        "consent": {"source": row.consent_source, "requested_at": _iso(row.requested_at),
                    "confirmed_at": _iso(row.confirmed_at),
                    "confirmation_sent_at": _iso(row.confirm_sent_at)},
        "deliveries": [{"issue": issue, "state": state} for issue, state in own],
        "issues_sent_while_subscribed": [
            issue for issue, begun in finished if issue not in known and
            (left_at is None or _aware(begun) <= left_at)],
    }


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _iso(value: dt.datetime | None) -> str | None:
    return _aware(value).isoformat() if value is not None else None
