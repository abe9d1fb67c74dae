"""A batch's state, and the one table of who may change it, from what, to what.

Every writer of ``batches.state`` goes through :func:`move` (one batch, or every batch
of an issue in a state; :func:`mover` makes it once for a step run on every batch): a
conditional UPDATE whose WHERE holds the states the table
allows, so a writer racing another (a worker and a run that took over) cannot undo the
other's move; a move of one batch that the table refuses raises BatchMoveRefused. A
new batch is written by the plan with :func:`initial`.

::

                  claim                       settle
    (new) ──plan──> pending ────────────> in_flight ─────────> sent
                      ^  ^  <──release────    │  │ \\
                      │  │   (surely not      │  │  \\ settle, some readers held back
                      │  │    taken)          │  │   \\ (4xx, a full disk), give up
                      │  │                    │  │    v
                      │  └──retry failed / retry held── failed
                      │                       │ no answer, recover (its run died)
                      │                       v
                      └──resend uncertain── uncertain

========================  ======================  ===================================
cause                     moves to                from
========================  ======================  ===================================
plan                      pending                 new (the plan's INSERT)
claim                     in flight               pending (a worker takes it)
nobody left               sent                    in flight (everyone left or was
                                                  erased since the plan)
retry                     in flight               in flight, pending (the next
                                                  attempt is out)
settle                    sent | failed           in flight, uncertain (the answer
                                                  came: failed holds readers back)
release                   pending                 in flight, pending (the provider
                                                  surely did not take it)
give up                   failed                  in flight, pending (every attempt
                                                  failed, surely not taken)
no answer                 uncertain               in flight (it may have gone)
unexpected error          uncertain               in flight, pending
recover                   uncertain               in flight (its run died)
resend uncertain          pending                 uncertain (--resend-uncertain)
retry failed              pending                 failed (the next run)
retry held                pending                 failed (a later round of this run)
========================  ======================  ===================================

The rules behind the table:

- **Out before it goes.** A batch is ``in_flight`` in the ledger before its request
  leaves, so a crash at any instant leaves it where the next run finds it.
- **What is not known is said.** Only a run that saw no answer (or died) makes a batch
  uncertain, and only the operator's ``--resend-uncertain`` sends it again.
- **An answer is the truth.** A provider's answer settles a batch even if another run
  took it as uncertain meanwhile (the lease was lost while the request was out).
- **Sent is final.** Nothing moves a batch out of ``sent``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, NoReturn

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    Update,
    bindparam,
    false,
    select,
    update,
)

from newsletter.errors import BatchMoveRefused
from newsletter.store.db import batches


class BatchState(StrEnum):
    """What a batch's row says (stored as the value: no migration)."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


NEW = "new"  # not planned yet: the plan's move is an INSERT
Source = BatchState | str


class Cause(StrEnum):
    """Why a batch's state changes."""

    PLAN = "plan"
    CLAIM = "claim"
    NOBODY_LEFT = "nobody left"
    RETRY = "retry"
    SETTLE = "settle"
    RELEASE = "release"
    GIVE_UP = "give up"
    NO_ANSWER = "no answer"
    UNEXPECTED_ERROR = "unexpected error"
    RECOVER = "recover"
    RESEND_UNCERTAIN = "resend uncertain"
    RETRY_FAILED = "retry failed"
    RETRY_HELD = "retry held"


S = BatchState
_OUT = frozenset({S.IN_FLIGHT, S.PENDING})
# (cause, the state it moves to) -> the states it may move a batch from.
RULES: Mapping[tuple[Cause, BatchState], frozenset[Source]] = {
    (Cause.PLAN, S.PENDING): frozenset({NEW}),
    (Cause.CLAIM, S.IN_FLIGHT): frozenset({S.PENDING}),
    (Cause.NOBODY_LEFT, S.SENT): frozenset({S.IN_FLIGHT}),
    (Cause.RETRY, S.IN_FLIGHT): _OUT,
    (Cause.SETTLE, S.SENT): frozenset({S.IN_FLIGHT, S.UNCERTAIN}),
    (Cause.SETTLE, S.FAILED): frozenset({S.IN_FLIGHT, S.UNCERTAIN}),
    (Cause.RELEASE, S.PENDING): _OUT,
    (Cause.GIVE_UP, S.FAILED): _OUT,
    (Cause.NO_ANSWER, S.UNCERTAIN): frozenset({S.IN_FLIGHT}),
    (Cause.UNEXPECTED_ERROR, S.UNCERTAIN): _OUT,
    (Cause.RECOVER, S.UNCERTAIN): frozenset({S.IN_FLIGHT}),
    (Cause.RESEND_UNCERTAIN, S.PENDING): frozenset({S.UNCERTAIN}),
    (Cause.RETRY_FAILED, S.PENDING): frozenset({S.FAILED}),
    (Cause.RETRY_HELD, S.PENDING): frozenset({S.FAILED}),
}


