"""The send ledger of one issue: who is in which batch, and what became of each batch.

The protocol that makes a send exactly-once, each step in a module of its own:

1. **plan** (plan.py) fixes the audience in one transaction: every active subscriber is
   put in a numbered batch (its readers' ids on the batch's row). Done once per issue; the
   content the send began with is pinned.
2. **claim** (batch.py) commits a batch as ``in_flight`` *before* its request goes out,
   first taking anyone who has since left off its list (a ``skipped`` row in
   ``deliveries``).
3. **settle** commits the provider's answer: ``sent`` with its id and the number reached,
   recipients it refused as ``failed`` rows. **release** puts a batch the provider surely
   did not take back to ``pending`` for a later attempt.
4. **recover**, at the start of every run, turns batches still ``in_flight`` (the process
   died while their request was out) into ``uncertain``: they may or may not have been
   delivered, and are resent only when asked (``--resend-uncertain``).

Every change of a batch's state goes through batch_state.py's table. One run works on an
issue at a time, holding its lease (lease.py). A finished send is compacted, and old
ones pruned, by retention.py. This class is the one handle the send holds: each method
says which step it is and hands it to its module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, func, select, update

from newsletter.store import batch, plan, retention, send_status
from newsletter.store import lease as leases
from newsletter.store.batch_state import BatchState, Cause
from newsletter.store.db import batches, db_now, deliveries, sends
from newsletter.store.lease import Lease, run_owner
from newsletter.store.plan import Ahead, Begun, Content
from newsletter.store.recipient import Recipient
from newsletter.store.send_status import DELIVERY_STATES, Status

__all__ = ["DELIVERY_STATES", "Ahead", "Begun", "Cancelled", "Content", "Lease", "Ledger", "Status",
           "run_owner"]

CANCELLED = "/cancelled-"  # ISSUE/cancelled-N: the key a cancelled send is kept under


@dataclass(frozen=True)
class Cancelled:
    key: str
    at: dt.datetime | None
    planned: int
    batch_id: str | None
    send_at: dt.datetime | None


class Ledger:
    def __init__(self, engine: Engine, issue: str) -> None:
        self.engine = engine
        self.issue = issue

    def exists(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(sends.c.issue).where(sends.c.issue == self.issue)) \
                .first() is not None

    # The plan and the lease.
    def begin(self, transport: str, batch_size: int,
              content: Content | Callable[[], Content], lease: Lease) -> Begun:
        return plan.begin(self.engine, self.issue, transport, batch_size, content, lease)

    def ahead(self, content: Content, lease: Lease, resend_uncertain: bool) -> Ahead:
        """What the next run would do with this begun send, changing nothing (a dry run)."""
        return plan.ahead(self.engine, self.issue, content, lease, resend_uncertain)

    def acquire(self, lease: Lease) -> str | None:
        return leases.acquire(self.engine, self.issue, lease)

    def renew(self, owner: str) -> bool:
        return leases.renew(self.engine, self.issue, owner)

    def release_lease(self, owner: str) -> None:
        leases.release(self.engine, self.issue, owner)

    # The batches.
    def recover(self) -> int:
        """Batches left in flight by a run that died become uncertain; return recipients."""
        return batch.move_all(self.engine, self.issue, Cause.RECOVER, BatchState.UNCERTAIN)

    def release_uncertain(self) -> int:
        return batch.move_all(self.engine, self.issue, Cause.RESEND_UNCERTAIN,
                              BatchState.PENDING)

    def release_failed(self) -> int:
        return batch.move_all(self.engine, self.issue, Cause.RETRY_FAILED, BatchState.PENDING)

    def pending_batches(self) -> list[int]:
        return batch.pending(self.engine, self.issue)

    def claim(self, number: int) -> list[Recipient]:
        return batch.claim(self.engine, self.issue, number)

    def in_flight_again(self, number: int) -> None:
        batch.in_flight_again(self.engine, self.issue, number)

    def uncertain(self, number: int, error: str, *, unexpected: bool = False) -> None:
        batch.uncertain(self.engine, self.issue, number, error, unexpected=unexpected)

    def release(self, number: int, error: str, *, failed: bool = False) -> None:
        batch.release(self.engine, self.issue, number, error, failed=failed)

    def retry_held(self, number: int) -> None:
        batch.retry_held(self.engine, self.issue, number)

    def settle(self, number: int, provider_id: str | None, refused: dict[int, str],
               note: str | None = None, not_sent: dict[int, str] | None = None) -> int:
        return batch.settle(self.engine, self.issue, number, provider_id, refused, note,
                            not_sent)

    def finish_if_done(self) -> bool:
        """Mark the send finished when every batch is sent, and compact it."""
        with self.engine.begin() as conn:
            open_batches = conn.execute(select(func.count()).select_from(batches).where(
                batches.c.issue == self.issue, batches.c.state != BatchState.SENT)).scalar_one()
            if open_batches == 0:
                conn.execute(update(sends).where(sends.c.issue == self.issue,
                                                 sends.c.finished_at.is_(None))
                             .values(finished_at=dt.datetime.now(dt.UTC)))
                retention.compact(conn, self.issue)
        return open_batches == 0

    # How it stands.
    def status(self) -> Status:
        return send_status.status(self.engine, self.issue)

    def errors(self, limit: int = 5) -> list[tuple[int, str]]:
        return send_status.errors(self.engine, self.issue, limit)

    # Scheduled with the provider, and cancelled.
    def scheduled(self) -> tuple[str | None, dt.datetime | None]:
        with self.engine.connect() as conn:
            row = conn.execute(select(sends.c.batch_id, sends.c.send_at)
                               .where(sends.c.issue == self.issue)).first()
        return (row.batch_id, row.send_at) if row is not None else (None, None)

    def set_scheduled(self, batch_id: str, send_at: dt.datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(sends).where(sends.c.issue == self.issue)
                         .values(batch_id=batch_id, send_at=send_at))

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
        return [Cancelled(r.issue, r.cancelled_at, int(r.planned), r.batch_id, r.send_at)
                for r in rows]
