"""Subscribers: who gets the newsletter, and who asked not to.

An address is stored as its owner wrote it (after email-validator's normalisation) and
compared by ``email_key``, its lower-cased form, so one person is one row however they
type it. Who may change a reader's status, from what to what, is status.py's table: every
writer here asks it for the condition of its UPDATE.
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
from sqlalchemy import ColumnElement, Connection, Engine, and_, delete, func, select, update

from newsletter import timing, tokens
from newsletter.errors import BadLink, BadTimezone, StatusRefused, SubscriberError
from newsletter.safetext import for_spreadsheet, one_line
from newsletter.store import activity, csvfile, erased, tallies
from newsletter.store import status as rules
from newsletter.store.db import (
    batches,
    deliveries,
    holding,
    new_key,
    signups,
    subscribers,
    sync_marks,
    welcomes,
)
from newsletter.store.status import Absent, Cause, Status

STATUSES = (Status.ACTIVE, Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED,
            Status.PENDING)
LEFT = rules.LEFT  # what a reader can be marked by hand
# What `subscribers export` writes: the reader, and the consent on record (import reads
# it all back; files of earlier releases, with the first five alone, still import).
CSV_FIELDS = ("email", "name", "timezone", "status", "created_at", "opted_in_at",
              "confirmed_at", "opt_in_ip", "tags", "consent_source")
_CHUNK = 5_000


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str | None
    timezone: str | None
    status: Status
    created_at: dt.datetime
    link_key: str = ""  # what the reader's links name (see tokens.py)


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
        raise BadTimezone(str(exc)) from None
    return value


def _row(row: Any) -> Subscriber:
    return Subscriber(row.id, row.email, row.name, row.timezone, Status(row.status),
                      row.created_at, row.link_key)


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
    """The subscriber a link's token was made for (None when there is none now: erased,
    or a link of an earlier kind whose reader has since subscribed anew); SubscriberError
    when the token is not ours or not for ``purpose``."""
    with engine.connect() as conn:
        row = conn.execute(select(subscribers).where(link_owner(secret, token, purpose))
                           ).first()
    return _row(row) if row else None


def link_owner(secret: bytes, token: str, purpose: str) -> ColumnElement[bool]:
    """The condition that selects the one reader a ``purpose`` token was made for: the
    reader whose link key it names; for a link of an earlier kind (a row number, or for
    unsubscribing the address itself), that reader only while they hold links of that
    kind, never whoever has the number or the address since. SubscriberError when the
    token is not ours or not for ``purpose``."""
    if tokens.is_current(token):
        link = tokens.read(secret, token, purpose)
        if link.key is not None:
            return subscribers.c.link_key == link.key
        return and_(subscribers.c.id == link.legacy_id, subscribers.c.legacy_links.is_(True))
    if purpose != "unsubscribe":
        raise BadLink("the link was made for something else")
    return and_(subscribers.c.email_key == tokens.verify(secret, token),
                subscribers.c.legacy_links.is_(True))


def unsubscribe_by_link(engine: Engine, secret: bytes, token: str) -> None:
    """Unsubscribe whoever an unsubscribe link was made for, in one statement (the
    one-click path, which answers the same whether they were active, had left, or were
    erased); SubscriberError when the token is not ours or not for unsubscribing."""
    condition = link_owner(secret, token, "unsubscribe")
    to = Status.UNSUBSCRIBED
    with engine.begin() as conn:
        moved = conn.execute(update(subscribers)
                             .where(condition, rules.condition(Cause.UNSUBSCRIBE_LINK, to))
                             .values(**rules.values(to, now()))).rowcount
        made = link_day(secret, token)
        if moved and made is not None:
            tallies.count_left(conn, made)


def link_day(secret: bytes, token: str) -> int | None:
    """The day a link was made (days since 1970); None for a link of the kind made before
    links carried it. The token must be one of ours (checked by :func:`link_owner`)."""
    return tokens.read(secret, token, "unsubscribe").made if tokens.is_current(token) else None


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
    cause, to = (Cause.REACTIVATE if reactivate else Cause.OPERATOR), Status.ACTIVE
    shown = existing.email if existing else email
    _may(cause, existing, to, shown)
    stamp = now()
    with engine.begin() as conn:
        if existing:
            moved = conn.execute(update(subscribers).where(
                subscribers.c.id == existing.id, rules.condition(cause, to)).values(
                name=name or existing.name, timezone=zone or existing.timezone,
                consent_source=source[:200], **rules.values(to, stamp))).rowcount
            if not moved:  # changed by someone else since it was read: say how
                _may(cause, find(engine, email), to, shown)
        else:
            conn.execute(subscribers.insert().values(
                email=email, email_key=key, name=name, timezone=zone, status=to,
                created_at=stamp, updated_at=stamp, consent_source=source[:200]))
    found = find(engine, email)
    assert found is not None
    return found


def _may(cause: Cause, existing: Subscriber | None, to: Status, address: str) -> None:
    """StatusRefused, saying why, when ``cause`` may not move ``existing`` to ``to``."""
    current = Status(existing.status) if existing else Absent.NEW
    why = rules.why_not(cause, current, to)
    if why is None:
        return
    if current is Status.ACTIVE and to is Status.ACTIVE:
        raise StatusRefused(f"{address} is already subscribed")
    if current is Absent.NEW:
        raise StatusRefused(f"{address} is not a subscriber")
    if to is Status.ACTIVE and current in rules.LEFT:
        raise StatusRefused(f"{address} is {current}; pass --reactivate if they asked to "
                            "subscribe again")
    raise StatusRefused(f"{address} is {current}: {why}")


def set_status(engine: Engine, address: str, status: str) -> Subscriber:
    """The operator's mark: unsubscribed, bounced or complained, or active explicitly
    (``--reactivate``), as status.py's table allows; StatusRefused, saying why, for a
    move it does not (a reader already marked so is left as they are)."""
    try:
        to = Status(status)
    except ValueError:
        raise SubscriberError(f"unknown status {status!r}; one of: {', '.join(STATUSES)}"
                              ) from None
    cause = Cause.REACTIVATE if to is Status.ACTIVE else Cause.OPERATOR
    existing = find(engine, address)
    if existing is None:
        raise SubscriberError(f"{address} is not a subscriber")
    if existing.status == to:
        return existing
    _may(cause, existing, to, existing.email)
    with engine.begin() as conn:
        moved = conn.execute(update(subscribers).where(
            subscribers.c.id == existing.id, rules.condition(cause, to))
            .values(**rules.values(to, now()))).rowcount
    found = find(engine, existing.email)
    if not moved:  # changed by someone else since it was read: say how
        _may(cause, found, to, existing.email)
    assert found is not None
    return found


def mark_left(engine: Engine, addresses: Iterable[str], status: str,
              cause: Cause = Cause.SUPPRESSION_SYNC) -> int:
    """Give the subscribers among ``addresses`` the status ``status`` (what a provider's
    suppression list says), those the table lets ``cause`` move; return how many
    changed."""
    keys = sorted({a.strip().lower() for a in addresses if a and a.strip()})
    changed, stamp, to = 0, now(), Status(status)
    with engine.begin() as conn:
        for start in range(0, len(keys), 1000):
            changed += conn.execute(update(subscribers).where(
                subscribers.c.email_key.in_(keys[start:start + 1000]),
                rules.condition(cause, to)).values(**rules.values(to, stamp))).rowcount
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


def forget(engine: Engine, address: str, cause: Cause = Cause.OPERATOR) -> None:
    """Erase a subscriber, their delivery records and their requests to subscribe (a
    data-erasure request), and remember that they asked (a keyed hash of the address and
    the date, see erased.py), so that no import brings them back. ``cause``: the
    operator, or the reader on their own page."""
    _, key = normalize(address)
    with engine.begin() as conn:
        found = conn.execute(select(subscribers.c.id)
                             .where(subscribers.c.email_key == key)).scalar()
        asked = conn.execute(delete(signups).where(signups.c.email_key == key)).rowcount
        if found is None and not asked:
            raise SubscriberError(f"{address} is not a subscriber")
        if found is not None:
            _erase(conn, found, cause)
        erased.remember(conn, key)


def _erase(conn: Connection, subscriber_id: int, cause: Cause) -> None:
    conn.execute(delete(deliveries).where(deliveries.c.subscriber_id == subscriber_id))
    activity.erase(conn, subscriber_id)  # what they opened and clicked (individual level)
    conn.execute(delete(welcomes).where(welcomes.c.subscriber_id == subscriber_id))
    # Off the list of any batch yet to go: the id would otherwise outlive the reader
    # (and SQLite may give it to the next subscriber, who was never planned).
    for issue, number, _ in holding(conn, subscriber_id):
        this = (batches.c.issue == issue, batches.c.number == number)
        # The batch's row locked first, as settling a batch locks it (on PostgreSQL): the
        # answer about a batch and this erasure then come one after the other.
        ids = conn.execute(select(batches.c.readers).where(*this).with_for_update()).scalar()
        if ids and subscriber_id in ids:
            rest = [sid for sid in ids if sid != subscriber_id]
            conn.execute(update(batches).where(*this).values(
                readers=rest or None, waiting=batches.c.waiting - 1))
    conn.execute(delete(subscribers).where(subscribers.c.id == subscriber_id,
                                           rules.condition(cause, Absent.ERASED)))


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
    query = select(*(subscribers.c[name] for name in CSV_FIELDS)).order_by(subscribers.c.id)
    if status:
        query = query.where(subscribers.c.status == status)
    count = 0
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=_CHUNK).execute(query):
            writer.writerow(_csv_cells(row))
            count += 1
    return count


def _csv_cells(row: Any) -> list[str]:
    texts = (row.email, row.name, row.timezone, row.status)
    times = (row.created_at, row.opted_in_at, row.confirmed_at)
    return [*(for_spreadsheet(text or "") for text in texts),
            *(_iso(value) for value in times),
            row.opt_in_ip or "", for_spreadsheet(row.tags or ""),
            for_spreadsheet(row.consent_source or "")]


def _iso(value: dt.datetime | None) -> str:
    return value.isoformat() if value is not None else ""


@dataclass
class ImportReport:
    added: int = 0
    reactivated: int = 0
    unchanged: int = 0
    marked: int = 0  # subscribers the file says have left, marked so here too
    erased: int = 0  # rows of addresses erased at their request: not brought back
    problems: list[str] = field(default_factory=list)  # FILE:LINE: why, for each bad row
    # About the file (unused columns), and rows imported without a value or not at all
    # (an erased address), FILE:LINE: each, in line order.
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return self.added + self.reactivated + self.unchanged + self.marked + \
            self.erased + len(self.problems)


@dataclass(frozen=True)
class _Candidate:
    where: str  # FILE:LINE, for the report
    email: str
    key: str
    name: str | None
    timezone: str | None
    status: str
    created_at: dt.datetime | None
    opted_in_at: dt.datetime | None
    confirmed_at: dt.datetime | None
    opt_in_ip: str | None
    tags: str | None
    source: str  # the consent on record: which file, written by which tool


def import_csv(engine: Engine, path: Path, *, reactivate: bool = False) -> ImportReport:
    """Add every good row of a CSV file; report every bad one with its line.

    Exports of this tool, Mailchimp, Substack, Buttondown and listmonk read as they are,
    with the consent evidence they kept (see csvfile.py). A reader the file says has left
    is added (or marked) as such. An address already here and active is left as it is;
    one that left is not made active again unless ``reactivate`` is given. An address
    erased at its owner's request is not added, whatever the file says of it.
    """
    problems = csvfile.Problems(path)
    report = ImportReport(problems=problems.rows, warnings=problems.warnings)
    # Chunk by chunk as the file is read: memory stays flat whatever the file's size.
    rows = _candidates(path, problems)
    while chunk := list(itertools.islice(rows, _CHUNK)):
        _import_chunk(engine, chunk, report, reactivate)
    prefix = len(f"{path}:")
    for found in (report.problems, report.warnings):
        found.sort(key=lambda text: int(text[prefix:].split(":", 1)[0]))
    return report


def _candidates(path: Path, problems: csvfile.Problems) -> Iterator[_Candidate]:
    seen: dict[str, int] = {}
    for row in csvfile.rows(path, problems):
        try:
            email, key = normalize(row.email)
        except SubscriberError as exc:
            problems.row(row.line, str(exc))
            continue
        if key in seen:
            problems.row(row.line, f"{email} repeats line {seen[key]}")
            continue
        seen[key] = row.line
        yield _candidate(path, row, email, key, problems)


def _candidate(path: Path, row: csvfile.Row, email: str, key: str,
               problems: csvfile.Problems) -> _Candidate:
    return _Candidate(f"{path}:{row.line}", email, key, row.name,
                      _zone(row, problems), row.status, row.created_at, row.opted_in_at,
                      row.confirmed_at, row.opt_in_ip, row.tags,
                      _source(path, problems.tool, row.consent_source))


def _zone(row: csvfile.Row, problems: csvfile.Problems) -> str | None:
    """The row's timezone; one we do not know is left out, not the reader."""
    try:
        return check_timezone(row.timezone)
    except SubscriberError:
        problems.warn(row.line, f"unknown timezone {row.timezone!r}; imported without a "
                                "timezone")
        return None


