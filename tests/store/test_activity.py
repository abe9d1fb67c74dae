"""Opens and clicks kept per reader (``tracking: individual``), on both databases: written
only when asked, by address or link key, counted per issue as unique people, shown to the
reader, erased with them, aged by prune."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select

from newsletter.store import activity, events
from newsletter.store import subscribers as store
from newsletter.store.db import reader_activity
from newsletter.store.events import Detail, Event, Kind

AT = dt.datetime(2024, 7, 23, 6, 0, tzinfo=dt.UTC)
ISSUE = "2024-07-23"


def _event(n: int, kind: Kind, email: str, detail: Detail = Detail.PERSON,
           url: str | None = None) -> Event:
    return Event(f"ev-{n}", kind, email, ISSUE, AT, detail, url=url)


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(reader_activity)).scalar_one())


def _post() -> list[Event]:
    return [_event(1, Kind.OPENED, "Ann@Example.org"), _event(2, Kind.OPENED, "ann@example.org"),
            _event(3, Kind.CLICKED, "ann@example.org", url="https://example.org/a"),
            _event(4, Kind.OPENED, "bob@example.org", Detail.MACHINE),
            _event(5, Kind.OPENED, "stranger@example.org"),
            _event(6, Kind.DELIVERED, "bob@example.org")]


def test_provider_events_are_kept_per_reader_only_at_the_individual_level(engine: Engine
                                                                          ) -> None:
    ann, bob = store.add(engine, "ann@example.org"), store.add(engine, "bob@example.org")
    events.record(engine, _post())  # aggregate: counted, no reader kept
    assert events.counts(engine, ISSUE)["opened"] == 4 and _rows(engine) == 0
    assert activity.unique(engine, [ISSUE]) == {}
    events.record(engine, [Event("ev-9", Kind.OPENED, "ann@example.org", ISSUE, AT,
                                 Detail.PERSON)], individual=True)
    assert activity.of_reader(engine, ann.id) == [
        {"issue": ISSUE, "kind": "opened", "detail": "person", "url": None,
         "when": AT.isoformat()}]
    events.record(engine, [_event(n, Kind.OPENED, "bob@example.org", Detail.MACHINE)
                           for n in (10, 10, 11)], individual=True)
    assert [r["detail"] for r in activity.of_reader(engine, bob.id)] == ["machine", "machine"]
    # A retried post adds nothing: only new events are kept.
    events.record(engine, [Event("ev-9", Kind.OPENED, "ann@example.org", ISSUE, AT,
                                 Detail.PERSON)], individual=True)
    assert _rows(engine) == 3


def test_unique_openers_and_clickers_are_people_not_machines(engine: Engine) -> None:
    store.add(engine, "ann@example.org")
    store.add(engine, "bob@example.org")
    events.record(engine, _post(), individual=True)
    assert _rows(engine) == 4  # the stranger and the delivery add none
    assert activity.unique(engine, [ISSUE, "2024-07-24"]) == {
        ISSUE: {"opened": 1, "clicked": 1}}


def test_the_service_s_clicks_name_a_reader_by_link_key(engine: Engine) -> None:
    ann = store.add(engine, "ann@example.org")
    clicked = [Event("", Kind.CLICKED, "", ISSUE, None, Detail.PERSON,
                     url="https://example.org/a", reader=ann.link_key),
               Event("", Kind.CLICKED, "", ISSUE, None, Detail.PERSON,
                     url="https://example.org/a", reader="0" * 32),  # no one's key
               Event("", Kind.CLICKED, "", ISSUE, None, Detail.PERSON,
                     url="https://example.org/a")]
    events.count_clicks(engine, clicked)
    assert events.counts(engine, ISSUE) == {"clicked": 3}
    assert [r["url"] for r in activity.of_reader(engine, ann.id)] == ["https://example.org/a"]
    assert _rows(engine) == 1


def test_erasing_a_reader_erases_their_rows_and_their_old_links_add_none(engine: Engine
                                                                         ) -> None:
    ann = store.add(engine, "ann@example.org")
    store.add(engine, "bob@example.org")
    events.record(engine, _post(), individual=True)
    store.forget(engine, "ann@example.org")
    assert activity.of_reader(engine, ann.id) == [] and _rows(engine) == 1  # Bob's
    events.count_clicks(engine, [Event("", Kind.CLICKED, "", ISSUE, None, Detail.PERSON,
                                       url="https://example.org/a", reader=ann.link_key)])
    events.record(engine, [_event(20, Kind.OPENED, "ann@example.org")], individual=True)
    assert _rows(engine) == 1


def test_prune_ages_the_rows(engine: Engine) -> None:
    store.add(engine, "ann@example.org")
    events.record(engine, [_event(1, Kind.OPENED, "ann@example.org")], individual=True)
    events.record(engine, [Event("ev-2", Kind.OPENED, "ann@example.org", ISSUE,
                                 AT + dt.timedelta(days=30), Detail.PERSON)], individual=True)
    assert activity.prune(engine, AT + dt.timedelta(days=1)) == 1
    assert _rows(engine) == 1
