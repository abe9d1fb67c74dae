"""Reading a subscriber CSV, row by row: every bad row reported at its true line, the rest
kept, nothing reaching the database unchecked.

The files people bring are exports of other tools. Their columns are mapped to ours
(``email``, ``name``, ``timezone``, ``status``), and their ways of saying "this reader
left" to our statuses, so an unsubscribed reader stays unsubscribed:

==============  =====================================================================
this tool       email, name, timezone, status, created_at
Mailchimp       Email Address, First Name, Last Name, TIMEZONE; UNSUB_TIME (in the
                unsubscribed export) and CLEAN_TIME (cleaned: bounced)
Substack        email, name, email_disabled (true: unsubscribed), created_at, ...
Buttondown      email (or email_address), subscriber_type (unsubscribed, ...), ...
listmonk        uuid, email, name, attributes, status (enabled, disabled, blocklisted)
==============  =====================================================================

Columns we do not use are reported once, as a warning; a column named twice is an error
(which of the two holds the address would be a guess).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from newsletter.errors import SubscriberError
from newsletter.safetext import from_spreadsheet, one_line

# Longest values the store keeps (db.py's columns); longer is an error on that row.
LIMITS = {"email": 320, "name": 200, "timezone": 64}
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
}
# Columns we know and do not need: read silently.
KNOWN_UNUSED = {"createdat", "updatedat", "uuid", "attributes", "creationdate", "notes",
                "metadata", "tags", "optintime", "confirmtime", "optinip", "confirmip",
                "latitude", "longitude", "gmtoff", "dstoff", "cc", "region", "lastchanged",
                "leid", "euid", "activesubscription", "expiry", "plan", "referrerurl",
                "secondaryid", "source", "subscriptiondate", "memberrating",
                "unsubcampaigntitle", "unsubcampaignid", "unsubreason", "unsubreasonother",
                "cleancampaigntitle", "cleancampaignid", "utmcampaign", "utmmedium",
                "utmsource"}
# Other tools' statuses -> ours.
STATUSES = {
    "active": "active", "subscribed": "active", "enabled": "active", "regular": "active",
    "premium": "active", "trialed": "active", "gifted": "active", "confirmed": "active",
    "unsubscribed": "unsubscribed", "disabled": "unsubscribed", "blocklisted": "unsubscribed",
    "removed": "unsubscribed", "churning": "unsubscribed",
    "bounced": "bounced", "cleaned": "bounced", "complained": "complained",
    "spammy": "complained",
    # Asked, never confirmed: kept as such, never made active by an import.
    "pending": "pending", "unconfirmed": "pending",
}
_KEY = re.compile(r"[\s_\-]+")
_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)


@dataclass(frozen=True)
class Row:
    line: int  # where the row starts in the file
    email: str
    name: str | None
    timezone: str | None
    status: str  # one of ours


class Problems:
    """Per-row problems and file-level warnings, each ``FILE:LINE: message``."""

    def __init__(self, path: Path) -> None:
        self.path, self.rows, self.warnings = path, list[str](), list[str]()

    def row(self, line: int, message: str) -> None:
        self.rows.append(f"{self.path}:{line}: {message}")


def rows(path: Path, problems: Problems) -> Iterator[Row]:
    """The rows of a CSV file, mapped to our columns; a bad row is reported and skipped."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise SubscriberError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        yield from _rows(handle, path, problems)


def _rows(handle: IO[str], path: Path, problems: Problems) -> Iterator[Row]:
    csv.field_size_limit(MAX_FIELD * 16)  # ours is checked per cell, with its line
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
        problems.warnings.append(f"{path}:1: warning: column(s) not imported: "
                                 f"{', '.join(unused)}")
    return [(i, column) for i, column in enumerate(ours) if column]


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
    return Row(line, values.get("email", ""), one_line(name) or None,
               values.get("timezone") or None, status)


def _bad_cells(values: dict[str, str]) -> str | None:
    for column, value in values.items():
        if not value.isascii() and _UNDECODED.search(value):
            return f"{column}: not valid UTF-8; save the file as UTF-8"
        if "\x00" in value:
            return f"{column}: contains a NUL character"
        limit = LIMITS.get(column, MAX_FIELD)
        if len(value) > limit:
            return f"{column} is {len(value):,} characters; the limit is {limit:,}"
    return None


def _status(values: dict[str, str]) -> str | None:
    if values.get("unsub_time"):
        return "unsubscribed"  # Mailchimp's unsubscribed export
    if values.get("clean_time"):
        return "bounced"  # Mailchimp's cleaned export
    if values.get("email_disabled", "").lower() in ("true", "yes", "1"):
        return "unsubscribed"  # Substack
    given = values.get("status", "").strip().lower()
    return STATUSES.get(given) if given else "active"
