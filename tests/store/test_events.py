"""Provider events in the store, on both databases: each recorded once, whatever the post."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import Engine, exc, insert, select, text

from newsletter.store import db, events
from newsletter.store import subscribers as store
from newsletter.store.events import Detail, Kind

AT = dt.datetime(2024, 7, 23, 6, 0, tzinfo=dt.UTC)


def event(n: int, kind: Kind = Kind.DELIVERED, email: str = "ann@example.org",
          detail: Detail | None = None) -> events.Event:
    return events.Event(f"ev-{n}", kind, email, "2024-07-23", AT, detail)


HARD = {"kind": Kind.BOUNCED, "detail": Detail.HARD}


def test_an_event_repeated_in_one_post_and_across_posts_counts_once(engine: Engine) -> None:
    store.add(engine, "ann@example.org")
    first = events.record(engine, [event(1), event(1), event(2, Kind.OPENED),
                                   event(3, **HARD)])
    assert (first.new, first.statuses) == (3, 1)
    again = events.record(engine, [event(2, Kind.OPENED), event(3, **HARD),
                                   event(4, Kind.CLICKED)])
    assert (again.new, again.statuses) == (1, 0)
    assert events.counts(engine, "2024-07-23") == {"delivered": 1, "opened": 1, "bounced": 1,
                                                   "clicked": 1}
    assert store.find(engine, "ann@example.org").status == "bounced"  # type: ignore[union-attr]


def test_odd_values_travel_whole(engine: Engine) -> None:
    odd = events.Event("ü-\u2028-" + "x" * 200, Kind.CLICKED, "zoë@bücher.example", None,
                       None, url="https://bücher.example/ü?" + "q" * 3000)
    assert events.record(engine, [odd]).new == 1
    assert events.record(engine, [odd]).new == 0  # stored under the same key


def test_ids_sharing_their_first_hundred_characters_are_two_events(engine: Engine) -> None:
    prefix = "e" * 100
    first, second = (events.Event(prefix + tail, Kind.OPENED, "ann@example.org", "2024-07-23",
                                  AT)
                     for tail in ("-one", "-two"))
    assert events.record(engine, [first, second]).new == 2
    assert events.record(engine, [second]).new == 0
    assert events.counts(engine, "2024-07-23") == {"opened": 2}


def test_an_id_of_any_length_is_kept_under_its_digest(engine: Engine) -> None:
    huge = events.Event("x" * 1_000_000, Kind.CLICKED, "ann@example.org", "2024-07-23", None)
    assert events.record(engine, [huge]).new == 1
    with engine.connect() as conn:
        (stored,) = conn.execute(select(db.events.c.id)).scalars()
    assert stored == hashlib.sha256(huge.id.encode()).hexdigest() == events.key(huge.id)


def _recorded_before_the_upgrade(engine: Engine, event_id: str, kind: Kind) -> None:
    """A row as the release before hashed keys wrote it: the id itself, cut to 100, and
    counted (as revision 0014 counted the events kept before it)."""
    with engine.begin() as conn:
        conn.execute(insert(db.events).values(id=event_id[:100], issue="2024-07-23", kind=kind,
                                              happened_at=AT, received_at=AT))
        conn.execute(insert(db.event_counts).values(issue="2024-07-23", kind=kind,
                                                    detail="", link="", count=1))


def test_a_retry_after_the_upgrade_of_an_event_recorded_before_counts_once(engine: Engine
                                                                         ) -> None:
    store.add(engine, "ann@example.org")
    _recorded_before_the_upgrade(engine, "ev-1", Kind.BOUNCED)
    # SendGrid retries the post that held it (its answer was lost), after the upgrade:
    # the bounce was applied then, the reader has been reactivated by hand since.
    again = events.record(engine, [event(1, **HARD), event(2, Kind.OPENED)])
    assert (again.new, again.statuses) == (1, 0)
    assert events.counts(engine, "2024-07-23") == {"bounced": 1, "opened": 1}
    assert store.find(engine, "ann@example.org").status == "active"  # type: ignore[union-attr]


def test_an_old_cut_id_does_not_swallow_a_new_event_sharing_its_prefix(engine: Engine
                                                                        ) -> None:
    _recorded_before_the_upgrade(engine, "p" * 100 + "-old", Kind.OPENED)
    assert events.record(engine, [events.Event("p" * 100 + "-new", Kind.OPENED,
                                               "a@example.org", "2024-07-23", AT)]).new == 1


# -- what an event changes, in our words ---------------------------------------------------

STATUS_CASES = [
    (Kind.BOUNCED, Detail.HARD, "bounced"), (Kind.BOUNCED, Detail.SOFT, "active"),
    (Kind.COMPLAINED, None, "complained"), (Kind.UNSUBSCRIBED, None, "unsubscribed"),
    (Kind.DROPPED, Detail.BOUNCED, "bounced"), (Kind.DROPPED, Detail.INVALID, "bounced"),
    (Kind.DROPPED, Detail.COMPLAINED, "complained"),
    (Kind.DROPPED, Detail.UNSUBSCRIBED, "unsubscribed"), (Kind.DROPPED, None, "active"),
    (Kind.ACCEPTED, None, "active"), (Kind.DELIVERED, None, "active"),
    (Kind.DEFERRED, None, "active"), (Kind.OPENED, Detail.MACHINE, "active"),
    (Kind.CLICKED, None, "active"),
]


def test_every_kind_changes_a_reader_as_its_words_say(engine: Engine) -> None:
    assert {kind for kind, _, _ in STATUS_CASES} == set(Kind)  # the whole vocabulary
    for n, (kind, detail, _) in enumerate(STATUS_CASES):
        store.add(engine, f"r{n}@example.org")
        events.record(engine, [event(n, kind, f"R{n}@example.org", detail)])
    status = {s.email: s.status for s in store.listing(engine)}
    assert [status[f"r{n}@example.org"] for n in range(len(STATUS_CASES))] == \
        [expected for _, _, expected in STATUS_CASES]


def test_a_drop_changes_only_an_active_reader(engine: Engine) -> None:
    store.add(engine, "ann@example.org")
    events.record(engine, [event(1, Kind.UNSUBSCRIBED)])
    later = events.record(engine, [event(2, Kind.DROPPED, detail=Detail.BOUNCED)])
    assert (later.new, later.statuses) == (1, 0)
    assert store.find(engine, "ann@example.org").status == "unsubscribed"  # type: ignore[union-attr]


def test_details_reasons_and_urls_are_kept_bounded_and_without_addresses(engine: Engine
                                                                         ) -> None:
    bounce = events.Event("b", Kind.BOUNCED, "ann@example.org", "2024-07-23", AT, Detail.HARD,
                          "550 5.1.1 <ann@example.org>: no such user " + "z" * 500)
    click = events.Event("c", Kind.CLICKED, "ann@example.org", "2024-07-23", AT,
                         url="https://example.org/" + "p" * 5000)
    events.record(engine, [bounce, click])
    with engine.connect() as conn:
        rows = {r.kind: r for r in conn.execute(select(db.events))}
    assert rows["bounced"].detail == "hard"
    assert rows["bounced"].reason.startswith("550 5.1.1 <[address]>: no such user")
    assert len(rows["bounced"].reason) == events.REASON_LENGTH
    assert "ann@" not in rows["bounced"].reason
    assert rows["clicked"].url == click.url[:events.URL_LENGTH]  # type: ignore[index]
    assert events.breakdown(engine, "2024-07-23") == {"bounced": {"hard": 1},
                                                      "clicked": {"": 1}}


def test_an_event_the_database_refuses_is_left_out_and_the_rest_recorded(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """A NUL that reached the store by another way than a webhook's (which replaces it):
    PostgreSQL's text refuses it (DataError), SQLite keeps it. Either way the other events
    of the post are recorded, and a reader's bounce among them applied."""
    store.add(engine, "ann@example.org")
    nul = events.Event("ev-nul", Kind.BOUNCED, "bob@example.org", "2024-07-23", AT,
                       Detail.HARD, "550 no\x00 mailbox")
    done = events.record(engine, [event(1), nul, event(2, **HARD)])
    refused = 1 if engine.dialect.name == "postgresql" else 0
    assert (done.new, done.statuses, done.refused) == (3 - refused, 1, refused)
    with engine.connect() as conn:
        kept = set(conn.execute(select(db.events.c.id)).scalars())
    assert {events.key("ev-1"), events.key("ev-2")} <= kept
    assert (events.key("ev-nul") in kept) == (not refused)
    assert store.find(engine, "ann@example.org").status == "bounced"  # type: ignore[union-attr]
    warned = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert warned == (["the database refused 1 of 3 events of a post; the rest are recorded "
                       "(bounced DataError)"] if refused else [])
    assert not any("example.org" in line for line in warned)


def test_a_database_that_fails_every_event_fails_the_post(engine: Engine) -> None:
    """Only what the database says of one event's values leaves that event out: a table
    gone is every event's, and the post fails, so that the provider retries it later."""
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE events RENAME TO events_gone"))
    with pytest.raises(exc.DBAPIError) as raised:
        events.record(engine, [event(1), event(2)])
    assert not isinstance(raised.value, exc.DataError | exc.IntegrityError)
