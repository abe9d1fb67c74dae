"""A reader's states, by name: what ``subscribers.status`` holds, and the two ends that
are no status. Who may move a reader from one to another is status.py's table.

A module apart, with no SQLAlchemy, so that what the send's worker processes load (a
provider's package: its suppression lists say the status they give a reader) and the
store's lowest layer (the CSV importer) can name a status without the database.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """What a reader's row says (stored as the value: no migration)."""

    ACTIVE = "active"
    PENDING = "pending"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class Absent(StrEnum):
    """The two ends of a reader that are no status: not on file yet, and erased."""

    NEW = "new"
    ERASED = "erased"


State = Status | Absent
