"""The figures stats reads: events counted per issue as they come, and list growth
counted by the database's triggers, whichever writer moved a reader (both databases)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import Engine, delete, insert, select, update

from newsletter.store import db, events, figures
from newsletter.store import subscribers as store
from newsletter.store.events import Detail, Event, Kind
from tests.helpers import asked_and_confirmed, asked_before_the_queue

UTC = ZoneInfo("UTC")
DAY1 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
DAY2 = DAY1 + dt.timedelta(days=1)


def _day(engine: Engine, at: dt.datetime, zone: ZoneInfo = UTC) -> figures.Growth:
    day = at.astimezone(zone).date()
    (found,) = figures.growth(engine, day, day, zone)
    return found


def test_every_writer_of_a_status_is_counted_with_its_day(engine: Engine) -> None:
    with time_machine.travel(DAY1, tick=False):
        store.add(engine, "ann@example.org")  # the operator: new -> active
        store.add(engine, "bob@example.org")
        asked_and_confirmed(engine, "cy@example.org")  # the form's queue, then confirm
        asked_before_the_queue(engine, "dee@example.org")  # new -> active -> pending
    with time_machine.travel(DAY2, tick=False):
        store.set_status(engine, "ann@example.org", "unsubscribed")
        events.record(engine, [Event("e1", Kind.BOUNCED, "bob@example.org", "2026-03-02",
                                     None, Detail.HARD)])
        # A complaint from a reader who had left already: counted, but the list is no
        # smaller for it.
        events.record(engine, [Event("e2", Kind.COMPLAINED, "ann@example.org", "2026-03-02",
                                     None)])
    # An erasure leaves no row to say when: it is counted at the database's clock.
    store.forget(engine, "cy@example.org")  # active, erased
    store.forget(engine, "dee@example.org")  # pending, erased: never on the list

    first, second = _day(engine, DAY1), _day(engine, DAY2)
    today = _day(engine, dt.datetime.now(dt.UTC))
    assert (first.asked, first.joined, first.net) == (1, 4, 3)  # dee went active, then back
    assert (second.unsubscribed, second.bounced, second.complained) == (1, 1, 1)
    assert second.net == -2  # ann and bob were active; the complaint came after ann left
    assert (today.erased, today.net) == (2, -1)  # cy was active; dee was not
    with engine.connect() as conn:
        active = conn.execute(select(db.subscribers.c.id).where(
            db.subscribers.c.status == "active")).all()
    assert first.net + second.net + today.net == len(active) == 0


def test_a_day_is_the_publications_own(engine: Engine) -> None:
    # 23:30 UTC on 1 March is 10:30 on 2 March in Sydney.
    late = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    with time_machine.travel(late, tick=False):
        store.add(engine, "ann@example.org")
    sydney = ZoneInfo("Australia/Sydney")
    assert _day(engine, late, UTC).joined == 1
    assert [g.joined for g in figures.growth(engine, dt.date(2026, 3, 1),
                                             dt.date(2026, 3, 2), sydney)] == [0, 1]


def test_a_bulk_statement_is_counted_row_by_row(engine: Engine) -> None:
    # One UPDATE moving many readers (a sync, an import) counts each of them once; a row
    # written again with the status it had counts nothing.
    with time_machine.travel(DAY1, tick=False):
        for n in range(5):
            store.add(engine, f"r{n}@example.org")
    with engine.begin() as conn:
        conn.execute(update(db.subscribers).values(status="active", updated_at=DAY2))
        conn.execute(update(db.subscribers).where(db.subscribers.c.email.like("r_@%"))
                     .values(status="bounced", updated_at=DAY2))
        conn.execute(delete(db.subscribers))
    second = _day(engine, DAY2)
    assert (second.bounced, second.net) == (5, -5)
    assert second.erased == 0 or second.day == dt.datetime.now(dt.UTC).date()


def test_events_are_counted_once_by_issue_kind_detail_and_link(engine: Engine) -> None:
    store.add(engine, "ann@example.org")
    day = "2026-03-02"
    post = [Event("o1", Kind.OPENED, "ann@example.org", day, None, Detail.PERSON),
            Event("o2", Kind.OPENED, "ann@example.org", day, None, Detail.MACHINE),
            Event("c1", Kind.CLICKED, "ann@example.org", day, None, url="https://a.example/x"),
            Event("c2", Kind.CLICKED, "ann@example.org", day, None, url="https://a.example/x"),
            Event("c3", Kind.CLICKED, "ann@example.org", day, None, Detail.MACHINE,
                  url="https://a.example/x"),
            Event("c4", Kind.CLICKED, "ann@example.org", day, None, url="https://b.example/"),
            Event("d1", Kind.DELIVERED, "ann@example.org", day, None),
            Event("x1", Kind.DELIVERED, "ann@example.org", None, None)]  # no issue: not counted
    events.record(engine, post)
    events.record(engine, post[:4])  # the provider posts again: nothing counted twice
    with engine.begin() as conn:
        conn.execute(insert(db.sends).values(issue=day, transport="outbox", batch_size=10,
                                             planned=3, created_at=DAY1, sent_count=3))
    (counts,) = figures.issue_counts(engine, [day])
    assert counts.sent == 3
    assert (counts.count(Kind.OPENED), counts.count(Kind.OPENED, Detail.MACHINE)) == (2, 1)
    assert counts.count(Kind.DELIVERED) == 1
    assert [(link.url, link.people, link.machines) for link in counts.links] == [
        ("https://a.example/x", 2, 1), ("https://b.example/", 1, 0)]
    assert figures.sent_issues(engine) == [day]


def test_a_cancelled_send_is_no_issue(engine: Engine) -> None:
    with engine.begin() as conn:
        for key in ("2026-03-02", "2026-03-02/cancelled-1", "2026-03-03"):
            conn.execute(insert(db.sends).values(issue=key, transport="outbox",
                                                 batch_size=1, planned=1, created_at=DAY1))
    assert figures.sent_issues(engine) == ["2026-03-02", "2026-03-03"]
    assert figures.sent_issues(engine, since=dt.date(2026, 3, 3)) == ["2026-03-03"]


def _send_began(engine: Engine, issue: str, at: dt.datetime) -> None:
    with engine.begin() as conn:
        conn.execute(insert(db.sends).values(issue=issue, transport="outbox", batch_size=1,
                                             planned=1, created_at=at))


def _days(at: dt.datetime) -> int:
    return int(at.timestamp()) // 86400


def test_a_link_names_the_issue_whose_send_made_it(engine: Engine) -> None:
    from newsletter.store import tallies

    _send_began(engine, "2026-03-02", DAY1)
    _send_began(engine, "2026-03-03", DAY2)
    _send_began(engine, "2026-03-03/cancelled-1", DAY2 + dt.timedelta(hours=1))
    with engine.begin() as conn:
        counted = [tallies.count_left(conn, _days(at)) for at in (
            DAY1,  # the day the send began: its issue
            DAY2,  # the next day's send began: the later issue, never a cancelled one
            DAY2 + dt.timedelta(days=1),  # a send resumed after midnight made it
            DAY2 + dt.timedelta(days=2),  # days later (the manage page's): no issue
            DAY1 - dt.timedelta(days=1))]  # before any send: no issue
    assert counted == ["2026-03-02", "2026-03-03", "2026-03-03", None, None]
    assert events.counts(engine, "2026-03-02") == {"unsubscribed": 1}
    assert events.counts(engine, "2026-03-03") == {"unsubscribed": 2}


def _webhook(engine: Engine, issue: str, *kinds: tuple[Kind, Detail | None]) -> None:
    events.record(engine, [Event(f"w{n}-{issue}", kind, f"r{n}@example.org", issue, None,
                                 detail) for n, (kind, detail) in enumerate(kinds)])


def test_synced_statistics_and_counted_events_are_never_added_up(engine: Engine) -> None:
    from newsletter.store import synced

    issue = "2026-03-02"
    _webhook(engine, issue, (Kind.OPENED, Detail.PERSON), (Kind.OPENED, Detail.MACHINE),
             (Kind.DELIVERED, None), (Kind.DELIVERED, None), (Kind.DELIVERED, None),
             (Kind.COMPLAINED, None))
    at = dt.datetime(2026, 3, 3, 6, 0, tzinfo=dt.UTC)
    synced.replace(engine, [synced.Read(issue, "one", {
        Kind.OPENED: {None: 5}, Kind.DELIVERED: {None: 2},
        Kind.COMPLAINED: {None: 1}, Kind.BOUNCED: {Detail.HARD: 1, Detail.SOFT: 2}})], at)

    (counts,) = figures.issue_counts(engine, [issue])
    # opened: the provider's 5 beat the webhook's 2, and come with their own (no) detail,
    # not beside the webhook's person and machine.
    assert counts.events["opened"] == {"": 5}
    assert counts.count(Kind.DELIVERED) == 3  # the webhook's 3 beat the provider's 2
    assert counts.events["complained"] == {"": 1}  # a tie: the webhook's, once
    assert counts.events["bounced"] == {"hard": 1, "soft": 2}  # the provider's alone
    assert counts.synced == {"opened", "bounced"}
    assert counts.synced_at == at


def test_a_sync_replaces_what_the_last_one_kept(engine: Engine) -> None:
    from newsletter.store import synced

    issue, at = "2026-03-02", dt.datetime(2026, 3, 3, 6, 0, tzinfo=dt.UTC)
    first = {Kind.DELIVERED: {None: 4}, Kind.CLICKED: {None: 9}}
    for _ in range(2):  # the same figures twice: the same rows
        synced.replace(engine, [synced.Read(issue, "one", first)], at)
    assert figures.issue_counts(engine, [issue])[0].events == {"delivered": {"": 4},
                                                               "clicked": {"": 9}}
    # Two providers that each sent part of the issue: their parts add up; a provider's
    # new figures replace its old ones whole (a kind it no longer reports is gone).
    synced.replace(engine, [synced.Read(issue, "one", {Kind.DELIVERED: {None: 5}}),
                            synced.Read(issue, "two", {Kind.DELIVERED: {None: 2}})], at)
    assert figures.issue_counts(engine, [issue])[0].events == {"delivered": {"": 7}}
