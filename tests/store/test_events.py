"""Provider events in the store, on both databases: each recorded once, whatever the post."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import Engine, insert, select

from newsletter.store import db, events
from newsletter.store import subscribers as store

AT = dt.datetime(2024, 7, 23, 6, 0, tzinfo=dt.UTC)


def event(n: int, kind: str = "delivered", email: str = "ann@example.org") -> events.Event:
    return events.Event(f"ev-{n}", kind, email, "2024-07-23", AT)


def test_an_event_repeated_in_one_post_and_across_posts_counts_once(engine: Engine) -> None:
    store.add(engine, "ann@example.org")
    first = events.record(engine, [event(1), event(1), event(2, "open"),
                                   event(3, "bounce")])
    assert (first.new, first.statuses) == (3, 1)
    again = events.record(engine, [event(2, "open"), event(3, "bounce"), event(4, "click")])
    assert (again.new, again.statuses) == (1, 0)
    assert events.counts(engine, "2024-07-23") == {"delivered": 1, "open": 1, "bounce": 1,
                                                   "click": 1}
    assert store.find(engine, "ann@example.org").status == "bounced"  # type: ignore[union-attr]


def test_odd_values_travel_whole(engine: Engine) -> None:
    odd = events.Event("ü-\u2028-" + "x" * 200, "click", "zoë@bücher.example", None, None)
    assert events.record(engine, [odd]).new == 1
    assert events.record(engine, [odd]).new == 0  # stored under the same key


def test_ids_sharing_their_first_hundred_characters_are_two_events(engine: Engine) -> None:
    prefix = "e" * 100
    first, second = (events.Event(prefix + tail, "open", "ann@example.org", "2024-07-23", AT)
                     for tail in ("-one", "-two"))
    assert events.record(engine, [first, second]).new == 2
    assert events.record(engine, [second]).new == 0
    assert events.counts(engine, "2024-07-23") == {"open": 2}


def test_an_id_of_any_length_is_kept_under_its_digest(engine: Engine) -> None:
    huge = events.Event("x" * 1_000_000, "click", "ann@example.org", "2024-07-23", None)
    assert events.record(engine, [huge]).new == 1
    with engine.connect() as conn:
        (stored,) = conn.execute(select(db.events.c.id)).scalars()
    assert stored == hashlib.sha256(huge.id.encode()).hexdigest() == events.key(huge.id)


def _recorded_before_the_upgrade(engine: Engine, event_id: str, kind: str) -> None:
    """A row as the release before hashed keys wrote it: the id itself, cut to 100."""
    with engine.begin() as conn:
        conn.execute(insert(db.events).values(id=event_id[:100], issue="2024-07-23", kind=kind,
                                              happened_at=AT, received_at=AT))


def test_a_retry_after_the_upgrade_of_an_event_recorded_before_counts_once(engine: Engine
                                                                         ) -> None:
    store.add(engine, "ann@example.org")
    _recorded_before_the_upgrade(engine, "ev-1", "bounce")
    # SendGrid retries the post that held it (its answer was lost), after the upgrade:
    # the bounce was applied then, the reader has been reactivated by hand since.
    again = events.record(engine, [event(1, "bounce"), event(2, "open")])
    assert (again.new, again.statuses) == (1, 0)
    assert events.counts(engine, "2024-07-23") == {"bounce": 1, "open": 1}
    assert store.find(engine, "ann@example.org").status == "active"  # type: ignore[union-attr]


def test_an_old_cut_id_does_not_swallow_a_new_event_sharing_its_prefix(engine: Engine
                                                                        ) -> None:
    _recorded_before_the_upgrade(engine, "p" * 100 + "-old", "open")
    assert events.record(engine, [events.Event("p" * 100 + "-new", "open", "a@example.org",
                                               "2024-07-23", AT)]).new == 1
