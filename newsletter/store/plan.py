"""The start of a send: its audience fixed once, and the content it is pinned to.

The first run inserts the send and plans it in one transaction: every active subscriber
goes in a numbered batch (a row of ``batches``, its readers' ids on it), in id order,
``batch_size`` a batch. A run that finds the send already there takes its lease
(store/lease.py) and checks that the content is the one the send began with
(``content_hash``): a resume with a changed issue is refused unless asked for.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.exc import IntegrityError, OperationalError

from newsletter.errors import DeliveryError
from newsletter.store import batch_state
from newsletter.store import lease as leases
from newsletter.store import status as reader
from newsletter.store.db import batches, db_now, sends, subscribers
from newsletter.store.send_status import status


@dataclass(frozen=True)
class Content:
    """What a send is pinned to: the rendered email's hash, and its subject (to say what
    changed)."""

    digest: str
    subject: str


@dataclass(frozen=True)
class Begun:
    planned: int
    taken_over_from: str | None = None  # a run whose lease had gone stale
    resumed: bool = False


def begin(engine: Engine, issue: str, transport: str, batch_size: int,
          content: Content | Callable[[], Content], lease: leases.Lease) -> Begun:
    """Take the issue for this run, planning its audience if this is the first run.

    Two runs started at the same instant end with one sending and the other refused with
    DeliveryError. ``content`` may be a callable that waits for the content (an email
    still being rendered): the plan runs meanwhile, and its transaction commits only once
    the content is pinned. If the callable raises, nothing of the send is kept.
    """
    planned = _plan_new(engine, issue, transport, batch_size, content, lease.owner)
    if planned is not None:
        return Begun(planned)
    previous = leases.acquire(engine, issue, lease)
    try:
        _check_content(engine, issue, _pinned(content), lease.accept_changes)
    except BaseException:
        leases.release(engine, issue, lease.owner)
        raise
    return Begun(status(engine, issue).planned, taken_over_from=previous, resumed=True)


@dataclass(frozen=True)
class Ahead:
    """What the next run of a begun send would find and do, read without changing
    anything (a dry run); every request taken as answered."""

    taken_over_from: str | None  # the run whose lease it would take over
    recovered: int  # readers of batches a gone run left in flight: uncertain from now on
    going: int  # readers it would send to (active now)
    leaving: int  # readers it would skip (on file, no longer active)
    requests: int  # batches it would send (those with anyone left to send to)
    batches: int  # batches it would take up


def ahead(engine: Engine, issue: str, content: Content, lease: leases.Lease,
          resend_uncertain: bool) -> Ahead:
    """What :func:`begin` and the run after it would do with a begun send: the same
    refusals (a live holder, changed content), then who the batches it would take up go
    to, as ``batch.claim`` would find them."""
    previous = leases.could_acquire(engine, issue, lease)
    _check_content(engine, issue, content, lease.accept_changes, pin=False)
    S = batch_state.BatchState
    taken = [S.PENDING, S.FAILED] + ([S.UNCERTAIN, S.IN_FLIGHT] if resend_uncertain else [])
    going = leaving = requests = 0
    with engine.connect() as conn:
        recovered = conn.execute(select(func.coalesce(func.sum(batches.c.waiting), 0)).where(
            batches.c.issue == issue, batches.c.state == S.IN_FLIGHT)).scalar_one()
        lists = conn.execute(select(batches.c.readers).where(
            batches.c.issue == issue, batches.c.state.in_(taken))).scalars().all()
        for chunk in _spans(sorted(filter(None, lists), key=itemgetter(0))):
            on_file = _statuses(conn, chunk[0][0], max(ids[-1] for ids in chunk))
            for planned in chunk:  # as the claim will find them (batch.find_readers)
                found = [on_file[sid] for sid in planned if sid in on_file]
                here = found.count(str(reader.Status.ACTIVE))
                going, leaving, requests = going + here, leaving + len(found) - here, \
                    requests + bool(here)
    return Ahead(previous, int(recovered), going, leaving, requests, len(lists))


_SPAN = 100_000  # ids whose statuses ahead() reads in one statement (a hundred batches)


def _spans(lists: list[list[int]]) -> list[list[list[int]]]:
    """Batches' lists (each in id order, sorted by first id) in runs whose ids lie within
    ``_SPAN`` of each other, so a plan of a million is read in about ten statements, and
    the ids between two far-apart batches are never read."""
    runs: list[list[list[int]]] = []
    for ids in lists:
        if runs and ids[-1] - runs[-1][0][0] < _SPAN:
            runs[-1].append(ids)
        else:
            runs.append([ids])
    return runs


def _statuses(conn: Connection, low: int, high: int) -> dict[int, str]:
    """The status of every reader on file whose id is from ``low`` to ``high``."""
    rows = conn.execute(select(subscribers.c.id, subscribers.c.status)
                        .where(subscribers.c.id.between(low, high)))
    return {sid: status for sid, status in rows}


def _plan_new(engine: Engine, issue: str, transport: str, batch_size: int,
              content: Content | Callable[[], Content], owner: str) -> int | None:
    """Insert and plan the send; None when it already exists (another run's)."""
    try:
        with engine.begin() as conn:
            now = db_now(conn)
            conn.execute(sends.insert().values(
                issue=issue, transport=transport, batch_size=batch_size, planned=0,
                created_at=now, owner=owner, heartbeat=now))
            planned = _plan(conn, issue, batch_size)
            pinned = _pinned(content)  # may wait for it: the plan has been made meanwhile
            conn.execute(update(sends).where(sends.c.issue == issue).values(
                content_hash=pinned.digest, subject=pinned.subject))
    except IntegrityError:
        return None
    except OperationalError as exc:
        if _busy(exc):  # SQLite: another run holds the write lock
            raise DeliveryError(f"issue {issue}: another run is planning this send right "
                                "now; run again in a minute") from None
        raise
    return planned


def _plan(conn: Connection, issue: str, batch_size: int) -> int:
    """The active subscribers in id order, each with the number of its batch (one for
    each ``batch_size`` of them), gathered by the database into a list for each batch;
    each list is then written as the ``readers`` bytes (in Python: neither database
    writes them) on the batch's new row, ``_ROWS`` batches at a time, so that the send's
    memory holds a few batches' ids, never a million."""
    number = (func.row_number().over(order_by=subscribers.c.id) - 1) // batch_size
    active = select(subscribers.c.id, number.label("number")) \
        .where(subscribers.c.status == reader.Status.ACTIVE).subquery()
    lists = select(active.c.number, _ids(conn, active.c.id)).group_by(active.c.number) \
        .execution_options(stream_results=True, yield_per=_ROWS)
    state, planned = str(batch_state.initial()), 0
    for rows in conn.execute(lists).partitions():
        conn.execute(insert(batches), [
            {"issue": issue, "number": n, "state": state, "attempts": 0, "size": len(ids),
             "waiting": len(ids), "readers": ids} for n, ids in rows])
        planned += sum(len(ids) for _, ids in rows)
    conn.execute(update(sends).where(sends.c.issue == issue).values(planned=planned))
    return planned


_ROWS = 100  # batches the plan reads and inserts at a time


def _ids(conn: Connection, column: ColumnElement[int]) -> ColumnElement[Any]:
    """The ids of a group as a list: an ``integer[]`` on PostgreSQL, a JSON array on
    SQLite (in any order: an ordered aggregate needs SQLite 3.44; the bytes sort it)."""
    if conn.dialect.name == "postgresql":
        return func.array_agg(aggregate_order_by(column, column), type_=ARRAY(Integer))
    return func.json_group_array(column, type_=JSON)


def _check_content(engine: Engine, issue: str, content: Content, accept_changes: bool,
                   *, pin: bool = True) -> None:
    """Refuse a resume whose content changed (DeliveryError) unless ``accept_changes``;
    else pin the content it resumes with (not when only looking: ``pin`` false)."""
    with engine.begin() as conn:
        row = conn.execute(select(sends.c.content_hash, sends.c.subject, sends.c.finished_at)
                           .where(sends.c.issue == issue)).one()
        if row.finished_at is not None:
            return  # nothing is left to send: an edit after the send changes nothing
        if row.content_hash in (None, content.digest) or accept_changes:
            # A send begun by an earlier version had no pin: it takes the content it resumes with.
            if pin:
                conn.execute(update(sends).where(sends.c.issue == issue).values(
                    content_hash=content.digest, subject=content.subject))
            return
    what = f"the subject changed from {row.subject!r} to {content.subject!r}" \
        if row.subject != content.subject else "the text of the email changed"
    done = status(engine, issue)
    raise DeliveryError(
        f"issue {issue} changed since its send began ({what}); "
        f"{done.planned - done.left:,} of {done.planned:,} recipients already have the "
        "earlier version. Restore the file to send them all the same, or run again with "
        "--accept-changes to send the rest the new version")


def _pinned(content: Content | Callable[[], Content]) -> Content:
    return content() if callable(content) else content


def _busy(exc: OperationalError) -> bool:
    """Whether SQLite refused for a lock another connection holds (by the driver's error
    code, not its words)."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
