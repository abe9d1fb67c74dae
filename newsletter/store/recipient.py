"""One reader of one batch, as the ledger hands it to a transport.

A module of its own, free of SQLAlchemy, so that code which only names a recipient (the
transports' interface, ``newsletter check`` validating their settings) loads no database.
"""

from __future__ import annotations

from typing import NamedTuple


class Recipient(NamedTuple):
    """One reader of one batch (a tuple: a million of them are made in a large send)."""

    id: int
    email: str
    name: str | None = None
    timezone: str | None = None
    link: str = ""  # the reader's link key (see tokens.py); a proof's reader has none

    @property
    def key(self) -> str:
        return self.email.lower()
