"""A reader's status, and the one table of who may change it, from what, to what.

Every writer of ``subscribers.status`` asks this module: :func:`condition` is the SQL
that selects the readers a cause may move to a state, :func:`values` what the move
writes. A writer stays one conditional UPDATE (or DELETE, for an erasure), so two
writers at the same instant cannot undo each other's rules: the loser's statement
matches no row. :func:`why_not` says, in one line, why a move is refused.

States (named in states.py, which the send's workers load without the database):
``active`` (gets the issues), ``pending`` (asked before the queue, still to confirm),
``unsubscribed``, ``bounced``, ``complained``. Besides them: *new* (not on
file: the move is an INSERT) and *erased* (the row is deleted, an event, not a status;
the address is remembered as a keyed hash, see erased.py).

==================  =====================================  ============================
cause               moves to                               from
==================  =====================================  ============================
confirm             active                                 new, pending, unsubscribed,
                                                           bounced, complained
unsubscribe link    unsubscribed                           active, pending
provider            unsubscribed                           active, pending
  unsubscribe
bounce              bounced                                active, pending
complaint           complained                             active, pending,
                                                           unsubscribed, bounced
dropped             unsubscribed | bounced | complained    as unsubscribe, bounce,
                                                           complaint
suppression sync    unsubscribed | bounced | complained    as unsubscribe, bounce,
                                                           complaint
operator            active (``subscribers add``)           new, pending
                    unsubscribed | bounced | complained    as unsubscribe, bounce,
                    (``subscribers remove --status``)      complaint
                    erased (``remove --forget``)           every state
operator            active (``add --reactivate``)          new, pending, unsubscribed,
  reactivate                                               bounced, complained
import              the file's status                      new
                    active                                 pending
                    unsubscribed | bounced | complained    as unsubscribe, bounce,
                                                           complaint
import reactivate   as import, and active                  new, pending, unsubscribed,
  (``--reactivate``)                                       bounced, complained
own page            erased ("forget me")                   every state
expiry              erased (a request never confirmed)     pending
==================  =====================================  ============================

The rules behind the table:

- **One meaning for leaving.** Whoever asks (the one-click post, the unsubscribe page,
  ``newsletter unsubscribe TOKEN``, the provider's unsubscribe, the operator), a reader
  who is active or still to confirm becomes unsubscribed, and any outstanding request to
  confirm is withdrawn. A reader who had left already stays as they left.
- **A reader leaves for one reason, except a complaint.** A bounce or an unsubscribe
  never overwrites another reason for leaving (an address that bounced and then sees an
  unsubscribe keeps "bounced": the operator needs to know the mailbox is gone). A
  complaint beats every other: it is the reason that matters most for a sender's
  reputation, and the last one to lose.
- **Nobody comes back by a side door.** Only the reader's own confirmed request, the
  operator's explicit ``--reactivate`` (the command, or an import with it) bring a reader
  who left back to active; a bounce, a sync or an import without it never does. A reader
  still to confirm may be made active by the operator or a file that lists them as
  subscribed: they vouch for the request.
- **Coming back means new links.** Every move to active gives the reader a new link key,
  so the links in the emails they had before act for them no more.
- **Erasure is final** for the row; the address comes back only by a new request its
  owner confirms.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, false

from newsletter.store.db import new_key, subscribers
from newsletter.store.states import Absent, State, Status

__all__ = ["EVERY", "FROM_PROVIDER", "LEFT", "RULES", "Absent", "Cause", "State", "Status",
           "allowed", "condition", "inserted", "sources", "table", "values", "why_not"]


class Cause(StrEnum):
    """Why a reader's status changes."""

    CONFIRM = "confirm"  # the reader's request, confirmed from its email (double opt-in)
    UNSUBSCRIBE_LINK = "unsubscribe link"  # one-click, the unsubscribe page, the command
    PROVIDER_UNSUBSCRIBE = "provider unsubscribe"  # the provider's own unsubscribe event
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    DROPPED = "dropped"  # the provider dropped a message for a suppression it names
    SUPPRESSION_SYNC = "suppression sync"
    OPERATOR = "operator"  # subscribers add / remove --status / remove --forget
    REACTIVATE = "operator reactivate"  # subscribers add --reactivate
    IMPORT = "import"
    IMPORT_REACTIVATE = "import reactivate"  # subscribers import --reactivate
    OWN_PAGE = "own page"  # the reader's page: forget me
    EXPIRY = "expiry"  # a request from before the queue, its link expired unconfirmed


