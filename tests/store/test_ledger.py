"""The ledger on both databases: a batch read by key, whatever the list's size, and counted."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, event, func, select, text

from newsletter.store import consent, db, plan
from newsletter.store.batch import _READERS, members
from newsletter.store.db import KEY_SQL, batches, deliveries
from newsletter.store.ledger import Content, Lease, Ledger
from newsletter.store.subscribers import forget

READERS = 60_000  # where PostgreSQL, given a plain join, scanned the whole table a batch


def fill(engine: Engine, count: int) -> None:
    series = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
              "WHERE i < :count) SELECT i FROM n") if engine.dialect.name == "sqlite" \
        else "SELECT generate_series(1, :count) AS i"
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO subscribers (email, email_key, name, status, created_at, updated_at, "
            f"link_key) SELECT 'r' || i || '@example.org', 'r' || i || '@example.org', 'R ' || i, "
            f"CASE WHEN i % 7 = 0 THEN 'unsubscribed' ELSE 'active' END, "
            f"CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, {KEY_SQL[engine.dialect.name]} "
            f"FROM ({series}) AS s"), {"count": count})
        conn.execute(text("ANALYZE"))


def test_a_batch_is_read_by_key_and_in_order(engine: Engine) -> None:
    fill(engine, READERS)
    ledger = Ledger(engine, "2024-07-23")
    ledger.begin("outbox", 1000, Content("digest", "subject"), Lease("here:1:a"))
    with engine.connect() as conn:
        planned = members(conn, ledger.issue, 30)
        query = str(_READERS.params(low=min(planned), high=max(planned))
                    .compile(conn, compile_kwargs={"literal_binds": True}))
        explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        plan = " / ".join(str(row[-1]) for row in conn.execute(text(explain + query)))
    assert "subscribers" in plan
    if engine.dialect.name == "sqlite":
        assert "SEARCH subscribers USING INTEGER PRIMARY KEY" in plan, plan
        assert "SCAN subscribers" not in plan and "TEMP B-TREE" not in plan, plan
    else:
        assert "Index Scan using subscribers_pkey" in plan, plan
        assert "Seq Scan on subscribers" not in plan and "Sort" not in plan, plan
    recipients = ledger.claim(30)
    ids = [r.id for r in recipients]
    # Batch 30 holds the 30,001st to 31,000th active readers; those who were not active
    # when it was planned are in its range of ids but not in it.
    first = next(i for i in range(1, READERS) if i - i // 7 == 30 * 1000 + 1)
    assert ids == planned and ids[0] == first and len(recipients) == 1000
    assert all(r.id % 7 and r.email == f"r{r.id}@example.org" and r.name == f"R {r.id}"
               for r in recipients)
    assert ledger.status().counts["skipped"] == 0  # never planned: not "skipped"


def test_the_audience_is_fixed_at_the_plan_and_kept_on_the_batches(engine: Engine) -> None:
    fill(engine, 20)  # 7 and 14 have left before the plan
    ledger = Ledger(engine, "2024-07-23")
    assert ledger.begin("outbox", 6, Content("d", "s"), Lease("here:1:a")).planned == 18
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(deliveries)).scalar() == 0
        lists = [(n, w, members(conn, ledger.issue, n)) for n, w in conn.execute(
            select(batches.c.number, batches.c.waiting).order_by(batches.c.number))]
    assert lists == [
        (0, 6, [1, 2, 3, 4, 5, 6]), (1, 6, [8, 9, 10, 11, 12, 13]),
        (2, 6, [15, 16, 17, 18, 19, 20])]
    with engine.begin() as conn:  # after the plan: 7 comes back, 9 leaves
        conn.execute(text("UPDATE subscribers SET status = 'active' WHERE id = 7"))
        conn.execute(text("UPDATE subscribers SET status = 'unsubscribed' WHERE id = 9"))
    forget(engine, "r10@example.org")  # and 10 asks to be erased
    assert consent.record(engine, 11)["deliveries"] == [  # type: ignore[index]
        {"issue": "2024-07-23", "state": "pending"}]
    assert [r.id for r in ledger.claim(1)] == [8, 11, 12, 13]  # not 7, who was not planned
    assert ledger.settle(1, None, {12: "refused"}) == 3
    assert consent.record(engine, 9)["deliveries"] == [  # type: ignore[index]
        {"issue": "2024-07-23", "state": "skipped"}]
    assert consent.record(engine, 12)["deliveries"] == [  # type: ignore[index]
        {"issue": "2024-07-23", "state": "failed"}]
    assert consent.record(engine, 11)["deliveries"] == []  # type: ignore[index]
    with engine.connect() as conn:
        assert conn.execute(select(deliveries.c.subscriber_id).order_by(
            deliveries.c.subscriber_id)).scalars().all() == [9, 12]  # nothing of 10
    assert ledger.status().counts == {"pending": 12, "sent": 3, "skipped": 1, "failed": 1,
                                      "uncertain": 0}


def test_readers_of_an_uncertain_batch_are_uncertain_until_released(engine: Engine) -> None:
    fill(engine, 5)
    ledger = Ledger(engine, "2024-07-23")
    ledger.begin("outbox", 1000, Content("d", "s"), Lease("here:1:a"))
    assert len(ledger.claim(0)) == 5
    assert ledger.recover() == 5  # the run died with the request out
    assert ledger.status().counts["uncertain"] == 5
    assert consent.record(engine, 3)["deliveries"] == [  # type: ignore[index]
        {"issue": "2024-07-23", "state": "uncertain"}]
    assert ledger.release_uncertain() == 5
    assert ledger.status().counts["pending"] == 5 and len(ledger.claim(0)) == 5


def test_a_batch_whose_readers_were_all_erased_is_done(engine: Engine) -> None:
    fill(engine, 2)
    ledger = Ledger(engine, "2024-07-23")
    ledger.begin("outbox", 1000, Content("d", "s"), Lease("here:1:a"))
    for address in ("r1@example.org", "r2@example.org"):
        forget(engine, address)
    assert ledger.status().left == 0
    assert ledger.claim(0) == [] and ledger.pending_batches() == []
    assert ledger.finish_if_done()


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


def test_a_dry_run_counts_what_the_claims_then_find(engine: Engine,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """ahead() reads the readers' statuses a span of ids at a time, not a batch at a
    time; its counts are what claiming every batch then finds: who goes, who left since
    the plan (skipped), the erased in neither, and a reader back since not counted."""
    fill(engine, 3000)  # every 7th unsubscribed before the plan
    ledger = Ledger(engine, "2024-07-23")
    lease = Lease("here:1:a")
    ledger.begin("outbox", 100, Content("d", "s"), lease)
    with engine.begin() as conn:  # after the plan: 7 comes back, every 11th leaves
        conn.execute(text("UPDATE subscribers SET status = 'active' WHERE id = 7"))
        conn.execute(text("UPDATE subscribers SET status = 'bounced' "
                          "WHERE id % 11 = 0 AND status = 'active'"))
    for gone in (10, 1500, 2999):
        forget(engine, f"r{gone}@example.org")
    with engine.begin() as conn:  # two batches in the middle went already
        conn.execute(text("UPDATE batches SET state = 'sent', readers = NULL, waiting = 0 "
                          "WHERE number IN (3, 4)"))
    monkeypatch.setattr(plan, "_SPAN", 450)  # spans of three or four batches, not one
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    ahead = ledger.ahead(Content("d", "s"), lease, resend_uncertain=False)
    event.remove(engine, "before_cursor_execute", seen)
    read = [s for s in statements if "FROM subscribers" in s]
    assert 6 <= len(read) <= 9, read  # 24 batches to go, about 116 ids each: not 24 reads
    going = requests = 0
    for number in range(ahead.batches + 2):
        if number in (3, 4):
            continue
        claimed = ledger.claim(number)
        going, requests = going + len(claimed), requests + bool(claimed)
    skipped = ledger.status().counts["skipped"]
    assert (ahead.going, ahead.leaving, ahead.requests, ahead.batches) \
        == (going, skipped, requests, 24)
    active = [i for i in range(1, 3001) if i % 7]
    planned = active[:300] + active[500:]  # batches 3 and 4 left out
    assert going == sum(1 for i in planned if i % 11 and i not in (10, 1500, 2999))
    assert skipped == sum(1 for i in planned if i % 11 == 0)


def test_which_batches_hold_a_reader(engine: Engine) -> None:
    """holding() passes over the lists that start after the reader, and finds the
    reader in any other, the first and last ids of a list included."""
    fill(engine, 20)  # 7 and 14 unsubscribed: lists 1-6, 8-13, 15-20
    for issue in ("2024-07-23", "2024-07-30"):
        Ledger(engine, issue).begin("outbox", 6, Content("d", "s"), Lease("here:1:a"))
    Ledger(engine, "2024-07-30").claim(1)
    with engine.connect() as conn:
        held = {sid: sorted(db.holding(conn, sid)) for sid in (1, 6, 7, 8, 13, 14, 20, 21)}
    assert held == {
        1: [("2024-07-23", 0, "pending"), ("2024-07-30", 0, "pending")],
        6: [("2024-07-23", 0, "pending"), ("2024-07-30", 0, "pending")],
        7: [], 14: [], 21: [],
        8: [("2024-07-23", 1, "pending"), ("2024-07-30", 1, "in_flight")],
        13: [("2024-07-23", 1, "pending"), ("2024-07-30", 1, "in_flight")],
        20: [("2024-07-23", 2, "pending"), ("2024-07-30", 2, "pending")]}