@functools.lru_cache(maxsize=64)  # one text for the whole file, nearly always
def _source(path: Path, tool: str, before: str | None) -> str:
    """The consent on record: the file and the tool that wrote it (and, from our own
    export, where the subscription had come from)."""
    text = f"import {path.name} ({tool})"
    return (f"{text}; before: {before}" if before else text)[:200]


def _import_chunk(engine: Engine, chunk: list[_Candidate], report: ImportReport,
                  reactivate: bool) -> None:
    stamp = now()
    cause = Cause.IMPORT_REACTIVATE if reactivate else Cause.IMPORT
    with engine.begin() as conn:
        chunk = _not_erased(conn, chunk, report)
        known = _known(conn, [c.key for c in chunk]) if chunk else {}
        fresh = [c for c in chunk if c.key not in known and
                 rules.inserted(cause, Status(c.status))]
        if fresh:
            _insert_many(conn, fresh, stamp)
        report.added += len(fresh)
        for c in chunk:
            if c.key in known:
                _merge(conn, c, Status(known[c.key]), report, cause, stamp)


def _not_erased(conn: Connection, chunk: list[_Candidate], report: ImportReport
                ) -> list[_Candidate]:
    """The rows whose address was not erased at its owner's request; each of the others
    is a warning (one query for the chunk)."""
    gone = erased.among(conn, [c.key for c in chunk])
    for c in chunk:
        if c.key in gone:
            report.warnings.append(f"{c.where}: {erased_text(c.email, gone[c.key])}")
    report.erased += len(gone)
    return [c for c in chunk if c.key not in gone] if gone else chunk


