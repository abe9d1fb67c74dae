"""A reader's own changes and records: leaving, preferences, erasing, and everything
kept about them, read back whole (:func:`record`) for the download on their page.

Requests to subscribe wait in a queue (signups.py). Readers who asked before the queue
existed are ``pending`` rows whose links name their row number: :func:`awaiting` and
:func:`confirm` still honour those links for them, and :func:`drop_unconfirmed` erases
them once the links have expired.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Engine, select, update

from newsletter.errors import SubscriberError
from newsletter.safetext import MAX_NAME, one_line
from newsletter.store import erased, signups, tallies, welcomes
from newsletter.store import status as rules
from newsletter.store.db import (
    deliveries,
    holding,
    sends,
    subscribers,
)
from newsletter.store.db import signups as requests
from newsletter.store.status import Absent, Cause, Status
from newsletter.store.subscribers import Subscriber, check_timezone, find_by_id, now


def awaiting(engine: Engine, subscriber_id: int, made: dt.date) -> Subscriber | None:
    """For a confirmation link of the kind made before the queue (it names a row number):
    the reader it was made for, if they still hold such links and have something to
    confirm: they asked no later than that day (pending, or back after leaving) and have
    not changed their mind since (leaving clears the request; new requests go to the
    queue and never set it). None when there is nothing to confirm."""
    with engine.connect() as conn:
        row = conn.execute(select(subscribers).where(
            subscribers.c.id == subscriber_id, subscribers.c.legacy_links.is_(True))).first()
    if row is None or row.status == Status.ACTIVE or row.requested_at is None:
        return None
    if row.requested_at.date() > made:
        return None  # a link from before a later request still works; not one from before
    return find_by_id(engine, subscriber_id)


def confirm(engine: Engine, subscriber_id: int, at: dt.datetime | None = None, *,
            welcome: bool = False, chosen: signups.Choice = signups.UNSEEN) -> bool:
    """Make a reader who asked (by a link of the kind before the queue) active; False
    when there was nothing to confirm. Their request's time stays on record, with the
    name and timezone ``chosen`` on the confirm page (unseen: the row's stay) and the
    confirming click's network; they come back with a new link key, so links made
    before they left act for them no more. With ``welcome``, the reader gets a welcome
    queued (once ever: welcomes.py)."""
    stamp = at or now()
    chosen = signups.checked(chosen)
    mine: dict[str, Any] = {"name": chosen.name, "timezone": chosen.timezone} \
        if chosen.seen else {}
    if chosen.network:
        mine["opt_in_ip"] = chosen.network
    with engine.begin() as conn:
        key = conn.execute(select(subscribers.c.email_key).where(
            subscribers.c.id == subscriber_id)).scalar()
        if key is not None:
            erased.forgive(conn, key)
        made = bool(conn.execute(update(subscribers).where(
            subscribers.c.id == subscriber_id, rules.condition(Cause.CONFIRM, Status.ACTIVE),
            subscribers.c.legacy_links.is_(True), subscribers.c.requested_at.is_not(None))
            .values(confirmed_at=stamp, opted_in_at=subscribers.c.requested_at, **mine,
                    **rules.values(Status.ACTIVE, stamp))).rowcount)
        if made and welcome:
            welcomes.queue(conn, subscriber_id, stamp)
        return made


def drop_unconfirmed(engine: Engine, asked_before: dt.datetime) -> int:
    """Erase readers who asked before ``asked_before`` and never confirmed (their link has
    expired: an address nobody confirmed is not kept), and forget the stale requests of
    readers who had left; return how many readers were erased."""
    with engine.begin() as conn:
        gone = conn.execute(subscribers.delete().where(
            rules.condition(Cause.EXPIRY, Absent.ERASED),
            subscribers.c.requested_at < asked_before)).rowcount
        conn.execute(update(subscribers).where(
            subscribers.c.status != Status.PENDING, subscribers.c.requested_at < asked_before)
            .values(requested_at=None))
    return int(gone)


def leave(engine: Engine, subscriber_id: int, made: int | None = None) -> bool:
    """Unsubscribe a reader by number (their own request, by an unsubscribe link made on
    day ``made``, which names the issue they left from: tallies.count_left), cancelling
    any outstanding confirmation; False when the table moved nobody (they had left
    already, for whatever reason: see status.py)."""
    to = Status.UNSUBSCRIBED
    with engine.begin() as conn:
        moved = bool(conn.execute(update(subscribers).where(
            subscribers.c.id == subscriber_id, rules.condition(Cause.UNSUBSCRIBE_LINK, to))
            .values(**rules.values(to, now()))).rowcount)
        if moved and made is not None:
            tallies.count_left(conn, made)
        return moved


def set_preferences(engine: Engine, subscriber_id: int, *, name: str | None,
                    timezone: str | None) -> None:
    """A reader's own name and timezone (empty clears them); SubscriberError for a zone
    that does not exist."""
    zone = check_timezone(timezone)
    with engine.begin() as conn:
        conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(
            name=one_line(name)[:MAX_NAME] or None, timezone=zone, updated_at=now()))


def forget(engine: Engine, subscriber_id: int) -> None:
    """Erase a reader and their delivery records, by number (their own request)."""
    found = find_by_id(engine, subscriber_id)
    if found is None:
        raise SubscriberError("nothing is stored about this reader any more")
    from newsletter.store.subscribers import forget as forget_address

    forget_address(engine, found.email, Cause.OWN_PAGE)


def record(engine: Engine, subscriber_id: int) -> dict[str, Any] | None:
    """Everything kept about one reader: their row, the consent on record, their requests
    to subscribe still kept, and the issues sent to them. (Their link key is a credential,
    not data about them, and is left out.) A send keeps no row for a reader it reached
    (only a number); the finished sends begun while the reader was subscribed are listed
    as such."""
    with engine.connect() as conn:
        row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
        if row is None:
            return None
        own = [(issue, state) for issue, state in conn.execute(
            select(deliveries.c.issue, deliveries.c.state).where(
                deliveries.c.subscriber_id == subscriber_id))]
        # A send under way holds the reader on a batch's list until the batch goes.
        own += [(issue, "uncertain" if state == "uncertain" else "pending")
                for issue, _, state in holding(conn, subscriber_id)]
        own.sort()
        known = {issue for issue, _ in own}
        asked = conn.execute(select(requests.c.requested_at, requests.c.network,
                                    requests.c.state, requests.c.mailed_at)
                             .where(requests.c.email_key == row.email_key)
                             .order_by(requests.c.id)).all()
        since = row.confirmed_at or row.created_at
        finished = conn.execute(select(sends.c.issue, sends.c.created_at).where(
            sends.c.compacted_at.is_not(None), sends.c.cancelled_at.is_(None),
            sends.c.created_at >= since).order_by(sends.c.issue)).all()
    left_at = row.updated_at if row.status != Status.ACTIVE else None
    return {
        "email": row.email, "name": row.name, "timezone": row.timezone, "status": row.status,
        "subscribed_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
        "tags": json.loads(row.tags) if row.tags else [],
        "consent": {"source": row.consent_source,
                    "opted_in_at": _iso(row.opted_in_at),
                    "opt_in_ip": row.opt_in_ip,
                    "confirmed_at": _iso(row.confirmed_at),
                    # A request from before the queue still waiting, and its email.
                    "requested_at": _iso(row.requested_at),
                    "confirmation_sent_at": _iso(row.confirm_sent_at)},
        # Requests to subscribe made with this address (the form's queue), kept until
        # their link expires: when, from which network, and what became of each.
        "requests": [{"requested_at": _iso(r.requested_at), "network": r.network,
                      "state": r.state, "mailed_at": _iso(r.mailed_at)} for r in asked],
        "deliveries": [{"issue": issue, "state": state} for issue, state in own],
        "issues_sent_while_subscribed": [
            issue for issue, begun in finished if issue not in known and
            (left_at is None or begun <= left_at)],
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
