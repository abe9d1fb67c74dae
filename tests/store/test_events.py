"""Provider events in the store, on both databases: each recorded once, whatever the post."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from newsletter.store import events
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
    assert events.record(engine, [odd]).new == 0  # stored under the same (cut) id
