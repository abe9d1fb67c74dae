"""Subscribers: who gets the newsletter, and who asked not to.

An address is stored as its owner wrote it (after email-validator's normalisation) and
compared by ``email_key``, its lower-cased form, so one person is one row however they
type it. Nobody who left is ever made active again without an explicit ``reactivate``.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Connection, Engine, delete, func, select, update

from newsletter import timing, tokens
from newsletter.errors import SubscriberError
from newsletter.safetext import for_spreadsheet, one_line
from newsletter.store import csvfile, erased
from newsletter.store.db import (
    batches,
    deliveries,
    holding,
    reader_ids,
    readers_text,
    signups,
    subscribers,
    sync_marks,
)

STATUSES = ("active", "unsubscribed", "bounced", "complained", "pending")
LEFT = ("unsubscribed", "bounced", "complained")  # what a reader can be marked by hand
CSV_FIELDS = ("email", "name", "timezone", "status", "created_at")
_CHUNK = 5_000


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str | None
    timezone: str | None
    status: str
    created_at: dt.datetime


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def normalize(address: str) -> tuple[str, str]:
    """``(address as stored, key it is compared by)``; SubscriberError when invalid."""
    address = address.strip()
    local, _, domain = address.rpartition("@")
    normalized = None
    if _PLAIN_LOCAL.fullmatch(local) and len(address) <= 254:
        # The common case, a million times in an import: a plain local part is valid as
        # it is, so only the domain needs email-validator, once per domain.
        with contextlib.suppress(SubscriberError):  # then the whole address says why
            normalized = f"{local}@{_domain(domain)}"
    normalized = normalized or _validated(address)
    return normalized, normalized.lower()


# RFC 5322's dot-atom, ASCII, at most 64 characters: email-validator takes it unchanged.
_PLAIN_LOCAL = re.compile(r"(?=.{1,64}$)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
                          r"(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def _validated(address: str) -> str:
    try:
        return str(validate_email(address, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise SubscriberError(f"{address!r} is not a valid address: {exc}") from None


@functools.lru_cache(maxsize=65536)
def _domain(domain: str) -> str:
    """The domain as email-validator normalizes it (SubscriberError, as for the whole
    address, when it is not one)."""
    try:
        return str(validate_email(f"x@{domain}", check_deliverability=False).domain)
    except EmailNotValidError:
        raise SubscriberError(domain) from None


def check_timezone(value: str | None) -> str | None:
    if not value:
        return None
    try:
        timing.zone(value)
    except timing.UnknownZone as exc:
        raise SubscriberError(str(exc)) from None
    return value


def _row(row: Any) -> Subscriber:
    return Subscriber(row.id, row.email, row.name, row.timezone, row.status, row.created_at)


def find(engine: Engine, address: str) -> Subscriber | None:
    _, key = normalize(address)
    with engine.connect() as conn:
        row = conn.execute(select(subscribers).where(subscribers.c.email_key == key)).first()
    return _row(row) if row else None


def find_by_id(engine: Engine, subscriber_id: int) -> Subscriber | None:
    with engine.connect() as conn:
        row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
    return _row(row) if row else None


def find_by_link(engine: Engine, secret: bytes, token: str,
                 purpose: str = "unsubscribe") -> Subscriber | None:
    """The subscriber a link's token names (None when they were erased since);
    SubscriberError when the token is not ours or not for ``purpose``. Links of the first
    kind, which carry the address, still work for unsubscribing."""
    if tokens.is_current(token):
        return find_by_id(engine, tokens.read(secret, token, purpose))
    if purpose != "unsubscribe":
        raise SubscriberError("the link was made for something else")
    return find(engine, tokens.verify(secret, token))


def unsubscribe_by_link(engine: Engine, secret: bytes, token: str) -> None:
    """Unsubscribe whoever an unsubscribe link names, in one statement (the one-click
    path, which answers the same whether they were active, had left, or were erased);
    SubscriberError when the token is not ours or not for unsubscribing."""
    if tokens.is_current(token):
        condition = subscribers.c.id == tokens.read(secret, token, "unsubscribe")
    else:
        condition = subscribers.c.email_key == tokens.verify(secret, token)
    with engine.begin() as conn:
        conn.execute(update(subscribers).where(condition, subscribers.c.status == "active")
                     .values(status="unsubscribed", updated_at=now()))


def add(engine: Engine, address: str, *, name: str | None = None, timezone: str | None = None,
        reactivate: bool = False, source: str = "command") -> Subscriber:
    """Subscribe one address; an address that left comes back only with ``reactivate``
    (one still to confirm needs no more than this: the person adding them vouches).
    ``source`` is kept as the consent on record. An address erased at its owner's request
    is refused whatever is passed: the law asks for a new request they confirm, which no
    one can vouch for in their place."""
    name = one_line(name) or None  # a line break in a name would break the To header
    email, key = normalize(address)
    zone = check_timezone(timezone)
    with engine.connect() as conn:
        when = erased.when_erased(conn, key)
    if when is not None:
        raise SubscriberError(f"{erased_text(email, when)} (the subscribe form, /subscribe); "
                              "--reactivate cannot bring them back")
    existing = find(engine, email)
    if existing and existing.status == "active":
        raise SubscriberError(f"{existing.email} is already subscribed")
    if existing and existing.status != "pending" and not reactivate:
        raise SubscriberError(f"{existing.email} is {existing.status}; pass --reactivate if they "
                              "asked to subscribe again")
    stamp = now()
    with engine.begin() as conn:
        if existing:
            conn.execute(update(subscribers).where(subscribers.c.id == existing.id).values(
                status="active", name=name or existing.name,
                timezone=zone or existing.timezone, updated_at=stamp,
                consent_source=source[:200], requested_at=None))
        else:
            conn.execute(subscribers.insert().values(
                email=email, email_key=key, name=name, timezone=zone, status="active",
                created_at=stamp, updated_at=stamp, consent_source=source[:200]))
    found = find(engine, email)
    assert found is not None
    return found


def set_status(engine: Engine, address: str, status: str) -> Subscriber:
    """Mark a subscriber unsubscribed, bounced or complained (or active, explicitly)."""
    if status not in STATUSES:
        raise SubscriberError(f"unknown status {status!r}; one of: {', '.join(STATUSES)}")
    existing = find(engine, address)
    if existing is None:
        raise SubscriberError(f"{address} is not a subscriber")
    with engine.begin() as conn:
        conn.execute(update(subscribers).where(subscribers.c.id == existing.id)
                     .values(status=status, updated_at=now()))
    return Subscriber(existing.id, existing.email, existing.name, existing.timezone, status,
                      existing.created_at)


def mark_left(engine: Engine, addresses: Iterable[str], status: str) -> int:
    """Give every active subscriber among ``addresses`` the status ``status`` (what a
    provider's suppression list says); return how many changed."""
    keys = sorted({a.strip().lower() for a in addresses if a and a.strip()})
    changed, stamp = 0, now()
    with engine.begin() as conn:
        for start in range(0, len(keys), 1000):
            changed += conn.execute(update(subscribers).where(
                subscribers.c.email_key.in_(keys[start:start + 1000]),
                subscribers.c.status == "active").values(status=status, updated_at=stamp)
            ).rowcount
    return changed


def get_mark(engine: Engine, source: str) -> int:
    """Up to when (a Unix time) ``source`` was last read; 0 for never."""
    with engine.connect() as conn:
        value = conn.execute(select(sync_marks.c.until).where(sync_marks.c.source == source)
                             ).scalar()
    return int(value or 0)


def set_mark(engine: Engine, source: str, until: int) -> None:
    with engine.begin() as conn:
        if conn.execute(update(sync_marks).where(sync_marks.c.source == source)
                        .values(until=until)).rowcount == 0:
            conn.execute(sync_marks.insert().values(source=source, until=until))


def erased_text(email: str, when: dt.datetime) -> str:
    """Why an erased address is not brought back, in one line."""
    return (f"{email} was erased on {when.astimezone(dt.UTC):%Y-%m-%d} at their request; "
            "they come back only by subscribing again and confirming")


def forget(engine: Engine, address: str) -> None:
    """Erase a subscriber, their delivery records and their requests to subscribe (a
    data-erasure request), and remember that they asked (a keyed hash of the address and
    the date, see erased.py), so that no import brings them back."""
    _, key = normalize(address)
    with engine.begin() as conn:
        found = conn.execute(select(subscribers.c.id)
                             .where(subscribers.c.email_key == key)).scalar()
        asked = conn.execute(delete(signups).where(signups.c.email_key == key)).rowcount
        if found is None and not asked:
            raise SubscriberError(f"{address} is not a subscriber")
        if found is not None:
            _erase(conn, found)
        erased.remember(conn, key)


def _erase(conn: Connection, subscriber_id: int) -> None:
    conn.execute(delete(deliveries).where(deliveries.c.subscriber_id == subscriber_id))
    # Off the list of any batch yet to go: the id would otherwise outlive the reader
    # (and SQLite may give it to the next subscriber, who was never planned).
    for issue, number, readers in conn.execute(
            select(batches.c.issue, batches.c.number, batches.c.readers)
            .where(holding(subscriber_id)).with_for_update()).all():
        rest = [sid for sid in reader_ids(readers) if sid != subscriber_id]
        conn.execute(update(batches).where(batches.c.issue == issue,
                                           batches.c.number == number)
                     .values(readers=readers_text(rest), waiting=len(rest)))
    conn.execute(delete(subscribers).where(subscribers.c.id == subscriber_id))


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(subscribers.c.status, func.count())
                            .group_by(subscribers.c.status)).all()
    found: dict[str, int] = dict(rows)
    return {status: int(found.get(status, 0)) for status in STATUSES}


