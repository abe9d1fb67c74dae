"""The send ledger: who is in which batch of an issue, and what became of each batch.

The protocol that makes a send exactly-once:

1. ``plan`` fixes the audience in one transaction: every active subscriber is put in a
   numbered batch, whose row lists the ids of the readers it has yet to reach
   (``readers``, ``waiting``). Done once per issue.
2. ``claim`` commits a batch as ``in_flight`` *before* its request goes out, first taking
   anyone who has since left off its list (a ``skipped`` row in ``deliveries``).
3. ``settle`` commits the provider's answer: ``sent`` with its id and the number reached,
   recipients it refused as ``failed`` rows. ``release`` puts a batch the provider surely
   did not take back to ``pending`` for a later attempt.
4. ``recover``, at the start of every run, turns batches still ``in_flight`` (the process
   died while their request was out) into ``uncertain``: they may or may not have been
   delivered, and are resent only when asked (``--resend-uncertain``).

One run works on an issue at a time: it holds a lease (``owner``, ``heartbeat``) that it
renews while it runs; a lease not renewed for a while (10 minutes by default) is stale
and the next run, from any host, takes it over. The content a send began with is pinned
(``content_hash``): a resume with a changed issue is refused unless asked for.

Batches are handled by worker threads, each with its own connection; every step is one
short transaction, so SQLite's single writer and PostgreSQL behave the same.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    Connection,
    Engine,
    Text,
    and_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from newsletter.errors import DeliveryError
from newsletter.store import status as reader
from newsletter.store.db import (
    batches,
    deliveries,
    events,
    reader_ids,
    readers_text,
    sends,
    subscribers,
)
from newsletter.store.recipient import Recipient

DELIVERY_STATES = ("pending", "sent", "skipped", "failed", "uncertain")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def db_now(conn: Connection) -> dt.datetime:
    """The database's clock (UTC): the one clock every runner of a send shares."""
    if conn.dialect.name == "sqlite":  # in UTC; CURRENT_TIMESTAMP would drop the fraction
        text_now = conn.execute(select(func.strftime("%Y-%m-%d %H:%M:%f", "now"))).scalar_one()
        return dt.datetime.fromisoformat(str(text_now)).replace(tzinfo=dt.UTC)
    value = conn.execute(select(func.current_timestamp())).scalar_one()
    return _aware(value) or _now()


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes; we only ever store UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def run_owner() -> str:
    """This run's name in a lease: the host, the process, and a nonce (pids repeat)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _gone(holder: str, seen: dt.datetime | None, now: dt.datetime, lease: Lease) -> bool:
    """Whether the run ``holder`` has stopped. A process of this host is asked directly (a
    clock that jumped cannot fool that); a run elsewhere is gone when its lease is stale."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return seen is None or now - seen >= lease.stale_after


def _held_message(issue: str, holder: str, seen: dt.datetime | None, now: dt.datetime,
                  lease: Lease) -> str:
    ago = int((now - seen).total_seconds()) if seen else 0
    left = int(lease.stale_after.total_seconds()) - ago
    return (f"issue {issue} is being sent by another run ({holder}, last heard from {ago} s "
            f"ago); wait for it, or it is taken over once silent for "
            f"{_duration(lease.stale_after)} (in {max(left, 0)} s)")


def _duration(span: dt.timedelta) -> str:
    seconds = int(span.total_seconds())
    return f"{seconds // 60} min" if seconds % 60 == 0 and seconds >= 60 else f"{seconds} s"


@dataclass(frozen=True)
class Content:
    """What a send is pinned to: the rendered email's hash, and its subject (to say what
    changed)."""

    digest: str
    subject: str


@dataclass(frozen=True)
class Lease:
    owner: str  # this run: "host:pid:nonce"
    stale_after: dt.timedelta = dt.timedelta(minutes=10)
    accept_changes: bool = False  # resume with content other than the send began with


@dataclass(frozen=True)
class Begun:
    planned: int
    taken_over_from: str | None = None  # a run whose lease had gone stale
    resumed: bool = False


