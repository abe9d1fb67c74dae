"""Reading a subscriber CSV, row by row: every bad row reported at its true line, the rest
kept, nothing reaching the database unchecked.

The files people bring are exports of other tools. Their columns are mapped to ours, their
ways of saying "this reader left" to our statuses (so an unsubscribed reader stays
unsubscribed), and the consent evidence they kept comes across with the reader: when
they signed up, when they asked (opted in) and confirmed, from which address, and their
tags. What each tool writes, and where that was checked:

==========  ================================================================================
this tool   email, name, timezone, status, created_at, opted_in_at, confirmed_at,
            opt_in_ip, tags (a JSON list), consent_source (``subscribers export``)
Mailchimp   Email Address, First Name, Last Name, TIMEZONE, OPTIN_TIME, CONFIRM_TIME,
            OPTIN_IP, TAGS; UNSUB_TIME (the unsubscribed export) and CLEAN_TIME (cleaned:
            bounced). Times are UTC, ``YYYY-MM-DD HH:MM:SS``. The column set is the one
            other importers read (MailPoet's Mailchimp import); the TAGS cell's exact
            spelling was not verified, so a JSON list, ``"a","b"`` and ``a, b`` are read.
Substack    email, active_subscription, expiry, plan, email_disabled (true: unsubscribed),
            created_at (ISO 8601 UTC, ``2024-03-01T09:00:00.000Z``), as public analytics
            models of Substack's export name them. No opt-in time or address is exported.
Buttondown  email (or email_address), creation_date, subscriber_type (unsubscribed, ...),
            tags, ip_address ("the IP address recorded when the subscriber signed up"):
            names of Buttondown's documented subscriber object; its CSV export is taken to
            use them (not verified against a real export file).
listmonk    uuid, email, name, attributes, status (enabled, disabled, blocklisted),
            created_at, updated_at: the header its export handler writes (knadh/listmonk,
            cmd/subscribers.go); times are Go's ``Time.String()``,
            ``2024-05-01 10:00:00.123456 +0000 UTC``. No opt-in time, address or tags.
==========  ================================================================================

A signup date goes to ``created_at`` (the opt-in time, then the confirmation time, when a
tool keeps no signup date). A time without a zone is taken as UTC. A value that cannot be
read (a date, an address, a tag) is a warning on its row and the field is left empty: the
reader is imported. Columns we do not use are reported once, as a warning; a column named
twice is an error (which of the two holds the address would be a guess).
"""

from __future__ import annotations

import csv
import datetime as dt
import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from newsletter.errors import SubscriberError
from newsletter.safetext import MAX_NAME, from_spreadsheet, one_line
from newsletter.store.states import Status

# Longest values the store keeps (db.py's columns); longer is an error on that row.
LIMITS = {"email": 320, "name": MAX_NAME, "timezone": 64}
MAX_FIELD = 64 * 1024  # a cell beyond this is an error on its row, not a crash

# Other tools' column names -> ours (compared without case, spaces or underscores).
COLUMNS = {
    "email": "email", "emailaddress": "email", "mail": "email",
    "name": "name", "fullname": "name",
    "firstname": "first_name", "fname": "first_name", "lastname": "last_name",
    "lname": "last_name",
    "timezone": "timezone", "tz": "timezone",
    "status": "status", "subscribertype": "status", "subscriptionstatus": "status",
    "emaildisabled": "email_disabled", "unsubtime": "unsub_time", "cleantime": "clean_time",
    # The consent evidence (see the table above).
    "createdat": "created_at", "creationdate": "created_at",
    "optintime": "opted_in_at", "optedinat": "opted_in_at",
    "confirmtime": "confirmed_at", "confirmedat": "confirmed_at",
    "optinip": "opt_in_ip", "ipaddress": "opt_in_ip",
    "tags": "tags", "consentsource": "consent_source",
}
DATES = ("created_at", "opted_in_at", "confirmed_at")
_EVIDENCE = frozenset((*DATES, "opt_in_ip", "tags", "consent_source"))
# Columns we know and do not need: read silently. (Mailchimp's CONFIRM_IP is where the
# confirmation link was opened, not where the request came from.)
KNOWN_UNUSED = {"updatedat", "uuid", "attributes", "notes", "metadata", "confirmip",
                "latitude", "longitude", "gmtoff", "dstoff", "cc", "region", "lastchanged",
                "leid", "euid", "activesubscription", "expiry", "plan", "referrerurl",
                "secondaryid", "source", "subscriptiondate", "memberrating",
                "unsubcampaigntitle", "unsubcampaignid", "unsubreason", "unsubreasonother",
                "cleancampaigntitle", "cleancampaignid", "utmcampaign", "utmmedium",
                "utmsource"}
