"""How a send stands: its readers counted by what became of them, its batches by state."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from newsletter.store.batch_state import BatchState
from newsletter.store.db import batches, db_now, deliveries, sends
from newsletter.store.lease import Lease, gone

DELIVERY_STATES = ("pending", "sent", "skipped", "failed", "uncertain")


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


def status(engine: Engine, issue: str) -> Status:
    """How the send stands. A batch still in flight counts as pending while its run
    lives, and as uncertain once that run is gone (its process on this host ended, or its
    lease went stale): what the next run's recovery will make of it."""
    with engine.connect() as conn:
        send = conn.execute(select(sends).where(sends.c.issue == issue)).first()
        run_gone = send is None or send.owner is None or \
            gone(send.owner, send.heartbeat, db_now(conn), Lease(""))
        counts: dict[str, int] = dict(conn.execute(
            select(deliveries.c.state, func.count()).where(
                deliveries.c.issue == issue).group_by(deliveries.c.state)).all())
        by_state = conn.execute(
            select(batches.c.state, func.count(), func.sum(batches.c.reached),
                   func.sum(batches.c.waiting))
            .where(batches.c.issue == issue).group_by(batches.c.state)).all()
    batch_counts = {state: int(count) for state, count, _, _ in by_state}
    # Those reached are numbers, not rows: each batch's, and (from sends begun by an
    # earlier release) the send's own. So are those still waiting: uncertain with their
    # batch, pending in any other.
    reached = sum(int(n or 0) for _, _, n, _ in by_state)
    if send is not None and send.sent_count is not None:
        reached += int(send.sent_count)
    counts["sent"] = counts.get("sent", 0) + reached
    for state, _, _, waiting in by_state:
        lost = state == BatchState.UNCERTAIN or (state == BatchState.IN_FLIGHT and run_gone)
        held = "uncertain" if lost else "pending"
        counts[held] = counts.get(held, 0) + int(waiting or 0)
    return Status(issue, int(send.planned) if send else 0, send.transport if send else None,
                  {s: int(counts.get(s, 0)) for s in DELIVERY_STATES}, batch_counts,
                  bool(send and send.finished_at))


def errors(engine: Engine, issue: str, limit: int = 5) -> list[tuple[int, str]]:
    """The words recorded on the first ``limit`` batches that have any."""
    with engine.connect() as conn:
        return [(r.number, r.error) for r in conn.execute(
            select(batches.c.number, batches.c.error).where(
                batches.c.issue == issue, batches.c.error.is_not(None))
            .order_by(batches.c.number).limit(limit))]