def _known(conn: Connection, keys: list[str]) -> dict[str, str]:
    """Which of ``keys`` are here already, with their status."""
    if _psycopg(conn):  # one array, not a statement of 5,000 placeholders to parse
        return dict(conn.exec_driver_sql(
            "SELECT email_key, status FROM subscribers WHERE email_key = ANY(%(keys)s)",
            {"keys": keys}).all())
    if conn.dialect.name == "sqlite":  # the driver's placeholders: SQLAlchemy's cost 20 ms
        return dict(conn.exec_driver_sql(
            "SELECT email_key, status FROM subscribers WHERE email_key IN "
            f"({', '.join('?' * len(keys))})", tuple(keys)).all())
    return dict(conn.execute(select(subscribers.c.email_key, subscribers.c.status)
                             .where(subscribers.c.email_key.in_(keys))).all())


def _psycopg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


# The columns an import writes, in this order, in both fast paths.
_COLUMNS = ("email, email_key, name, timezone, status, created_at, updated_at, "
            "consent_source, link_key, opted_in_at, confirmed_at, opt_in_ip, tags")
# PostgreSQL: a chunk of new subscribers as arrays, in one statement whose text never
# changes (a multi-row VALUES would be 65,000 placeholders for psycopg to parse each time).
_PG_INSERT = (f"INSERT INTO subscribers ({_COLUMNS}) SELECT u.email, u.email_key, u.name, "
              "u.timezone, u.status, u.created_at, %(at)s, u.source, u.link_key, "
              "u.opted_in_at, u.confirmed_at, u.opt_in_ip, u.tags FROM unnest("
              "%(emails)s::varchar[], %(keys)s::varchar[], %(names)s::varchar[], "
              "%(zones)s::varchar[], %(statuses)s::varchar[], %(created)s::timestamptz[], "
              "%(sources)s::varchar[], %(links)s::varchar[], %(opted)s::timestamptz[], "
              "%(confirmed)s::timestamptz[], %(ips)s::varchar[], %(tags)s::text[]) "
              "AS u(email, email_key, name, timezone, status, created_at, source, link_key, "
              "opted_in_at, confirmed_at, opt_in_ip, tags)")
