"""The send ledger: who is in which batch of an issue, and what became of each batch.

The protocol that makes a send exactly-once:

1. ``plan`` fixes the audience in one transaction: every active subscriber gets a row in
   ``deliveries`` (state ``pending``) in a numbered batch. Done once per issue.
2. ``claim`` commits a batch as ``in_flight`` *before* its request goes out, first marking
   anyone who has since left as ``skipped``.
3. ``settle`` commits the provider's answer: ``sent`` with its id, recipients it refused
   as ``failed``. ``release`` puts a batch the provider surely did not take back to
   ``pending`` for a later attempt.
4. ``recover``, at the start of every run, turns batches still ``in_flight`` (the process
   died while their request was out) into ``uncertain``: they may or may not have been
   delivered, and are resent only when asked (``--resend-uncertain``).

Batches are handled by worker threads, each with its own connection; every step is one
short transaction, so SQLite's single writer and PostgreSQL behave the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, and_, bindparam, func, insert, literal, select, text, update

from newsletter.errors import DeliveryError
from newsletter.store.db import batches, deliveries, sends, subscribers
from newsletter.store.recipient import Recipient

DELIVERY_STATES = ("pending", "sent", "skipped", "failed", "uncertain")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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

    def plan(self, transport: str, batch_size: int) -> int:
        """Fix the audience (once); return how many recipients the issue has."""
        with self.engine.begin() as conn:
            row = conn.execute(select(sends.c.planned).where(sends.c.issue == self.issue)).first()
            if row is not None:
                return int(row.planned)
            number = func.row_number().over(order_by=subscribers.c.id)
            picked = select(literal(self.issue), subscribers.c.id,
                            (number - 1) // batch_size, literal("pending")) \
                .where(subscribers.c.status == "active")
            conn.execute(insert(deliveries).from_select(
                ["issue", "subscriber_id", "batch", "state"], picked))
            counted = select(deliveries.c.issue, deliveries.c.batch, literal("pending"),
                             func.count(), literal(0)) \
                .where(deliveries.c.issue == self.issue).group_by(deliveries.c.issue,
                                                                  deliveries.c.batch)
            conn.execute(insert(batches).from_select(
                ["issue", "number", "state", "size", "attempts"], counted))
            planned = conn.execute(select(func.count()).select_from(deliveries)
                                   .where(deliveries.c.issue == self.issue)).scalar_one()
            conn.execute(sends.insert().values(issue=self.issue, transport=transport,
                                               batch_size=batch_size, planned=planned,
                                               created_at=_now()))
        _analyze(self.engine)  # once, after the bulk insert: not on every resumed run
        return int(planned)

    def acquire(self, owner: str, alive: Callable[[str], bool]) -> None:
        """Take the issue for this run; DeliveryError if another live run holds it."""
        with self.engine.begin() as conn:
            row = conn.execute(select(sends.c.owner, sends.c.heartbeat)
                               .where(sends.c.issue == self.issue)).first()
            holder = row.owner if row else None
            if holder and holder != owner and alive(holder):
                raise DeliveryError(f"issue {self.issue} is being sent by another run "
                                    f"({holder}); wait for it, or stop it first")
            conn.execute(update(sends).where(sends.c.issue == self.issue)
                         .values(owner=owner, heartbeat=_now()))

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
        return self._move_batches("in_flight", "uncertain", "pending", "uncertain")

    def release_uncertain(self) -> int:
        return self._move_batches("uncertain", "pending", "uncertain", "pending")

    def release_failed(self) -> int:
        return self._move_batches("failed", "pending", "pending", "pending")

    def _move_batches(self, from_state: str, to_state: str, from_delivery: str,
                      to_delivery: str) -> int:
        with self.engine.begin() as conn:
            numbers = conn.execute(select(batches.c.number).where(
                batches.c.issue == self.issue, batches.c.state == from_state)).scalars().all()
            if not numbers:
                return 0
            moved = conn.execute(update(deliveries).where(
                deliveries.c.issue == self.issue, deliveries.c.batch.in_(numbers),
                deliveries.c.state == from_delivery).values(state=to_delivery)).rowcount
            conn.execute(update(batches).where(batches.c.issue == self.issue,
                                               batches.c.number.in_(numbers))
                         .values(state=to_state))
        return int(moved)

    def pending_batches(self) -> list[int]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(batches.c.number).where(
                batches.c.issue == self.issue, batches.c.state == "pending")
                .order_by(batches.c.number)).scalars())

    def claim(self, number: int) -> list[Recipient]:
        """Skip who left, mark the batch in flight, and return who it goes to."""
        in_batch = and_(deliveries.c.issue == self.issue, deliveries.c.batch == number,
                        deliveries.c.state == "pending")
        with self.engine.begin() as conn:
            taken = conn.execute(update(batches).where(
                batches.c.issue == self.issue, batches.c.number == number,
                batches.c.state == "pending").values(state="in_flight")).rowcount
            if not taken:
                return []  # another worker or run has it
            # One indexed join reads the batch with each subscriber's status as it is now.
            rows = conn.execute(
                select(subscribers.c.id, subscribers.c.email, subscribers.c.name,
                       subscribers.c.timezone, subscribers.c.status)
                .join(deliveries, deliveries.c.subscriber_id == subscribers.c.id)
                .where(in_batch).order_by(subscribers.c.id)).all()
            recipients = [Recipient(sid, email, name, zone)
                          for sid, email, name, zone, status in rows if status == "active"]
            if len(recipients) < len(rows):
                gone = [row[0] for row in rows if row[4] != "active"]
                conn.execute(update(deliveries).where(
                    in_batch, deliveries.c.subscriber_id.in_(gone)).values(state="skipped"))
            conn.execute(update(batches).where(batches.c.issue == self.issue,
                                               batches.c.number == number)
                         .values(state="in_flight" if recipients else "sent",
                                 attempts=batches.c.attempts + 1, started_at=_now()))
        return recipients

    def in_flight_again(self, number: int) -> None:
        """Before a retry: the batch is out again, so a crash now leaves it uncertain."""
        self._set_batch(number, state="in_flight", attempts=batches.c.attempts + 1)

    def uncertain(self, number: int, error: str) -> None:
        """The last attempt got no answer: it may have been delivered, or not."""
        with self.engine.begin() as conn:
            conn.execute(update(deliveries).where(
                deliveries.c.issue == self.issue, deliveries.c.batch == number,
                deliveries.c.state == "pending").values(state="uncertain"))
            conn.execute(update(batches).where(batches.c.issue == self.issue,
                                               batches.c.number == number)
                         .values(state="uncertain", error=error))

    def release(self, number: int, error: str, *, failed: bool = False) -> None:
        """The provider surely did not take the batch: pending again (or failed, to retry
        on the next run)."""
        self._set_batch(number, state="failed" if failed else "pending", error=error)

    def settle(self, number: int, provider_id: str | None, refused: dict[int, str],
               note: str | None = None) -> int:
        """Record an accepted batch; return how many recipients it reached."""
        in_batch = and_(deliveries.c.issue == self.issue, deliveries.c.batch == number,
                        deliveries.c.state == "pending")
        with self.engine.begin() as conn:
            if refused:
                conn.execute(update(deliveries).where(
                    in_batch, deliveries.c.subscriber_id == bindparam("sid"))
                    .values(state="failed"), [{"sid": sid} for sid in refused])
            sent = conn.execute(update(deliveries).where(in_batch).values(state="sent")).rowcount
            errors = "; ".join(f"{sid}: {why}" for sid, why in list(refused.items())[:20])
            conn.execute(update(batches).where(batches.c.issue == self.issue,
                                               batches.c.number == number)
                         .values(state="sent", provider_id=provider_id,
                                 error="; ".join(filter(None, [note, errors])) or None,
                                 finished_at=_now()))
        return int(sent)

    def _set_batch(self, number: int, **values: object) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(batches).where(batches.c.issue == self.issue,
                                               batches.c.number == number).values(**values))

    def finish_if_done(self) -> bool:
        with self.engine.begin() as conn:
            open_batches = conn.execute(select(func.count()).select_from(batches).where(
                batches.c.issue == self.issue, batches.c.state != "sent")).scalar_one()
            if open_batches == 0:
                conn.execute(update(sends).where(sends.c.issue == self.issue,
                                                 sends.c.finished_at.is_(None))
                             .values(finished_at=_now()))
        return open_batches == 0

    def status(self) -> Status:
        with self.engine.connect() as conn:
            send = conn.execute(select(sends).where(sends.c.issue == self.issue)).first()
            counts: dict[str, int] = dict(conn.execute(
                select(deliveries.c.state, func.count()).where(
                deliveries.c.issue == self.issue).group_by(deliveries.c.state)).all())
            batch_counts: dict[str, int] = dict(conn.execute(
                select(batches.c.state, func.count()).where(
                batches.c.issue == self.issue).group_by(batches.c.state)).all())
        return Status(self.issue, int(send.planned) if send else 0,
                      send.transport if send else None,
                      {s: int(counts.get(s, 0)) for s in DELIVERY_STATES},
                      {k: int(v) for k, v in batch_counts.items()},
                      bool(send and send.finished_at))

    def errors(self, limit: int = 5) -> list[tuple[int, str]]:
        with self.engine.connect() as conn:
            return [(r.number, r.error) for r in conn.execute(
                select(batches.c.number, batches.c.error).where(
                    batches.c.issue == self.issue, batches.c.error.is_not(None))
                .order_by(batches.c.number).limit(limit))]


def _analyze(engine: Engine) -> None:
    """Refresh planner statistics after a bulk plan (PostgreSQL picks better joins)."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE deliveries"))
