"""Subscribers: who gets the newsletter, and who asked not to.

An address is stored as its owner wrote it (after email-validator's normalisation) and
compared by ``email_key``, its lower-cased form, so one person is one row however they
type it. Nobody who left is ever made active again without an explicit ``reactivate``.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Engine, delete, func, select, update

from newsletter import timing
from newsletter.errors import SubscriberError
from newsletter.safetext import for_spreadsheet, one_line
from newsletter.store.db import deliveries, subscribers

STATUSES = ("active", "unsubscribed", "bounced", "complained")
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
    try:
        valid = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise SubscriberError(f"{address!r} is not a valid address: {exc}") from None
    return valid.normalized, valid.normalized.lower()


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


def add(engine: Engine, address: str, *, name: str | None = None, timezone: str | None = None,
        reactivate: bool = False) -> Subscriber:
    """Subscribe one address; an address that left comes back only with ``reactivate``."""
    name = one_line(name) or None  # a line break in a name would break the To header
    email, key = normalize(address)
    zone = check_timezone(timezone)
    existing = find(engine, email)
    if existing and existing.status == "active":
        raise SubscriberError(f"{existing.email} is already subscribed")
    if existing and not reactivate:
        raise SubscriberError(f"{existing.email} is {existing.status}; pass --reactivate if they "
                              "asked to subscribe again")
    stamp = now()
    with engine.begin() as conn:
        if existing:
            conn.execute(update(subscribers).where(subscribers.c.id == existing.id).values(
                status="active", name=name or existing.name,
                timezone=zone or existing.timezone, updated_at=stamp))
        else:
            conn.execute(subscribers.insert().values(
                email=email, email_key=key, name=name, timezone=zone, status="active",
                created_at=stamp, updated_at=stamp))
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


def forget(engine: Engine, address: str) -> None:
    """Erase a subscriber and their delivery records (a data-erasure request)."""
    existing = find(engine, address)
    if existing is None:
        raise SubscriberError(f"{address} is not a subscriber")
    with engine.begin() as conn:
        conn.execute(delete(deliveries).where(deliveries.c.subscriber_id == existing.id))
        conn.execute(delete(subscribers).where(subscribers.c.id == existing.id))


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
    problems: list[str] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return self.added + self.reactivated + self.unchanged + len(self.problems)


@dataclass(frozen=True)
class _Candidate:
    where: str  # FILE:LINE, for the report
    email: str
    key: str
    name: str | None
    timezone: str | None


def import_csv(engine: Engine, path: Path, *, reactivate: bool = False) -> ImportReport:
    """Add every good row of a CSV (header: email[,name][,timezone]); report every bad one.

    An address already active is left as it is; one that unsubscribed, bounced or
    complained is reported and skipped unless ``reactivate`` is given.
    """
    report = ImportReport()
    candidates = list(_read_rows(path, report))
    for chunk in _chunks(candidates, _CHUNK):
        _import_chunk(engine, chunk, report, reactivate)
    prefix = len(f"{path}:")
    report.problems.sort(key=lambda text: int(text[prefix:].split(":", 1)[0]))
    return report


def _read_rows(path: Path, report: ImportReport) -> Iterator[_Candidate]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise SubscriberError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        reader = csv.DictReader(handle)
        _check_header(path, reader.fieldnames)
        seen: dict[str, int] = {}
        try:
            for row in reader:
                candidate = _candidate(path, reader.line_num, row, seen, report)
                if candidate:
                    yield candidate
        except UnicodeDecodeError:
            raise SubscriberError(f"{path}:{reader.line_num + 1}: not valid UTF-8") from None


def _check_header(path: Path, fields: Iterable[str] | None) -> None:
    names = [f.strip().lower() for f in fields or []]
    if "email" not in names:
        raise SubscriberError(f"{path}:1: the header must name an 'email' column "
                              "(and optionally 'name' and 'timezone')")
    unknown = sorted(set(names) - {"email", "name", "timezone"})
    if unknown:
        raise SubscriberError(f"{path}:1: unknown column(s): {', '.join(unknown)}")


def _candidate(path: Path, line: int, row: dict[str | None, Any], seen: dict[str, int],
               report: ImportReport) -> _Candidate | None:
    values = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()
              if isinstance(v, str)}
    try:
        email, key = normalize(values.get("email", ""))
        zone = check_timezone(values.get("timezone"))
    except SubscriberError as exc:
        report.problems.append(f"{path}:{line}: {exc}")
        return None
    if key in seen:
        report.problems.append(f"{path}:{line}: {email} repeats line {seen[key]}")
        return None
    seen[key] = line
    return _Candidate(f"{path}:{line}", email, key, one_line(values.get("name")) or None, zone)


def _chunks(items: list[_Candidate], size: int) -> Iterator[list[_Candidate]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _import_chunk(engine: Engine, chunk: list[_Candidate], report: ImportReport,
                  reactivate: bool) -> None:
    stamp = now()
    with engine.begin() as conn:
        keys = [c.key for c in chunk]
        known = dict(conn.execute(select(subscribers.c.email_key, subscribers.c.status)
                                  .where(subscribers.c.email_key.in_(keys))).all())
        fresh = [c for c in chunk if c.key not in known]
        if fresh:
            conn.execute(subscribers.insert(), [
                {"email": c.email, "email_key": c.key, "name": c.name, "timezone": c.timezone,
                 "status": "active", "created_at": stamp, "updated_at": stamp} for c in fresh])
        report.added += len(fresh)
        for c in chunk:
            status = known.get(c.key)
            if status == "active":
                report.unchanged += 1
            elif status and reactivate:
                conn.execute(update(subscribers).where(subscribers.c.email_key == c.key)
                             .values(status="active", updated_at=stamp))
                report.reactivated += 1
            elif status:
                report.problems.append(f"{c.where}: {c.email} is {status}; not reactivated "
                                       "(use --reactivate if they asked to come back)")