LEFT = (Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED)
EVERY = frozenset(Status)
# Who may be moved to each way of leaving, whoever moves them.
_LEAVING: Mapping[State, frozenset[State]] = {
    Status.UNSUBSCRIBED: frozenset({Status.ACTIVE, Status.PENDING}),
    Status.BOUNCED: frozenset({Status.ACTIVE, Status.PENDING}),
    Status.COMPLAINED: frozenset({Status.ACTIVE, Status.PENDING, Status.UNSUBSCRIBED,
                                  Status.BOUNCED}),
}
_BACK: frozenset[State] = frozenset({Absent.NEW, *EVERY - {Status.ACTIVE}})
_VOUCHED: frozenset[State] = frozenset({Absent.NEW, Status.PENDING})
# A file may add a reader as anything, but moves one on file as the others would.
_IMPORTED = {**{to: froms | {Absent.NEW} for to, froms in _LEAVING.items()},
             Status.ACTIVE: _VOUCHED, Status.PENDING: frozenset({Absent.NEW})}

# (cause, the state it moves to) -> the states it may move a reader from. A pair not
# here is a move the cause never makes.
RULES: Mapping[tuple[Cause, State], frozenset[State]] = {
    (Cause.CONFIRM, Status.ACTIVE): _BACK,
    (Cause.UNSUBSCRIBE_LINK, Status.UNSUBSCRIBED): _LEAVING[Status.UNSUBSCRIBED],
    (Cause.PROVIDER_UNSUBSCRIBE, Status.UNSUBSCRIBED): _LEAVING[Status.UNSUBSCRIBED],
    (Cause.BOUNCE, Status.BOUNCED): _LEAVING[Status.BOUNCED],
    (Cause.COMPLAINT, Status.COMPLAINED): _LEAVING[Status.COMPLAINED],
    **{(Cause.DROPPED, to): froms for to, froms in _LEAVING.items()},
    **{(Cause.SUPPRESSION_SYNC, to): froms for to, froms in _LEAVING.items()},
    (Cause.OPERATOR, Status.ACTIVE): _VOUCHED,
    **{(Cause.OPERATOR, to): froms for to, froms in _LEAVING.items()},
    (Cause.OPERATOR, Absent.ERASED): EVERY,
    (Cause.REACTIVATE, Status.ACTIVE): _BACK,
    **{(Cause.IMPORT, to): froms for to, froms in _IMPORTED.items()},
    **{(Cause.IMPORT_REACTIVATE, to): froms for to, froms in _IMPORTED.items()},
    (Cause.IMPORT_REACTIVATE, Status.ACTIVE): _BACK,
    (Cause.OWN_PAGE, Absent.ERASED): EVERY,
    (Cause.EXPIRY, Absent.ERASED): frozenset({Status.PENDING}),
}

# The provider's word for a reader, as a cause (the events' vocabulary maps to these).
FROM_PROVIDER = {Status.UNSUBSCRIBED: Cause.PROVIDER_UNSUBSCRIBE,
                 Status.BOUNCED: Cause.BOUNCE, Status.COMPLAINED: Cause.COMPLAINT}


def allowed(cause: Cause, current: State, to: State) -> bool:
    return current in RULES.get((cause, to), ())


def why_not(cause: Cause, current: State, to: State) -> str | None:
    """Why ``cause`` does not move a reader who is ``current`` to ``to``, in words for an
    operator (after "ADDRESS is CURRENT: "); None when it does."""
    if allowed(cause, current, to):
        return None
    if (cause, to) not in RULES:
        return f"{cause} never makes a reader {to}"
    if current == to:
        return f"already {to}"
    if current is Absent.NEW:
        return f"not on file, and {cause} adds nobody as {to}"
    if to is Status.ACTIVE and current in LEFT:
        return ("a reader who left comes back only by confirming a new request, or by the "
                "operator's --reactivate")
    if to is Status.PENDING:
        return "only a request of the reader's own makes them pending"
    if current in LEFT:
        return "only a complaint overrides another reason for leaving"
    return f"{cause} does not move a reader who is {current} to {to}"


def sources(cause: Cause, to: State) -> list[Status]:
    """The stored statuses ``cause`` may move to ``to``, in a fixed order; KeyError for
    a move the cause never makes (a bug in the caller, not a refusal)."""
    return sorted(s for s in RULES[(cause, to)] if isinstance(s, Status))


def condition(cause: Cause, to: State) -> ColumnElement[bool]:
    """The rows ``cause`` may move to ``to``: add it to the writer's WHERE."""
    froms = sources(cause, to)
    return subscribers.c.status.in_([str(s) for s in froms]) if froms else false()


def values(to: Status, at: dt.datetime) -> dict[str, Any]:
    """What a move to ``to`` writes, whatever its cause: the status, when, and what comes
    with it (a reader who leaves withdraws a request still to confirm; one who comes
    back gets new links)."""
    written: dict[str, Any] = {"status": str(to), "updated_at": at, "requested_at": None}
    if to is Status.ACTIVE:
        written.update(link_key=new_key(), legacy_links=False)
    return written


def inserted(cause: Cause, to: Status) -> bool:
    """Whether ``cause`` may add a reader who is not on file as ``to``."""
    return allowed(cause, Absent.NEW, to)


def table() -> Iterable[tuple[Cause, State, frozenset[State]]]:
    """Every (cause, to, from-states) row, for the docs and the tests."""
    for (cause, to), froms in RULES.items():
        yield cause, to, froms