# Other tools' statuses -> ours.
STATUSES: dict[str, Status] = {
    **{ours.value: ours for ours in Status},
    "subscribed": Status.ACTIVE, "enabled": Status.ACTIVE, "regular": Status.ACTIVE,
    "premium": Status.ACTIVE, "trialed": Status.ACTIVE, "gifted": Status.ACTIVE,
    "confirmed": Status.ACTIVE,
    "disabled": Status.UNSUBSCRIBED, "blocklisted": Status.UNSUBSCRIBED,
    "removed": Status.UNSUBSCRIBED, "churning": Status.UNSUBSCRIBED,
    "cleaned": Status.BOUNCED, "spammy": Status.COMPLAINED,
    # Asked, never confirmed: kept as such, never made active by an import.
    "unconfirmed": Status.PENDING,
}
MAX_TAGS, MAX_TAG = 50, 100  # tags kept per reader, characters per tag
_EARLIEST = dt.datetime(1971, 1, 1, tzinfo=dt.UTC)  # before any mailing list: a placeholder
# Go's Time.String(), as listmonk writes it: "2024-05-01 10:00:00.123456 +0000 UTC".
_GO_TIME = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) ([+-]\d\d)(\d\d)(?: \S+)?")
_KEY = re.compile(r"[\s_\-]+")
_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)


@dataclass(frozen=True)
class Row:
    line: int  # where the row starts in the file
    email: str
    name: str | None
    timezone: str | None
    status: Status
    created_at: dt.datetime | None = None  # the signup date, when the file has one
    opted_in_at: dt.datetime | None = None
    confirmed_at: dt.datetime | None = None
    opt_in_ip: str | None = None
    tags: str | None = None  # a JSON list of strings
    consent_source: str | None = None  # our own export's record of where it came from


class Problems:
    """Per-row problems (the row is skipped) and warnings (about the file, or a row that
    was imported without a value), each ``FILE:LINE: message``; and which tool wrote the
    file, once its header is read."""

    def __init__(self, path: Path) -> None:
        self.path, self.rows, self.warnings = path, list[str](), list[str]()
        self.tool = "CSV"

    def row(self, line: int, message: str) -> None:
        self.rows.append(f"{self.path}:{line}: {message}")

    def warn(self, line: int, message: str) -> None:
        self.warnings.append(f"{self.path}:{line}: warning: {message}")