def listing(engine: Engine, status: str | None = None, limit: int | None = None
            ) -> Iterator[Subscriber]:
    query = select(subscribers).order_by(subscribers.c.id)
    if status:
        query = query.where(subscribers.c.status == status)
    if limit:
        query = query.limit(limit)
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=_CHUNK).execute(query):
            yield _row(row)


def export_csv(engine: Engine, out: IO[str], status: str | None = None) -> int:
    # RFC 4180 line ends: then a stray CR inside a cell is quoted like any line break.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    count = 0
    for sub in listing(engine, status):
        writer.writerow([for_spreadsheet(sub.email), for_spreadsheet(sub.name or ""),
                         sub.timezone or "", sub.status, sub.created_at.isoformat()])
        count += 1
    return count


@dataclass
class ImportReport:
    added: int = 0
    reactivated: int = 0
    unchanged: int = 0
    marked: int = 0  # subscribers the file says have left, marked so here too
    problems: list[str] = field(default_factory=list)  # FILE:LINE: why, for each bad row
    warnings: list[str] = field(default_factory=list)  # about the file (unused columns)

    @property
    def rows_read(self) -> int:
        return self.added + self.reactivated + self.unchanged + self.marked + \
            len(self.problems)


@dataclass(frozen=True)
class _Candidate:
    where: str  # FILE:LINE, for the report
    email: str
    key: str
    name: str | None
    timezone: str | None
    status: str


