"""A finished send keeps one number for everyone it reached; old sends can be pruned."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine, func, select

from newsletter.api import Newsletter
from newsletter.project import Project
from newsletter.store import db
from newsletter.store import subscribers as store
from newsletter.store.ledger import Ledger
from tests.helpers import add_subscribers, run, run_send


def rows(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(db.metadata.tables[table])
                                ).scalar_one())


def listed(engine: Engine) -> int:
    """The readers on the batches' lists."""
    with engine.connect() as conn:
        return sum(len(ids or ()) for ids in conn.execute(select(db.batches.c.readers))
                   .scalars())


def test_a_finished_send_keeps_only_the_exceptions(engine: Engine, project: Project,
                                                   tmp_path: Path) -> None:
    add_subscribers(engine, 50)
    ledger = Ledger(engine, "2024-07-23")
    run_send(engine, project, transport="outbox", outbox=tmp_path)
    assert rows(engine, "deliveries") == 0  # all 50 reached: one number
    assert ledger.status().counts == {"pending": 0, "sent": 50, "skipped": 0, "failed": 0,
                                      "uncertain": 0} and ledger.status().finished
    again = run_send(engine, project, transport="outbox", outbox=tmp_path)
    assert again.already_done and again.sent == 0  # still exactly once


def test_exceptions_stay_row_by_row(engine: Engine, project: Project, tmp_path: Path) -> None:
    add_subscribers(engine, 10)
    store.add(engine, "josé@exámple.org")  # refused by SMTP without SMTPUTF8: a failure
    ledger = Ledger(engine, "2024-07-23")
    run_send(engine, project, transport="outbox", outbox=tmp_path)  # the outbox takes it
    assert ledger.status().counts["sent"] == 11 and rows(engine, "deliveries") == 0


def test_prune_removes_old_sends_and_events(engine: Engine, project_dir: Path,
                                           monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    add_subscribers(engine, 5)
    assert run("send", "2024-07-23")[0] == 0
    newsletter = Newsletter(project_dir / "newsletter.yaml")
    assert newsletter.prune(dt.timedelta(days=1)) == {
        "sends": 0, "batches": 0, "deliveries": 0, "events": 0, "reader activity": 0,
        "unconfirmed": 0, "request counts": 0}
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=200)
    gone = newsletter.prune(dt.timedelta(days=180), now=later)
    assert gone["sends"] == 1 and gone["batches"] == 1
    assert rows(engine, "sends") == 0 and rows(engine, "batches") == 0
    assert run("prune", "--older-than", "soon")[0] == 2  # a bad age: a usage error
    assert run("prune", "--older-than", "26w", "--yes") == (
        0, "0 sends, 0 batches, 0 deliveries, 0 events, 0 reader activity, 0 unconfirmed, "
        "0 request counts removed\n")


def test_prune_erases_requests_and_readers_who_never_confirmed(
        engine: Engine, project_dir: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select, update

    from newsletter.store import signups, throttle
    from newsletter.store import subscribers as store
    from newsletter.store.db import signups as signups_table
    from newsletter.store.db import subscribers

    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    now = dt.datetime.now(dt.UTC)
    signups.queue(engine, "never@example.org", source="form", at=now - dt.timedelta(days=9))
    signups.queue(engine, "recent@example.org", source="form", at=now - dt.timedelta(days=2))
    # Readers who asked before the queue: one never confirmed, one had left and asked.
    for address, status in (("old@example.org", "pending"), ("back@example.org", "unsubscribed")):
        store.add(engine, address)
        with engine.begin() as conn:  # rows of earlier releases: no writer makes them now
            conn.execute(update(subscribers).where(subscribers.c.email_key == address)
                         .values(status=status, requested_at=now - dt.timedelta(days=9),
                                 legacy_links=True))
    throttle.hit(engine, "ip:old", now=now.timestamp() - 7200)
    throttle.hit(engine, "ip:now", now=now.timestamp())
    gone = Newsletter(project_dir / "newsletter.yaml").prune(dt.timedelta(days=180), now=now)
    assert (gone["unconfirmed"], gone["request counts"]) == (2, 1)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(signups_table)).scalar() == 1
    assert store.find(engine, "old@example.org") is None
    # One who had left is kept, as they were; their stale request is forgotten.
    assert store.find(engine, "back@example.org").status == "unsubscribed"  # type: ignore[union-attr]
    from newsletter.store import consent

    assert consent.awaiting(engine, store.find(engine, "back@example.org").id,  # type: ignore[union-attr]
                            now.date()) is None


def test_the_data_download_lists_the_sends_a_reader_was_in(engine: Engine, project: Project,
                                                            tmp_path: Path) -> None:
    # A finished send keeps no row for a reader it reached: the download names the sends
    # that finished while the reader was subscribed, and not those after they left.
    from newsletter.store import consent

    store.add(engine, "stays@example.org")
    store.add(engine, "leaves@example.org")
    store.set_status(engine, "leaves@example.org", "unsubscribed")
    run_send(engine, project, transport="outbox", outbox=tmp_path)
    staying, leaving = (store.find(engine, a) for a in ("stays@example.org",
                                                        "leaves@example.org"))
    assert staying is not None and leaving is not None
    assert consent.record(engine, staying.id)["issues_sent_while_subscribed"] == ["2024-07-23"]
    assert consent.record(engine, leaving.id)["issues_sent_while_subscribed"] == []
    assert consent.record(engine, leaving.id)["deliveries"] == []  # never planned


def test_sends_and_events_each_have_their_own_retention(engine: Engine) -> None:
    # Pruning sends leaves the events alone, and the other way round; `prune` (above)
    # asks for both. A send half planned keeps its readers' lists until it is pruned.
    from newsletter.store import events, retention
    from newsletter.store.ledger import Content, Lease

    add_subscribers(engine, 3)
    ledger = Ledger(engine, "2024-07-23")
    ledger.begin("outbox", 2, Content("d", "s"), Lease("here:1:a"))
    events.record(engine, [events.Event("e1", events.Kind.DELIVERED, "a@example.org",
                                        "2024-07-23", None)])
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert listed(engine) == 3
    assert retention.prune(engine, later) == {"sends": 1, "batches": 2, "deliveries": 0}
    assert (listed(engine), rows(engine, "events")) == (0, 1)
    ledger.begin("outbox", 2, Content("d", "s"), Lease("here:1:a"))
    assert events.prune(engine, later) == 1
    assert (rows(engine, "events"), rows(engine, "batches")) == (0, 2)
