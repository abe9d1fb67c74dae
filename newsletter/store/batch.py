"""A send's batches, one at a time: claim one, then settle, release or give it up.

Each step is one short transaction, on a connection of the worker's own, so SQLite's
single writer and PostgreSQL behave the same. Every change of a batch's state goes
through store/batch_state.py's table; the readers a batch has yet to reach are the ids
in its ``readers`` column, and their number is ``batches.waiting``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    and_,
    bindparam,
    func,
    insert,
    select,
    update,
)

from newsletter.store import batch_state
from newsletter.store import status as reader
from newsletter.store.batch_state import BatchState, Cause
from newsletter.store.db import batches, deliveries, subscribers
from newsletter.store.recipient import Recipient


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _this(issue: str, number: int) -> ColumnElement[bool]:
    return and_(batches.c.issue == issue, batches.c.number == number)


def members(conn: Connection, issue: str, number: int) -> list[int]:
    """The readers the batch has yet to reach, in id order (as ``readers`` reads)."""
    ids = conn.execute(select(batches.c.readers).where(_this(issue, number))).scalar()
    return ids or []


def _listed(ids: Sequence[int]) -> list[int] | None:
    """What ``readers`` keeps for these ids: NULL once none is left (the column's type
    puts them in order)."""
    return list(ids) or None


def pending(engine: Engine, issue: str) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(batches.c.number).where(
            batches.c.issue == issue, batches.c.state == BatchState.PENDING)
            .order_by(batches.c.number)).scalars())


# The claim and the settle run for every batch (a thousand a million readers): their
# statements are made once, here, and only their values change.
_CLAIM = batch_state.mover(
    Cause.CLAIM, BatchState.IN_FLIGHT, attempts=batches.c.attempts + 1,
    started_at=bindparam("now", type_=batches.c.started_at.type)).returning(batches.c.readers)


def claim(engine: Engine, issue: str, number: int) -> list[Recipient]:
    """Skip who left, mark the batch in flight, and return who it goes to ([] when
    another worker or run has it)."""
    with engine.begin() as conn:
        # One statement moves the batch and reads its list (RETURNING: SQLite 3.35).
        claimed = conn.execute(_CLAIM, {"batch_issue": issue, "batch_number": number,
                                        "now": _now()}).first()
        if claimed is None:
            return []
        planned = claimed[0] or []  # in id order, as the column reads
        recipients, left = find_readers(conn, planned)
        if left:  # on file, no longer active: recorded, and off the list
            conn.execute(insert(deliveries), [
                {"issue": issue, "batch": number, "subscriber_id": sid, "state": "skipped"}
                for sid in left])
        if not recipients:  # everyone in it left, or was erased: nothing to send
            batch_state.move_one(conn, issue, number, Cause.NOBODY_LEFT, BatchState.SENT,
                                 waiting=0, readers=None)
        elif len(recipients) < len(planned):  # who left, or was erased, off the list
            conn.execute(update(batches).where(_this(issue, number)).values(
                waiting=len(recipients), readers=_listed([r.id for r in recipients])))
    return recipients


def in_flight_again(engine: Engine, issue: str, number: int) -> None:
    """Before a retry: the batch is out again, so a crash now leaves it uncertain."""
    _move(engine, issue, number, Cause.RETRY, BatchState.IN_FLIGHT,
          attempts=batches.c.attempts + 1)


def uncertain(engine: Engine, issue: str, number: int, error: str, *,
              unexpected: bool = False) -> None:
    """The last attempt got no answer (or an error of ours): it may have gone, or not."""
    cause = Cause.UNEXPECTED_ERROR if unexpected else Cause.NO_ANSWER
    _move(engine, issue, number, cause, BatchState.UNCERTAIN, error=error)


def release(engine: Engine, issue: str, number: int, error: str, *,
            failed: bool = False) -> None:
    """The provider surely did not take the batch: pending again, or (``failed``, every
    attempt spent) failed, for the next run."""
    if failed:
        _move(engine, issue, number, Cause.GIVE_UP, BatchState.FAILED, error=error)
    else:
        _move(engine, issue, number, Cause.RELEASE, BatchState.PENDING, error=error)


def retry_held(engine: Engine, issue: str, number: int) -> None:
    """Readers a server asked to try later go again in this run; the server's words stay
    on the batch until its next answer."""
    _move(engine, issue, number, Cause.RETRY_HELD, BatchState.PENDING)


def _move(engine: Engine, issue: str, number: int, cause: Cause, to: BatchState,
          **values: object) -> None:
    with engine.begin() as conn:
        batch_state.move_one(conn, issue, number, cause, to, **values)


_WAITING = select(func.coalesce(batches.c.waiting, 0)).where(
    batches.c.issue == bindparam("batch_issue"), batches.c.number == bindparam("batch_number")
).with_for_update()
_SETTLED = {to: batch_state.mover(
    Cause.SETTLE, to, provider_id=bindparam("answer", type_=batches.c.provider_id.type),
    error=bindparam("why", type_=batches.c.error.type),
    finished_at=bindparam("now", type_=batches.c.finished_at.type),
    reached=func.coalesce(batches.c.reached, 0) + bindparam("sent", type_=Integer),
    waiting=bindparam("held", type_=Integer),
    readers=bindparam("held_ids", type_=batches.c.readers.type))
    for to in (BatchState.SENT, BatchState.FAILED)}


def settle(engine: Engine, issue: str, number: int, provider_id: str | None,
           refused: dict[int, str], note: str | None = None,
           not_sent: dict[int, str] | None = None) -> int:
    """Record a batch the transport handled; return how many recipients it reached.

    ``refused`` recipients become failed; ``not_sent`` ones stay on the batch's list and
    the batch is marked failed, so the next run sends to them (and only them)."""
    this = {"batch_issue": issue, "batch_number": number}
    with engine.begin() as conn:
        # The batch's row is locked first (on PostgreSQL; "forget me" takes the same
        # lock before it takes a reader off the list): the answer is about the readers
        # the list held when the batch went, and no one else.
        waiting = int(conn.execute(_WAITING, this).scalar() or 0)
        member = set(members(conn, issue, number)) if refused or not_sent else set()
        failed = [sid for sid in refused if sid in member]
        held = [sid for sid in (not_sent or {}) if sid in member and sid not in refused]
        if failed:
            conn.execute(insert(deliveries), [
                {"issue": issue, "batch": number, "subscriber_id": sid, "state": "failed"}
                for sid in failed])
        if refused or not_sent:
            waiting = len(member)
        sent = waiting - len(failed) - len(held)
        reasons = {**(not_sent or {}), **refused}
        errors = "; ".join(f"{sid}: {why}" for sid, why in list(reasons.items())[:20])
        # The number reached goes on the batch's own row (a batch retried after failing
        # part-way adds to it): no row that every batch must lock in turn. Those held
        # back stay on its list for the next run; the rest are done with.
        to = BatchState.FAILED if held else BatchState.SENT
        if not conn.execute(_SETTLED[to], {
                **this, "answer": provider_id, "now": _now(), "sent": sent,
                "why": "; ".join(filter(None, [note, errors])) or None,
                "held": len(held), "held_ids": _listed(held)}).rowcount:
            batch_state.refuse(conn, issue, number, Cause.SETTLE, to)
    return sent


def move_all(engine: Engine, issue: str, cause: Cause, to: BatchState) -> int:
    """Every batch of the issue that ``cause`` may move goes to ``to``; return the readers
    they hold."""
    froms = [str(s) for s in batch_state.sources(cause, to)]
    with engine.begin() as conn:
        moved = conn.execute(select(func.coalesce(func.sum(batches.c.waiting), 0)).where(
            batches.c.issue == issue, batches.c.state.in_(froms))).scalar_one()
        batch_state.move(conn, issue, cause, to)
    return int(moved)


_READERS = select(subscribers.c.id, subscribers.c.email, subscribers.c.name,
                  subscribers.c.timezone, subscribers.c.link_key, subscribers.c.status) \
    .where(subscribers.c.id.between(bindparam("low"), bindparam("high"))) \
    .order_by(subscribers.c.id)


def find_readers(conn: Connection, planned: list[int]) -> tuple[list[Recipient], list[int]]:
    """Of a batch's ``planned`` readers: who it goes to, in id order, and who has left
    (still on file, no longer active). One erased since the plan is in neither.

    A batch is a run of consecutive ids among the active readers, so one range read by
    the subscribers' key finds them all; the few inside it who were not planned (not
    active when the plan was made) are passed over here."""
    if not planned:
        return [], []
    wanted = set(planned)
    # Plain numbers and text, so taken from the driver's cursor as they are.
    rows = conn.execute(_READERS, {"low": planned[0], "high": planned[-1]}).cursor.fetchall()
    # A thousand a batch: each made by the tuple's own constructor, as _make does,
    # without its Python call.
    new, active = tuple.__new__, str(reader.Status.ACTIVE)
    recipients = [new(Recipient, row[:5]) for row in rows
                  if row[5] == active and row[0] in wanted]
    if len(recipients) == len(planned):  # nobody left: the common case
        return recipients, []
    return recipients, [row[0] for row in rows if row[5] != active and row[0] in wanted]