def import_csv(engine: Engine, path: Path, *, reactivate: bool = False) -> ImportReport:
    """Add every good row of a CSV file; report every bad one with its line.

    Exports of this tool, Mailchimp, Substack, Buttondown and listmonk read as they are
    (see csvfile.py). A reader the file says has left is added (or marked) as such. An
    address already here and active is left as it is; one that left is not made active
    again unless ``reactivate`` is given.
    """
    problems = csvfile.Problems(path)
    report = ImportReport(problems=problems.rows, warnings=problems.warnings)
    # Chunk by chunk as the file is read: memory stays flat whatever the file's size.
    rows = _candidates(path, problems)
    source = f"import {path.name}"[:200]  # the consent on record: which file
    while chunk := list(itertools.islice(rows, _CHUNK)):
        _import_chunk(engine, chunk, report, reactivate, source)
    prefix = len(f"{path}:")
    report.problems.sort(key=lambda text: int(text[prefix:].split(":", 1)[0]))
    return report


def _candidates(path: Path, problems: csvfile.Problems) -> Iterator[_Candidate]:
    seen: dict[str, int] = {}
    for row in csvfile.rows(path, problems):
        try:
            email, key = normalize(row.email)
            zone = check_timezone(row.timezone)
        except SubscriberError as exc:
            problems.row(row.line, str(exc))
            continue
        if key in seen:
            problems.row(row.line, f"{email} repeats line {seen[key]}")
            continue
        seen[key] = row.line
        yield _Candidate(f"{path}:{row.line}", email, key, row.name, zone, row.status)