_SQLITE_INSERT = f"INSERT INTO subscribers ({_COLUMNS}) VALUES ({', '.join('?' * 13)})"


def _insert_many(conn: Connection, fresh: list[_Candidate], stamp: dt.datetime) -> None:
    """Insert new subscribers, each with a link key of their own. On SQLite as plain
    tuples through the driver: a million rows through SQLAlchemy's per-row conversions
    cost more than reading and checking them. On PostgreSQL (psycopg) as arrays; through
    SQLAlchemy elsewhere."""
    if _psycopg(conn):
        conn.exec_driver_sql(_PG_INSERT, _pg_arrays(fresh, stamp))
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql(_SQLITE_INSERT, _sqlite_rows(fresh, stamp))
    else:
        conn.execute(subscribers.insert(), [
            {"email": c.email, "email_key": c.key, "name": c.name, "timezone": c.timezone,
             "status": c.status, "created_at": c.created_at or stamp, "updated_at": stamp,
             "consent_source": c.source, "link_key": new_key(),
             "opted_in_at": c.opted_in_at, "confirmed_at": c.confirmed_at,
             "opt_in_ip": c.opt_in_ip, "tags": c.tags} for c in fresh])


def _pg_arrays(fresh: list[_Candidate], stamp: dt.datetime) -> dict[str, Any]:
    return {
        "at": stamp, "emails": [c.email for c in fresh], "keys": [c.key for c in fresh],
        "names": [c.name for c in fresh], "zones": [c.timezone for c in fresh],
        "statuses": [c.status for c in fresh],
        "created": [c.created_at or stamp for c in fresh],
        "sources": [c.source for c in fresh], "links": [new_key() for _ in fresh],
        "opted": [c.opted_in_at for c in fresh],
        "confirmed": [c.confirmed_at for c in fresh],
        "ips": [c.opt_in_ip for c in fresh], "tags": [c.tags for c in fresh]}