def rows(path: Path, problems: Problems) -> Iterator[Row]:
    """The rows of a CSV file, mapped to our columns; a bad row is reported and skipped."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise SubscriberError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        # The csv module's own limit on a cell (128 kB unless the program set another) is
        # the whole process's, so it is left alone: a cell past it is a problem on its
        # row, as one past ours (MAX_FIELD, checked per cell) is.
        yield from _read(handle, path, problems)


def _read(handle: IO[str], path: Path, problems: Problems) -> Iterator[Row]:
    reader = csv.reader(handle)
    header = _header(path, next(reader, None), problems)
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            problems.row(start, f"not a CSV row ({exc})")
            start = reader.line_num + 1
            continue
        if cells is None:
            return
        if any(cells):
            row = _row(start, [(c, cells[i]) for i, c in header if i < len(cells)], problems)
            if row is not None:
                yield row
        start = reader.line_num + 1


def _header(path: Path, cells: list[str] | None, problems: Problems) -> list[tuple[int, str]]:
    """(position, our column) of every column we read, after checking the header."""
    if not cells:
        raise SubscriberError(f"{path}:1: the file is empty; its first line must name the "
                              "columns (email, and optionally name, timezone, status)")
    names = [_KEY.sub("", cell.strip().lower()) for cell in cells]
    ours = [COLUMNS.get(name, "") for name in names]
    twice = sorted({c for c in ours if c and ours.count(c) > 1})
    if twice:
        raise SubscriberError(f"{path}:1: the column {twice[0]!r} is named more than once; "
                              "keep one")
    if "email" not in ours:
        raise SubscriberError(f"{path}:1: the header must name an 'email' column "
                              "(and optionally 'name', 'timezone', 'status')")
    unused = [cells[i].strip() for i, name in enumerate(names)
              if not ours[i] and name not in KNOWN_UNUSED]
    if unused:
        problems.warn(1, f"column(s) not imported: {', '.join(unused)}")
    problems.tool = tool(set(names))
    return [(i, column) for i, column in enumerate(ours) if column]


def tool(names: set[str]) -> str:
    """Which tool wrote a file with these (compared) column names."""
    if names & {"leid", "euid", "memberrating"}:
        return "Mailchimp"
    if names & {"emaildisabled", "activesubscription"}:
        return "Substack"
    if names & {"subscribertype", "secondaryid", "creationdate"}:
        return "Buttondown"
    if {"uuid", "attributes"} <= names:
        return "listmonk"
    if {"email", "status", "createdat"} <= names:
        return "newsletter export"
    return "CSV"


def _row(line: int, cells: list[tuple[str, str]], problems: Problems) -> Row | None:
    values = {column: from_spreadsheet(cell.strip()) for column, cell in cells}
    bad = _bad_cells(values)
    if bad:
        problems.row(line, bad)
        return None
    name = values.get("name") or " ".join(
        filter(None, (values.get("first_name"), values.get("last_name"))))
    status = _status(values)
    if status is None:
        problems.row(line, f"unknown status {values.get('status')!r}; one of: "
                           f"{', '.join(sorted(set(STATUSES)))}")
        return None
    if _EVIDENCE.isdisjoint(values):  # the common case, a million times in a plain file
        return Row(line, values.get("email", ""), one_line(name) or None,
                   values.get("timezone") or None, status)
    dates = {column: _date(line, column, values.get(column), problems) for column in DATES}
    return Row(line, values.get("email", ""), one_line(name) or None,
               values.get("timezone") or None, status,
               dates["created_at"] or dates["opted_in_at"] or dates["confirmed_at"],
               dates["opted_in_at"], dates["confirmed_at"],
               _address(line, values.get("opt_in_ip"), problems),
               _tags(line, values.get("tags"), problems),
               one_line(values.get("consent_source")) or None)


def _bad_cells(values: dict[str, str]) -> str | None:
    for column, value in values.items():
        if not value.isascii() and _UNDECODED.search(value):
            return f"{column}: not valid UTF-8; save the file as UTF-8"
        # PostgreSQL's text refuses U+0000 (SQLite keeps it). Refused with its line, not
        # replaced as a provider's is (delivery/providers/base.py): a file can be mended
        # and imported again, and a NUL in it is a sign that its bytes are not text.
        if "\x00" in value:
            return f"{column}: contains a NUL character"
        limit = LIMITS.get(column, MAX_FIELD)
        if len(value) > limit:
            return f"{column} is {len(value):,} characters; the limit is {limit:,}"
    return None


def _status(values: dict[str, str]) -> Status | None:
    if values.get("unsub_time"):
        return Status.UNSUBSCRIBED  # Mailchimp's unsubscribed export
    if values.get("clean_time"):
        return Status.BOUNCED  # Mailchimp's cleaned export
    if values.get("email_disabled", "").lower() in ("true", "yes", "1"):
        return Status.UNSUBSCRIBED  # Substack
    given = values.get("status", "").strip().lower()
    return STATUSES.get(given) if given else Status.ACTIVE


def parse_time(text: str) -> dt.datetime:
    """A time as these tools write it (ISO 8601, Mailchimp's ``YYYY-MM-DD HH:MM:SS``,
    Go's ``Time.String()``), in UTC; one without a zone is taken as UTC. ValueError for
    anything else, or a time before 1971 or in the future."""
    matched = _GO_TIME.fullmatch(text)
    if matched:
        text = f"{matched[1]}{matched[2]}:{matched[3]}"
    value = dt.datetime.fromisoformat(text)
    value = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    if not _EARLIEST <= value <= dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
        raise ValueError("out of range")
    return value


def _date(line: int, column: str, text: str | None, problems: Problems
          ) -> dt.datetime | None:
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        problems.warn(line, f"{column}: {text[:40]!r} is not a date and time we read (such "
                            "as 2024-07-23 09:30:00, taken as UTC); imported without it")
        return None


def _address(line: int, text: str | None, problems: Problems) -> str | None:
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        problems.warn(line, f"opt_in_ip: {text[:40]!r} is not an IP address; imported "
                            "without it")
        return None


def _tags(line: int, text: str | None, problems: Problems) -> str | None:
    """The row's tags as a JSON list: each one line, none empty or repeated (compared
    without case), at most MAX_TAGS of at most MAX_TAG characters."""
    if not text:
        return None
    kept: dict[str, str] = {}
    for tag in filter(None, map(one_line, _tag_cells(line, text, problems))):
        if len(tag) > MAX_TAG:
            problems.warn(line, f"tags: a tag of {len(tag):,} characters (the limit is "
                                f"{MAX_TAG}) was left out")
        else:
            kept.setdefault(tag.casefold(), tag)
    if len(kept) > MAX_TAGS:
        problems.warn(line, f"tags: {len(kept):,} tags; the first {MAX_TAGS} were kept")
    tags = list(kept.values())[:MAX_TAGS]
    return json.dumps(tags, ensure_ascii=False) if tags else None


def _tag_cells(line: int, text: str, problems: Problems) -> list[str]:
    """A JSON list (ours, Buttondown's), else a comma-separated list whose items may be
    quoted (``"a","b"``)."""
    if text.startswith("["):
        try:
            found = json.loads(text)
        except ValueError:
            found = None
        if isinstance(found, list):
            return [item if isinstance(item, str) else json.dumps(item) for item in found]
        problems.warn(line, "tags: not a list we read; imported without them")
        return []
    return next(csv.reader([text], skipinitialspace=True), [])