def _import_chunk(engine: Engine, chunk: list[_Candidate], report: ImportReport,
                  reactivate: bool, source: str) -> None:
    stamp = now()
    with engine.begin() as conn:
        known = _known(conn, [c.key for c in chunk])
        fresh = [c for c in chunk if c.key not in known]
        if fresh:
            _insert_many(conn, fresh, stamp, source)
        report.added += len(fresh)
        for c in chunk:
            if c.key in known:
                _merge(conn, c, known[c.key], report, reactivate, stamp)


def _known(conn: Connection, keys: list[str]) -> dict[str, str]:
    """Which of ``keys`` are here already, with their status."""
    if _psycopg(conn):  # one array, not a statement of 5,000 placeholders to parse
        return dict(conn.exec_driver_sql(
            "SELECT email_key, status FROM subscribers WHERE email_key = ANY(%(keys)s)",
            {"keys": keys}).all())
    return dict(conn.execute(select(subscribers.c.email_key, subscribers.c.status)
                             .where(subscribers.c.email_key.in_(keys))).all())


def _psycopg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


# PostgreSQL: a chunk of new subscribers as arrays, in one statement whose text never
# changes (a multi-row VALUES would be 40,000 placeholders for psycopg to parse each time).
_PG_INSERT = ("INSERT INTO subscribers (email, email_key, name, timezone, status, "
              "created_at, updated_at, consent_source) SELECT u.*, %(at)s, %(at)s, "
              "%(source)s FROM unnest(%(emails)s::varchar[], %(keys)s::varchar[], "
              "%(names)s::varchar[], %(zones)s::varchar[], %(statuses)s::varchar[]) "
              "AS u(email, email_key, name, timezone, status)")
_SQLITE_INSERT = ("INSERT INTO subscribers (email, email_key, name, timezone, status, "
                  "created_at, updated_at, consent_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


def _insert_many(conn: Connection, fresh: list[_Candidate], stamp: dt.datetime,
                 source: str) -> None:
    """Insert new subscribers. On SQLite as plain tuples through the driver: a million rows
    through SQLAlchemy's per-row conversions cost more than reading and checking them. On
    PostgreSQL (psycopg) as arrays; through SQLAlchemy elsewhere."""
    if _psycopg(conn):
        conn.exec_driver_sql(_PG_INSERT, {
            "at": stamp, "source": source, "emails": [c.email for c in fresh],
            "keys": [c.key for c in fresh], "names": [c.name for c in fresh],
            "zones": [c.timezone for c in fresh], "statuses": [c.status for c in fresh]})
        return
    if conn.dialect.name != "sqlite":
        conn.execute(subscribers.insert(), [
            {"email": c.email, "email_key": c.key, "name": c.name, "timezone": c.timezone,
             "status": c.status, "created_at": stamp, "updated_at": stamp,
             "consent_source": source} for c in fresh])
        return
    # As SQLAlchemy stores a DateTime in SQLite: naive UTC text with microseconds.
    when = stamp.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    conn.exec_driver_sql(_SQLITE_INSERT, [(c.email, c.key, c.name, c.timezone, c.status,
                                           when, when, source) for c in fresh])


def _merge(conn: Connection, c: _Candidate, status: str, report: ImportReport,
           reactivate: bool, stamp: dt.datetime) -> None:
    """A row whose address is already here: the file may say they left, or came back."""
    if c.status == "pending":  # not a change of mind either way
        report.unchanged += 1
    elif c.status != "active":
        if status == "active":  # they left, as the file's tool knows: honour it
            conn.execute(update(subscribers).where(subscribers.c.email_key == c.key)
                         .values(status=c.status, updated_at=stamp))
            report.marked += 1
        else:
            report.unchanged += 1
    elif status == "active":
        report.unchanged += 1
    elif reactivate or status == "pending":  # the file vouches for one still to confirm
        conn.execute(update(subscribers).where(subscribers.c.email_key == c.key)
                     .values(status="active", updated_at=stamp, requested_at=None))
        report.reactivated += 1
    else:
        report.problems.append(f"{c.where}: {c.email} is {status}; not reactivated "
                               "(use --reactivate if they asked to come back)")