def _sqlite_rows(fresh: list[_Candidate], stamp: dt.datetime) -> list[tuple[Any, ...]]:
    when = _sqlite_time(stamp)
    return [(c.email, c.key, c.name, c.timezone, c.status,
             _sqlite_time(c.created_at) if c.created_at else when, when, c.source,
             new_key(), c.opted_in_at and _sqlite_time(c.opted_in_at),
             c.confirmed_at and _sqlite_time(c.confirmed_at), c.opt_in_ip, c.tags)
            for c in fresh]


def _sqlite_time(value: dt.datetime) -> str:
    """As SQLAlchemy stores a DateTime in SQLite: naive UTC text with microseconds."""
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _merge(conn: Connection, c: _Candidate, current: Status, report: ImportReport,
           cause: Cause, stamp: dt.datetime) -> None:
    """A row whose address is already here: the file may say they left, or came back.
    status.py's table decides; one who left whom the file lists as subscribed is a
    problem of the row, unless the import was told to reactivate."""
    to = Status(c.status)
    if not rules.allowed(cause, current, to):
        if to is Status.ACTIVE and current in rules.LEFT:
            report.problems.append(f"{c.where}: {c.email} is {current}; not reactivated "
                                   "(use --reactivate if they asked to come back)")
        else:
            report.unchanged += 1
        return
    moved = conn.execute(update(subscribers).where(
        subscribers.c.email_key == c.key, rules.condition(cause, to))
        .values(**rules.values(to, stamp))).rowcount
    if not moved:
        report.unchanged += 1
    elif to is Status.ACTIVE:
        report.reactivated += 1
    else:
        report.marked += 1