def allowed(cause: Cause, current: Source, to: BatchState) -> bool:
    return current in RULES.get((cause, to), ())


def why_not(cause: Cause, current: Source, to: BatchState) -> str | None:
    """Why ``cause`` does not move a batch that is ``current`` to ``to``; None if it does."""
    if allowed(cause, current, to):
        return None
    if (cause, to) not in RULES:
        return f"{cause} never makes a batch {to}"
    if current == S.SENT:
        return "a sent batch is final"
    froms = " or ".join(sorted(RULES[(cause, to)]))
    return f"{cause} moves a batch to {to} only from {froms}, not from {current}"


def sources(cause: Cause, to: BatchState) -> list[BatchState]:
    """The stored states ``cause`` may move to ``to``; KeyError for a move it never makes."""
    return sorted(s for s in RULES[(cause, to)] if isinstance(s, BatchState))


def initial() -> BatchState:
    """The state the plan writes on a new batch."""
    assert allowed(Cause.PLAN, NEW, S.PENDING)
    return S.PENDING


def _from(cause: Cause, to: BatchState) -> ColumnElement[bool]:
    """The states ``cause`` may move to ``to``, as a condition on the row: each state a
    bound value of its own, so the statement's text never changes (an IN list of values
    would be written out again at every run); none: no row matches."""
    froms = sorted(str(s) for s in RULES.get((cause, to), ()) if isinstance(s, BatchState))
    if not froms:
        return false()
    return batches.c.state.in_([bindparam(f"from_{n}", state, type_=String)
                                for n, state in enumerate(froms)])


def move(conn: Connection, issue: str, cause: Cause, to: BatchState,
         number: int | None = None, **values: Any) -> int:
    """Move the batch ``number`` (or every batch of ``issue``) that ``cause`` may move to
    ``to``, writing ``values`` with the state; return how many moved."""
    where = [batches.c.issue == issue, _from(cause, to)]
    if number is not None:
        where.append(batches.c.number == number)
    return conn.execute(update(batches).where(*where).values(state=str(to), **values)).rowcount


def mover(cause: Cause, to: BatchState, **values: Any) -> Update:
    """:func:`move` of one batch as a statement made once and run for every batch: the
    batch is the bound parameters ``batch_issue`` and ``batch_number``, and ``values``
    may hold bound parameters of their own. It updates no row when the table refuses
    the move (then :func:`refuse` says why)."""
    return update(batches).where(
        batches.c.issue == bindparam("batch_issue", type_=batches.c.issue.type),
        batches.c.number == bindparam("batch_number", type_=batches.c.number.type),
        _from(cause, to)).values(state=str(to), **values)


def move_one(conn: Connection, issue: str, number: int, cause: Cause, to: BatchState,
             **values: Any) -> None:
    """Move one batch; BatchMoveRefused (saying why) when the table does not allow it."""
    if not move(conn, issue, cause, to, number, **values):
        refuse(conn, issue, number, cause, to)


def refuse(conn: Connection, issue: str, number: int, cause: Cause, to: BatchState
           ) -> NoReturn:
    """BatchMoveRefused for a move of one batch that updated no row, saying why."""
    current = conn.execute(select(batches.c.state).where(
        batches.c.issue == issue, batches.c.number == number)).scalar()
    reason = why_not(cause, current, to) if current is not None else "no such batch"
    raise BatchMoveRefused(f"issue {issue}, batch {number}: {reason}")


def table() -> Iterable[tuple[Cause, BatchState, frozenset[Source]]]:
    """Every (cause, to, from-states) row, for the docs and the tests."""
    for (cause, to), froms in RULES.items():
        yield cause, to, froms
