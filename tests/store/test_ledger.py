"""The ledger on both databases: a batch read by key, whatever the list's size, and counted."""

from __future__ import annotations

from sqlalchemy import Engine, and_, text

from newsletter.store.db import deliveries
from newsletter.store.ledger import Content, Lease, Ledger, _readers_of

READERS = 60_000  # where PostgreSQL, given a plain join, scanned the whole table a batch


def fill(engine: Engine, count: int) -> None:
    series = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
              "WHERE i < :count) SELECT i FROM n") if engine.dialect.name == "sqlite" \
        else "SELECT generate_series(1, :count) AS i"
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO subscribers (email, email_key, name, status, created_at, updated_at) "
            "SELECT 'r' || i || '@example.org', 'r' || i || '@example.org', 'R ' || i, "
            f"CASE WHEN i % 7 = 0 THEN 'unsubscribed' ELSE 'active' END, "
            f"CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM ({series}) AS s"), {"count": count})
        conn.execute(text("ANALYZE"))


def test_a_batch_is_read_by_key_and_in_order(engine: Engine) -> None:
    fill(engine, READERS)
    ledger = Ledger(engine, "2024-07-23")
    ledger.begin("outbox", 1000, Content("digest", "subject"), Lease("here:1:a"))
    in_batch = and_(deliveries.c.issue == ledger.issue, deliveries.c.batch == 30,
                    deliveries.c.state == "pending")
    with engine.connect() as conn:
        query = _readers_of(conn, in_batch).compile(conn, compile_kwargs={"literal_binds": True})
        explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        plan = " / ".join(str(row[-1]) for row in conn.execute(text(explain + str(query))))
    assert "subscribers" in plan
    if engine.dialect.name == "sqlite":
        assert "SEARCH subscribers USING INTEGER PRIMARY KEY" in plan, plan
        assert "SCAN subscribers" not in plan and "TEMP B-TREE" not in plan, plan
    else:
        assert "Index Scan using subscribers_pkey" in plan, plan
        assert "Seq Scan on subscribers" not in plan and "Sort" not in plan, plan
    recipients = ledger.claim(30)
    ids = [r.id for r in recipients]
    # Batch 30 holds the 30,001st to 31,000th active readers; those who left are skipped.
    first = next(i for i in range(1, READERS) if i - i // 7 == 30 * 1000 + 1)
    assert ids == sorted(ids) and ids[0] == first and len(recipients) == 1000
    assert all(r.email == f"r{r.id}@example.org" and r.name == f"R {r.id}" for r in recipients)


def test_a_batch_settled_twice_counts_everyone_it_reached(engine: Engine) -> None:
    # The outbox filled up part-way: two readers were not sent. The next run sends them
    # (and only them); the batch's count adds to what it had reached, so status says 5.
    fill(engine, 5)  # every 7th has left: all five are active
    ledger = Ledger(engine, "2024-07-23")
    ledger.begin("outbox", 1000, Content("digest", "subject"), Lease("here:1:a"))
    first = ledger.claim(0)
    assert [r.id for r in first] == [1, 2, 3, 4, 5]
    assert ledger.settle(0, None, {}, not_sent={4: "disk full", 5: "disk full"}) == 3
    assert ledger.status().counts["sent"] == 3 and ledger.status().left == 2
    assert ledger.release_failed() == 2  # the next run: the batch is pending again
    assert [r.id for r in ledger.claim(0)] == [4, 5]
    assert ledger.settle(0, None, {}) == 2
    status = ledger.status()
    assert status.counts == {"pending": 0, "sent": 5, "skipped": 0, "failed": 0,
                             "uncertain": 0}
    assert ledger.finish_if_done() and ledger.status().counts["sent"] == 5
