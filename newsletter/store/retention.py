"""What a send leaves behind, and for how long: a finished send compacted to numbers,
and old sends removed by ``newsletter prune`` (events have their own, in events.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, Engine, func, select, update

from newsletter.store.db import batches, deliveries, sends


def compact(conn: Connection, issue: str) -> None:
    """A finished send keeps a row only for each reader it did not reach (failed,
    skipped): everyone it reached is a number. Each batch counts its own as it settles;
    rows marked "sent" remain only from sends begun by an earlier release, and are
    counted into the send's number and removed here. A million readers cost a few
    megabytes, not hundreds; ``status`` adds the numbers back."""
    done = conn.execute(select(sends.c.compacted_at).where(sends.c.issue == issue)).scalar()
    if done is not None:
        return
    reached = deliveries.c.issue == issue, deliveries.c.state == "sent"
    count = conn.execute(select(func.count()).select_from(deliveries).where(*reached)
                         ).scalar_one()
    conn.execute(update(sends).where(sends.c.issue == issue).values(
        sent_count=func.coalesce(sends.c.sent_count, 0) + count,
        compacted_at=dt.datetime.now(dt.UTC)))
    if count:
        conn.execute(deliveries.delete().where(*reached))
    # Every batch is sent, so none has readers left; a list outliving its batch would
    # only be kept for nothing.
    conn.execute(update(batches).where(batches.c.issue == issue, batches.c.readers.is_not(None))
                 .values(readers=None))


def prune(engine: Engine, before: dt.datetime) -> dict[str, int]:
    """Remove sends begun before ``before`` (their batches with their readers' lists,
    cancelled ones too); return what went, by table."""
    with engine.begin() as conn:
        old = conn.execute(select(sends.c.issue).where(sends.c.created_at < before)
                           ).scalars().all()
        gone = {"sends": len(old), "batches": 0, "deliveries": 0}
        for start in range(0, len(old), 500):
            keys = old[start:start + 500]
            gone["deliveries"] += conn.execute(
                deliveries.delete().where(deliveries.c.issue.in_(keys))).rowcount
            gone["batches"] += conn.execute(
                batches.delete().where(batches.c.issue.in_(keys))).rowcount
            conn.execute(sends.delete().where(sends.c.issue.in_(keys)))
    return gone
