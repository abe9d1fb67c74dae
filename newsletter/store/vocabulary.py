"""Our words for what happens to a message, for every provider: the vocabulary that
provider webhooks speak and store/events.py keeps and counts.

A module apart, with no SQLAlchemy, so that a provider's package (imported by a send's
worker processes, which load no database) can speak it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from newsletter.store.states import Status


class Kind(StrEnum):
    """What happened to a message, in our words (stored as these strings)."""

    ACCEPTED = "accepted"  # the provider took it, to deliver
    DELIVERED = "delivered"  # the receiving server took it
    DEFERRED = "deferred"  # the receiving server said "later"; the provider retries
    BOUNCED = "bounced"  # refused: detail hard (for good) or soft (blocked, for now)
    DROPPED = "dropped"  # the provider did not send it: detail names the suppression
    COMPLAINED = "complained"  # the reader marked it as spam
    UNSUBSCRIBED = "unsubscribed"  # the reader left through the provider's link or ours
    OPENED = "opened"  # detail person or machine (a privacy proxy opens every message)
    CLICKED = "clicked"  # url: the link


class Detail(StrEnum):
    """What more an event says, by kind."""

    HARD = "hard"  # bounced: the address does not take mail
    SOFT = "soft"  # bounced: refused for now (blocked, full, greylisted)
    PERSON = "person"  # opened by someone
    MACHINE = "machine"  # opened by a machine (Apple Mail Privacy Protection, a scanner)
    # dropped: the suppression list that held the address back
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    INVALID = "invalid"


# A drop for a suppression changes the reader as that list would.
_SUPPRESSED = {Detail.BOUNCED: Status.BOUNCED, Detail.INVALID: Status.BOUNCED,
               Detail.COMPLAINED: Status.COMPLAINED, Detail.UNSUBSCRIBED: Status.UNSUBSCRIBED}
_BY_KIND = {Kind.COMPLAINED: Status.COMPLAINED, Kind.UNSUBSCRIBED: Status.UNSUBSCRIBED}
DETAIL_LENGTH, REASON_LENGTH, URL_LENGTH = 16, 200, 2000  # the columns' bounds (0011)


@dataclass(frozen=True)
class Event:
    id: str  # the provider's own, unique: what makes a retried post harmless
    kind: Kind
    email: str
    issue: str | None
    happened_at: dt.datetime | None
    detail: Detail | None = None
    reason: str | None = None  # the provider's or the receiving server's words
    url: str | None = None  # clicked: the link
    # The readers' service's own click or open at ``tracking: individual``: the link key
    # of the reader its signed token named (never a provider's: theirs name the address).
    reader: str | None = None


def status_of(event: Event) -> Status | None:
    """The status an event gives a subscriber who is still active, or None."""
    if event.kind is Kind.BOUNCED:
        return Status.BOUNCED if event.detail is Detail.HARD else None
    if event.kind is Kind.DROPPED:
        return _SUPPRESSED.get(event.detail) if event.detail else None
    return _BY_KIND.get(event.kind)
