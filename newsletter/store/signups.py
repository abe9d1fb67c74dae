"""Requests to subscribe, queued: double opt-in without telling anyone who reads.

The form's answer does the same work whoever asked: it checks what was typed and queues
the request (one insert). Everything that depends on the address (is it a reader
already, did it bounce, how many emails went to it today) is decided later, by the
service's mailer (web/mailer.py), which claims queued requests one at a time, mails a
confirmation link where one is due, and forgets the rest. The queue is a table, so it
survives a restart and is shared by every instance of the service.

A request moves queued -> mailing (claimed; a claim older than :data:`LEASE` is taken
over) -> mailed, or is deleted (nothing to send, or the send kept failing). A mailed
request is confirmed once, by the link that names its key, and then spent; every other
request of the same address goes with it. Nothing a request says (name, timezone)
touches a reader on file: anyone may type anyone's address, and words meant for its
owner. The confirm page shows them to the owner as fields to change or clear, and what
the owner's confirming form says (:class:`Choice`) is what is saved.

What the consent record keeps is what the server knows: the service's own address and
the form's path, the time asked, the time confirmed and the confirming click's network
(its rate-limit bucket: the owner's consent, not the requester's), never what the client
claims (Origin, Referer). The requester's network stays with the request (the reader's
download lists it) until the request goes with its expired link; the reader's row has
one column for a network, and it holds the consent's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, or_, select, update

from newsletter.safetext import MAX_NAME, one_line
from newsletter.store import erased, welcomes
from newsletter.store import status as rules
from newsletter.store.db import new_key, signups, subscribers
from newsletter.store.status import LEFT, Cause, Status
from newsletter.store.subscribers import Subscriber, check_timezone, find, normalize, now

LEASE = dt.timedelta(minutes=5)  # a mailer that died while sending: another takes over
PER_HOUR, PER_DAY = 1, 3  # confirmation emails to one address
# A failed email is tried again after 1, 2, 4, ... minutes (at most an hour apart), and
# dropped after MAX_ATTEMPTS: a relay away for two hours loses no request.
RETRY_FIRST = dt.timedelta(minutes=1)
RETRY_MOST = dt.timedelta(hours=1)
MAX_ATTEMPTS = 8
MAX_QUEUED = 5_000  # past this the form asks people to come back later (whoever they are)
NEVER_MAILED = (Status.BOUNCED, Status.COMPLAINED)
# "Email me my link" goes through this queue too, so that its answer does exactly the
# work a request to subscribe does (one insert, whoever asks), and the per-address
# shares below count both kinds of email. Its source says which kind a request is; it
# is never confirmed (no confirmation link names its key).
LINK_SOURCE = "link request"
LINKED = (Status.ACTIVE, Status.PENDING)  # who is sent their link


@dataclass(frozen=True)
class Choice:
    """What the owner's confirming click says: the name and timezone the confirm page
    showed them, as they left them (None: cleared), and the click's network. ``seen`` is
    False for a click that sent no fields (a page of an earlier release, or a script):
    then the reader's name and timezone on file stay, and the request's are not used."""
    name: str | None = None
    timezone: str | None = None
    network: str | None = None
    seen: bool = True


UNSEEN = Choice(seen=False)


@dataclass(frozen=True)
class Signup:
    id: int
    key: str
    email: str
    name: str | None
    timezone: str | None
    source: str
    network: str | None
    state: str
    requested_at: dt.datetime


def queue(engine: Engine, address: str, *, name: str | None = None,
          timezone: str | None = None, source: str, network: str | None = None,
          at: dt.datetime | None = None) -> None:
    """Queue a request to subscribe ``address``: one insert, the same for every address.
    SubscriberError when the address or the timezone is not valid (about what was
    typed, not about the list)."""
    email, key = normalize(address)
    zone = check_timezone(timezone)
    with engine.begin() as conn:
        conn.execute(signups.insert().values(
            key=new_key(), email=email, email_key=key, name=one_line(name)[:MAX_NAME] or None,
            timezone=zone, source=source[:200], network=(network or "")[:64] or None,
            state="queued", requested_at=at or now()))


def is_link(signup: Signup) -> bool:
    """Whether ``signup`` asks for a reader's own link rather than to subscribe."""
    return signup.source == LINK_SOURCE