CANCELLED = "/cancelled-"  # ISSUE/cancelled-N: the key a cancelled send is kept under


@dataclass(frozen=True)
class Cancelled:
    key: str
    at: dt.datetime | None
    planned: int
    batch_id: str | None
    send_at: dt.datetime | None


@dataclass(frozen=True)
class Status:
    issue: str
    planned: int
    transport: str | None
    counts: dict[str, int]
    batches: dict[str, int]
    finished: bool

    @property
    def left(self) -> int:
        return self.counts.get("pending", 0)


class Ledger:
    def __init__(self, engine: Engine, issue: str) -> None:
        self.engine = engine
        self.issue = issue

    def exists(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(sends.c.issue).where(sends.c.issue == self.issue)) \
                .first() is not None

    def begin(self, transport: str, batch_size: int,
              content: Content | Callable[[], Content], lease: Lease) -> Begun:
        """Take the issue for this run, planning its audience if this is the first run.

        The first run inserts the send and plans it in one transaction; a run that finds
        the send already there takes the lease (see :meth:`acquire`) and checks that the
        content is the one the send began with. Two runs started at the same instant end
        with one sending and the other refused with DeliveryError.

        ``content`` may be a callable that waits for the content (an email still being
        rendered): the plan runs meanwhile, and its transaction commits only once the
        content is pinned. If the callable raises, nothing of the send is kept.
        """
        planned = self._plan_new(transport, batch_size, content, lease.owner)
        if planned is not None:
            return Begun(planned)
        previous = self.acquire(lease)
        try:
            self._check_content(_pinned(content), lease.accept_changes)
        except BaseException:
            self.release_lease(lease.owner)
            raise
        return Begun(self.status().planned, taken_over_from=previous, resumed=True)

    def _plan_new(self, transport: str, batch_size: int,
                  content: Content | Callable[[], Content], owner: str) -> int | None:
        """Insert and plan the send; None when it already exists (another run's)."""
        try:
            with self.engine.begin() as conn:
                now = db_now(conn)
                conn.execute(sends.insert().values(
                    issue=self.issue, transport=transport, batch_size=batch_size, planned=0,
                    created_at=now, owner=owner, heartbeat=now))
                planned = self._plan(conn, batch_size)
                pinned = _pinned(content)  # may wait for it: the plan has been made meanwhile
                conn.execute(update(sends).where(sends.c.issue == self.issue).values(
                    content_hash=pinned.digest, subject=pinned.subject))
        except IntegrityError:
            return None
        except OperationalError as exc:
            if _busy(exc):  # SQLite: another run holds the write lock
                raise DeliveryError(f"issue {self.issue}: another run is planning this send "
                                    "right now; run again in a minute") from None
            raise
        return planned

    def _plan(self, conn: Connection, batch_size: int) -> int:
        """One statement: the active subscribers in id order, a batch for each
        ``batch_size`` of them, and on each batch's row the list of its readers."""
        number = (func.row_number().over(order_by=subscribers.c.id) - 1) // batch_size
        active = select(subscribers.c.id, number.label("number")) \
            .where(subscribers.c.status == reader.Status.ACTIVE).subquery()
        ids = cast(active.c.id, Text)
        listed = func.string_agg(ids, literal(",")) \
            if conn.dialect.name == "postgresql" else func.group_concat(ids, literal(","))
        size = func.count()
        conn.execute(insert(batches).from_select(
            ["issue", "number", "state", "attempts", "size", "waiting", "readers"],
            select(literal(self.issue), active.c.number, literal("pending"), literal(0),
                   size, size, literal(",").concat(listed).concat(","))
            .group_by(active.c.number)))
        planned = int(conn.execute(select(func.coalesce(func.sum(batches.c.size), 0))
                                   .where(batches.c.issue == self.issue)).scalar_one())
        conn.execute(update(sends).where(sends.c.issue == self.issue).values(planned=planned))
        return planned

    def acquire(self, lease: Lease) -> str | None:
        """Take the issue for this run; return the run it was taken over from, if any.

        The lease is free, ours, stale (not renewed for ``lease.stale_after``, by the
        database's clock, so runners' clocks do not matter), or held by a process of this
        host that is gone. The take-over is a compare-and-set on the holder, so of two runs
        that try at once exactly one wins. DeliveryError names a live holder.
        """
        with self.engine.begin() as conn:
            now = db_now(conn)
            row = conn.execute(select(sends.c.owner, sends.c.heartbeat)
                               .where(sends.c.issue == self.issue)).first()
            if row is None:
                raise DeliveryError(f"issue {self.issue} has not been planned")
            holder, seen = row.owner, _aware(row.heartbeat)
            if holder and holder != lease.owner and not _gone(holder, seen, now, lease):
                raise DeliveryError(_held_message(self.issue, holder, seen, now, lease))
            taken = conn.execute(update(sends).where(
                sends.c.issue == self.issue,
                sends.c.owner.is_(None) if holder is None else sends.c.owner == holder)
                .values(owner=lease.owner, heartbeat=now)).rowcount
        if not taken:
            raise DeliveryError(f"issue {self.issue} was taken by another run just now; "
                                "wait for it, or run again later")
        return holder if holder and holder != lease.owner else None

    def renew(self, owner: str) -> bool:
        """Say this run is alive; False if the lease was taken over meanwhile."""
        with self.engine.begin() as conn:
            return bool(conn.execute(update(sends).where(
                sends.c.issue == self.issue, sends.c.owner == owner)
                .values(heartbeat=db_now(conn))).rowcount)

    def _check_content(self, content: Content, accept_changes: bool) -> None:
        with self.engine.begin() as conn:
            row = conn.execute(select(sends.c.content_hash, sends.c.subject,
                                      sends.c.finished_at)
                               .where(sends.c.issue == self.issue)).one()
            if row.finished_at is not None:
                return  # nothing is left to send: an edit after the send changes nothing
            if row.content_hash in (None, content.digest) or accept_changes:
                # A send of release 0.1 had no pin: it takes the content it resumes with.
                conn.execute(update(sends).where(sends.c.issue == self.issue).values(
                    content_hash=content.digest, subject=content.subject))
                return
        what = f"the subject changed from {row.subject!r} to {content.subject!r}" \
            if row.subject != content.subject else "the text of the email changed"
        done = self.status()
        raise DeliveryError(
            f"issue {self.issue} changed since its send began ({what}); "
            f"{done.planned - done.left:,} of {done.planned:,} recipients already have the "
            "earlier version. Restore the file to send them all the same, or run again with "
            "--accept-changes to send the rest the new version")

    def release_lease(self, owner: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(sends).where(sends.c.issue == self.issue,
                                             sends.c.owner == owner).values(owner=None))

    def scheduled(self) -> tuple[str | None, dt.datetime | None]:
        with self.engine.connect() as conn:
            row = conn.execute(select(sends.c.batch_id, sends.c.send_at)
                               .where(sends.c.issue == self.issue)).first()
        if row is None or row.send_at is None:
            return (row.batch_id if row else None), None
        # SQLite hands back naive datetimes; we only ever store UTC.
        at = row.send_at if row.send_at.tzinfo else row.send_at.replace(tzinfo=dt.UTC)
        return row.batch_id, at

    def set_scheduled(self, batch_id: str, send_at: dt.datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(sends).where(sends.c.issue == self.issue)
                         .values(batch_id=batch_id, send_at=send_at.astimezone(dt.UTC)))

    def recover(self) -> int:
        """Batches left in flight by a run that died become uncertain; return recipients."""
        return self._move_batches("in_flight", "uncertain")

    def release_uncertain(self) -> int:
        return self._move_batches("uncertain", "pending")

    def release_failed(self) -> int:
        return self._move_batches("failed", "pending")

    def _move_batches(self, from_state: str, to_state: str) -> int:
        """Batches in ``from_state`` go to ``to_state``; return the readers they hold."""
        with self.engine.begin() as conn:
            moved = conn.execute(select(func.coalesce(func.sum(batches.c.waiting), 0)).where(
                batches.c.issue == self.issue, batches.c.state == from_state)).scalar_one()
            conn.execute(update(batches).where(batches.c.issue == self.issue,
                                               batches.c.state == from_state)
                         .values(state=to_state))
        return int(moved)

    def pending_batches(self) -> list[int]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(batches.c.number).where(
                batches.c.issue == self.issue, batches.c.state == "pending")
                .order_by(batches.c.number)).scalars())

    def claim(self, number: int) -> list[Recipient]:
        """Skip who left, mark the batch in flight, and return who it goes to."""
        this = and_(batches.c.issue == self.issue, batches.c.number == number)
        with self.engine.begin() as conn:
            taken = conn.execute(update(batches).where(this, batches.c.state == "pending")
                                 .values(state="in_flight", attempts=batches.c.attempts + 1,
                                         started_at=_now())).rowcount
            if not taken:
                return []  # another worker or run has it
            members = reader_ids(conn.execute(select(batches.c.readers).where(this)).scalar())
            recipients, left = _readers(conn, members)
            if left:  # on file, no longer active: recorded, and off the list
                conn.execute(insert(deliveries), [
                    {"issue": self.issue, "batch": number, "subscriber_id": sid,
                     "state": "skipped"} for sid in left])
            if not recipients:  # everyone in it left, or was erased: nothing to send
                conn.execute(update(batches).where(this).values(
                    state="sent", readers=None, waiting=0))
            elif len(recipients) < len(members):
                conn.execute(update(batches).where(this).values(
                    readers=readers_text(r.id for r in recipients), waiting=len(recipients)))
        return recipients

    def in_flight_again(self, number: int) -> None:
        """Before a retry: the batch is out again, so a crash now leaves it uncertain."""
        self._set_batch(number, state="in_flight", attempts=batches.c.attempts + 1)

    def uncertain(self, number: int, error: str) -> None:
        """The last attempt got no answer: it may have been delivered, or not."""
        self._set_batch(number, state="uncertain", error=error)

    def release(self, number: int, error: str | None, *, failed: bool = False) -> None:
        """The provider surely did not take the batch: pending again (or failed, to retry
        on the next run). ``error`` None keeps the words recorded last (a server's
        answer about the readers it held back)."""
        values: dict[str, object] = {"state": "failed" if failed else "pending"}
        if error is not None:
            values["error"] = error
        self._set_batch(number, **values)

    def settle(self, number: int, provider_id: str | None, refused: dict[int, str],
               note: str | None = None, not_sent: dict[int, str] | None = None) -> int:
        """Record a batch the transport handled; return how many recipients it reached.

        ``refused`` recipients become failed; ``not_sent`` ones stay pending and the batch
        is marked failed, so the next run sends to them (and only them)."""
        this = and_(batches.c.issue == self.issue, batches.c.number == number)
        with self.engine.begin() as conn:
            # Who the batch held when it went, as the ledger has it: the answer is about
            # them and no one else. When it reached them all, their number is enough.
            # (Locked on PostgreSQL: "forget me" may be taking an id off this list.)
            if refused or not_sent:
                member = set(reader_ids(conn.execute(
                    select(batches.c.readers).where(this).with_for_update()).scalar()))
                waiting = len(member)
            else:
                member, waiting = set(), int(conn.execute(
                    select(func.coalesce(batches.c.waiting, 0)).where(this)
                    .with_for_update()).scalar() or 0)
            failed = [sid for sid in refused if sid in member]
            held = [sid for sid in (not_sent or {}) if sid in member and sid not in refused]
            if failed:
                conn.execute(insert(deliveries), [
                    {"issue": self.issue, "batch": number, "subscriber_id": sid,
                     "state": "failed"} for sid in failed])
            sent = waiting - len(failed) - len(held)
            reasons = {**(not_sent or {}), **refused}
            errors = "; ".join(f"{sid}: {why}" for sid, why in list(reasons.items())[:20])
            # The number reached goes on the batch's own row (a batch retried after
            # failing part-way adds to it): no row that every batch must lock in turn.
            # Those held back stay on its list for the next run.
            conn.execute(update(batches).where(this).values(
                state="failed" if held else "sent", provider_id=provider_id,
                error="; ".join(filter(None, [note, errors])) or None, finished_at=_now(),
                reached=func.coalesce(batches.c.reached, 0) + sent,
                readers=readers_text(held), waiting=len(held)))
        return sent

    def _set_batch(self, number: int, **values: object) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(batches).where(batches.c.issue == self.issue,
                                               batches.c.number == number).values(**values))

    def finish_if_done(self) -> bool:
        """Mark the send finished when every batch is sent, and compact it."""
        with self.engine.begin() as conn:
            open_batches = conn.execute(select(func.count()).select_from(batches).where(
                batches.c.issue == self.issue, batches.c.state != "sent")).scalar_one()
            if open_batches == 0:
                conn.execute(update(sends).where(sends.c.issue == self.issue,
                                                 sends.c.finished_at.is_(None))
                             .values(finished_at=_now()))
                self._compact(conn)
        return open_batches == 0

    def _compact(self, conn: Connection) -> None:
        """A finished send keeps a row only for each reader it did not reach (failed,
        skipped): everyone it reached is a number. Each batch counts its own as it
        settles; rows marked "sent" remain only from sends begun by an earlier release,
        and are counted into the send's number and removed here. A million readers cost
        a few megabytes, not hundreds; ``status`` adds the numbers back."""
        done = conn.execute(select(sends.c.compacted_at).where(sends.c.issue == self.issue)
                            ).scalar()
        if done is not None:
            return
        reached = deliveries.c.issue == self.issue, deliveries.c.state == "sent"
        count = conn.execute(select(func.count()).select_from(deliveries).where(*reached)
                             ).scalar_one()
        conn.execute(update(sends).where(sends.c.issue == self.issue).values(
            sent_count=func.coalesce(sends.c.sent_count, 0) + count, compacted_at=_now()))
        if count:
            conn.execute(deliveries.delete().where(*reached))

    def status(self) -> Status:
        """How the send stands. A batch still in flight counts as pending while its run
        lives, and as uncertain once that run is gone (its process on this host ended, or
        its lease went stale): what the next run's :meth:`recover` will make of it."""
        with self.engine.connect() as conn:
            send = conn.execute(select(sends).where(sends.c.issue == self.issue)).first()
            run_gone = send is None or send.owner is None or \
                _gone(send.owner, _aware(send.heartbeat), db_now(conn), Lease(""))
            counts: dict[str, int] = dict(conn.execute(
                select(deliveries.c.state, func.count()).where(
                deliveries.c.issue == self.issue).group_by(deliveries.c.state)).all())
            by_state = conn.execute(
                select(batches.c.state, func.count(), func.sum(batches.c.reached),
                       func.sum(batches.c.waiting))
                .where(batches.c.issue == self.issue).group_by(batches.c.state)).all()
        batch_counts = {state: int(count) for state, count, _, _ in by_state}
        # Those reached are numbers, not rows: each batch's, and (from sends begun by an
        # earlier release) the send's own. So are those still waiting: uncertain with
        # their batch, pending in any other.
        reached = sum(int(n or 0) for _, _, n, _ in by_state)
        if send is not None and send.sent_count is not None:
            reached += int(send.sent_count)
        counts["sent"] = counts.get("sent", 0) + reached
        for state, _, _, waiting in by_state:
            lost = state == "uncertain" or (state == "in_flight" and run_gone)
            held = "uncertain" if lost else "pending"
            counts[held] = counts.get(held, 0) + int(waiting or 0)
        return Status(self.issue, int(send.planned) if send else 0,
                      send.transport if send else None,
                      {s: int(counts.get(s, 0)) for s in DELIVERY_STATES},
                      batch_counts,
                      bool(send and send.finished_at))

    def cancel(self) -> str:
        """Keep a cancelled send as history, out of the way of a new send of the issue:
        its rows move, in one transaction, to the key ``ISSUE/cancelled-N``, returned."""
        with self.engine.begin() as conn:
            now = db_now(conn)
            earlier = conn.execute(select(func.count()).select_from(sends).where(
                sends.c.issue.like(f"{self.issue}{CANCELLED}%"))).scalar_one()
            key = f"{self.issue}{CANCELLED}{int(earlier) + 1}"
            for table in (deliveries, batches):
                conn.execute(update(table).where(table.c.issue == self.issue)
                             .values(issue=key))
            conn.execute(update(sends).where(sends.c.issue == self.issue)
                         .values(issue=key, cancelled_at=now, owner=None))
        return key

    def cancelled(self) -> list[Cancelled]:
        """The cancelled sends of this issue, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(sends.c.issue, sends.c.cancelled_at, sends.c.planned,
                                       sends.c.batch_id, sends.c.send_at)
                                .where(sends.c.issue.like(f"{self.issue}{CANCELLED}%"))
                                .order_by(sends.c.cancelled_at)).all()
        return [Cancelled(r.issue, _aware(r.cancelled_at), int(r.planned), r.batch_id,
                          _aware(r.send_at)) for r in rows]

    @staticmethod
    def prune(engine: Engine, before: dt.datetime) -> dict[str, int]:
        """Remove sends begun before ``before`` (their batches and readers' rows, cancelled
        ones too) and provider events received before it; return what went, by table."""
        with engine.begin() as conn:
            old = conn.execute(select(sends.c.issue).where(sends.c.created_at < before)
                               ).scalars().all()
            gone = {"sends": len(old), "batches": 0, "deliveries": 0, "events": 0}
            for start in range(0, len(old), 500):
                keys = old[start:start + 500]
                gone["deliveries"] += conn.execute(
                    deliveries.delete().where(deliveries.c.issue.in_(keys))).rowcount
                gone["batches"] += conn.execute(
                    batches.delete().where(batches.c.issue.in_(keys))).rowcount
                conn.execute(sends.delete().where(sends.c.issue.in_(keys)))
            gone["events"] = conn.execute(
                events.delete().where(events.c.received_at < before)).rowcount
        return gone

    def errors(self, limit: int = 5) -> list[tuple[int, str]]:
        with self.engine.connect() as conn:
            return [(r.number, r.error) for r in conn.execute(
                select(batches.c.number, batches.c.error).where(
                    batches.c.issue == self.issue, batches.c.error.is_not(None))
                .order_by(batches.c.number).limit(limit))]


def _pinned(content: Content | Callable[[], Content]) -> Content:
    return content() if callable(content) else content


_READERS = select(subscribers.c.id, subscribers.c.email, subscribers.c.name,
                  subscribers.c.timezone, subscribers.c.link_key, subscribers.c.status) \
    .where(subscribers.c.id.between(bindparam("low"), bindparam("high"))) \
    .order_by(subscribers.c.id)


def _readers(conn: Connection, members: list[int]) -> tuple[list[Recipient], list[int]]:
    """Of a batch's ``members``: who it goes to, in id order, and who has left (still on
    file, no longer active). One erased since the plan is in neither.

    A batch is a run of consecutive ids among the active readers, so one range read by
    the subscribers' key finds them all; the few inside it who were not planned (not
    active when the plan was made) are passed over here."""
    if not members:
        return [], []
    wanted = set(members)
    # Plain numbers and text, so taken from the driver's cursor as they are.
    rows = conn.execute(_READERS, {"low": min(members), "high": max(members)}
                        ).cursor.fetchall()
    make = Recipient._make  # a thousand a batch: the tuple's own constructor
    recipients = [make(row[:5]) for row in rows
                  if row[0] in wanted and row[5] == reader.Status.ACTIVE]
    left = [row[0] for row in rows if row[0] in wanted and row[5] != reader.Status.ACTIVE]
    return recipients, left


def _busy(exc: OperationalError) -> bool:
    """Whether SQLite refused for a lock another connection holds (by the driver's error
    code, not its words)."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