def waiting(engine: Engine) -> int:
    """How many requests wait to be mailed (the form's bound, the same for everyone)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(signups)
                                .where(signups.c.state == "queued")).scalar_one())


def claim(engine: Engine, at: dt.datetime | None = None) -> Signup | None:
    """The oldest request waiting (or one whose mailer died), claimed for this caller;
    None when there is none. A conditional update claims it, so two mailers never take
    the same request."""
    stamp = at or now()
    due = or_(and_(signups.c.state == "queued",
                   or_(signups.c.retry_at.is_(None), signups.c.retry_at <= stamp)),
              and_(signups.c.state == "mailing", signups.c.claimed_at < stamp - LEASE))
    with engine.begin() as conn:
        for row in conn.execute(select(signups).where(due).order_by(signups.c.id).limit(5)):
            taken = conn.execute(update(signups).where(
                signups.c.id == row.id, signups.c.state == row.state,
                or_(signups.c.claimed_at.is_(None), signups.c.claimed_at == row.claimed_at))
                .values(state="mailing", claimed_at=stamp)).rowcount
            if taken:
                return _signup(row)
    return None


def refusal(engine: Engine, signup: Signup, at: dt.datetime | None = None) -> str | None:
    """Why no confirmation email goes for ``signup`` (a reader already, an address that
    bounced or complained, the address's hourly or daily share used), or no link for a
    link request (no active or pending reader has the address); None when one is due.
    Words for the log, never for the person who asked."""
    stamp = at or now()
    reader = find(engine, signup.email)
    if is_link(signup) and (reader is None or reader.status not in LINKED):
        return "not a reader"
    if reader is not None and reader.status == Status.ACTIVE and not is_link(signup):
        return "already a reader"
    if reader is not None and reader.status in NEVER_MAILED:
        return f"the address {reader.status}"
    with engine.connect() as conn:
        hour = _mailed_since(conn, signup, stamp - dt.timedelta(hours=1))
        day = _mailed_since(conn, signup, stamp - dt.timedelta(days=1))
    if hour >= PER_HOUR:
        return "one went within the hour"
    if day >= PER_DAY:
        return f"{PER_DAY} went within the day"
    return None


def _mailed_since(conn: Connection, signup: Signup, since: dt.datetime) -> int:
    return int(conn.execute(select(func.count()).select_from(signups).where(
        signups.c.email_key == signup.email.lower(), signups.c.mailed_at >= since)
    ).scalar_one())


def mailed(engine: Engine, signup: Signup, at: dt.datetime | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(update(signups).where(signups.c.id == signup.id)
                     .values(state="mailed", mailed_at=at or now()))


def drop(engine: Engine, signup: Signup) -> None:
    """Forget a request that will not be mailed: nothing of a probe is kept."""
    with engine.begin() as conn:
        conn.execute(delete(signups).where(signups.c.id == signup.id))


def retry(engine: Engine, signup: Signup, at: dt.datetime | None = None) -> bool:
    """Put a request whose email did not go back in the queue, to be tried again after a
    wait that doubles with each try; False (and the request dropped) after
    :data:`MAX_ATTEMPTS` tries."""
    stamp = at or now()
    with engine.begin() as conn:
        tried = int(conn.execute(select(signups.c.attempts).where(signups.c.id == signup.id)
                                 ).scalar() or 0) + 1
        wait = min(RETRY_FIRST * 2 ** (tried - 1), RETRY_MOST)
        conn.execute(update(signups).where(signups.c.id == signup.id).values(
            state="queued", claimed_at=None, attempts=tried, retry_at=stamp + wait))
        gone = conn.execute(delete(signups).where(
            signups.c.id == signup.id, signups.c.attempts >= MAX_ATTEMPTS)).rowcount
    return not gone


def by_key(engine: Engine, key: str) -> Signup | None:
    with engine.connect() as conn:
        row = conn.execute(select(signups).where(signups.c.key == key)).first()
    return _signup(row) if row else None


def confirmable(engine: Engine, signup: Signup) -> bool:
    """Whether a request may still be confirmed: mailed and not spent, and not older than
    the reader's leaving (a link from before an unsubscribe confirms nothing; one from
    before an erasure is gone with the erasure)."""
    if signup.state != "mailed":
        return False
    with engine.connect() as conn:
        row = conn.execute(select(subscribers.c.status, subscribers.c.updated_at).where(
            subscribers.c.email_key == signup.email.lower())).first()
    if row is not None and row.status in LEFT:
        return signup.requested_at > row.updated_at  # type: ignore[no-any-return]
    return True


def confirm(engine: Engine, signup: Signup, at: dt.datetime | None = None, *,
            welcome: bool = False, chosen: Choice = UNSEEN) -> Subscriber:
    """Make the request's reader active (a new reader, or one on file: pending, or back
    after leaving), with a new link key, the name and timezone ``chosen`` on the confirm
    page (never the request's unseen), and the consent on record (the request's source
    and time, the confirming click's time and network); spend the request and every
    other of the same address. With ``welcome``, a reader this made active gets a
    welcome queued (once ever: welcomes.py). SubscriberError for a timezone that is not
    a canonical IANA name."""
    stamp = at or now()
    chosen = checked(chosen)
    values: dict[str, Any] = {
        "consent_source": signup.source, "opted_in_at": signup.requested_at,
        "opt_in_ip": chosen.network, "confirmed_at": stamp,
        **rules.values(Status.ACTIVE, stamp)}
    key = signup.email.lower()
    with engine.begin() as conn:
        spent = conn.execute(update(signups).where(signups.c.id == signup.id,
                                                   signups.c.state == "mailed")
                             .values(state="confirmed")).rowcount
        if spent and _make_active(conn, signup, key, chosen, values) and welcome:
            welcomes.queue(conn, conn.execute(select(subscribers.c.id).where(
                subscribers.c.email_key == key)).scalar_one(), stamp)
        if spent:
            erased.forgive(conn, key)  # erased once, back by their own confirmed request
            conn.execute(update(signups).where(signups.c.email_key == key,
                                               signups.c.id != signup.id,
                                               signups.c.state != "confirmed")
                         .values(state="confirmed"))
    found = find(engine, signup.email)
    assert found is not None
    return found


def checked(chosen: Choice) -> Choice:
    """``chosen`` as it is saved: the name on one line and at most 200 characters, the
    network bounded; SubscriberError for an unknown timezone."""
    return Choice(one_line(chosen.name)[:MAX_NAME] or None, check_timezone(chosen.timezone),
                  (chosen.network or "")[:64] or None, chosen.seen)


def _make_active(conn: Connection, signup: Signup, key: str, chosen: Choice,
                 values: dict[str, Any]) -> bool:
    """Whether the reader became active by this (not: active already)."""
    current = conn.execute(select(subscribers.c.id, subscribers.c.name,
                                  subscribers.c.timezone, subscribers.c.status)
                           .where(subscribers.c.email_key == key)).first()
    if current is None:  # new: the table lets a confirmation add them
        conn.execute(subscribers.insert().values(
            email=signup.email, email_key=key, name=chosen.name, timezone=chosen.timezone,
            created_at=values["confirmed_at"], **values))
        return True
    # Active already (subscribed since by other means): the condition matches nothing,
    # and their links stay.
    return bool(conn.execute(update(subscribers).where(
        subscribers.c.id == current.id, rules.condition(Cause.CONFIRM, Status.ACTIVE)).values(
        name=chosen.name if chosen.seen else current.name,
        timezone=chosen.timezone if chosen.seen else current.timezone, **values)).rowcount)


def prune(engine: Engine, asked_before: dt.datetime) -> int:
    """Delete requests made before ``asked_before`` (their links have expired, and the
    day's count no longer needs them); return how many."""
    with engine.begin() as conn:
        return int(conn.execute(delete(signups).where(
            signups.c.requested_at < asked_before)).rowcount)


def _signup(row: Any) -> Signup:
    return Signup(row.id, row.key, row.email, row.name, row.timezone, row.source,
                  row.network, row.state, row.requested_at)

