"""One column type for moments (store/db.py's UtcDateTime): aware UTC in and out, on
both databases, whatever zone a moment came in; a naive one refused before it is kept."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import DateTime, Engine, select, text

from newsletter.errors import NaiveDatetime
from newsletter.store import db
from newsletter.store.db import UtcDateTime, erased

BERLIN = ZoneInfo("Europe/Berlin")
MOMENTS = [dt.datetime(2024, 7, 23, 6, 0, 0, 123456, tzinfo=dt.UTC),
           dt.datetime(2024, 7, 23, 8, 0, tzinfo=BERLIN),  # summer time: 06:00 UTC
           dt.datetime(2024, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=-9, minutes=-30))),
           dt.datetime(1971, 1, 1, tzinfo=dt.UTC)]


def test_every_moment_column_is_the_one_type() -> None:
    columns = [c for t in db.metadata.tables.values() for c in t.columns]
    plain = [str(c) for c in columns if isinstance(c.type, DateTime)]
    assert plain == []
    assert len([c for c in columns if isinstance(c.type, UtcDateTime)]) >= 20


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_a_moment_comes_back_the_same_instant_in_utc(engine: Engine, moment: dt.datetime) -> None:
    with engine.begin() as conn:
        conn.execute(erased.insert().values(digest="d", erased_at=moment))
        back = conn.execute(select(erased.c.erased_at)).scalar_one()
        # Compared in SQL too: the bound value is the same instant as the stored one.
        assert conn.execute(select(erased.c.digest).where(erased.c.erased_at == moment)
                            ).scalar() == "d"
    assert back == moment and back.tzinfo is dt.UTC and back.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("naive", [dt.datetime(2024, 7, 23, 6, 0), dt.datetime.now(),
                                   dt.datetime.min, "2024-07-23 06:00:00"], ids=str)
def test_a_naive_moment_is_refused_and_nothing_is_kept(engine: Engine, naive: object) -> None:
    with pytest.raises(NaiveDatetime, match="names no timezone"), engine.begin() as conn:
        conn.execute(erased.insert().values(digest="d", erased_at=naive))
    with pytest.raises(NaiveDatetime), engine.connect() as conn:  # in a WHERE too
        conn.execute(select(erased.c.digest).where(erased.c.erased_at < naive))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM erased")).scalar() == 0


def test_a_span_beside_a_moment_is_an_interval(engine: Engine) -> None:
    # ``moment - span`` in SQL is bound as an interval, not refused as a naive moment.
    # (Only PostgreSQL computes with it; SQLite keeps text, and what it makes of the
    # sum is no moment: the code does such sums in Python.)
    moment = MOMENTS[0]
    with engine.begin() as conn:
        conn.execute(erased.insert().values(digest="d", erased_at=moment))
        conn.execute(erased.update().values(erased_at=erased.c.erased_at
                                            - dt.timedelta(hours=2)))
        if engine.dialect.name == "postgresql":
            back = conn.execute(select(erased.c.erased_at)).scalar()
            assert back == moment - dt.timedelta(hours=2)


def test_a_value_written_by_sql_reads_as_utc(engine: Engine) -> None:
    # Written by the database itself (a bulk insert, CURRENT_TIMESTAMP): still UTC.
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO erased (digest, erased_at) "
                          "VALUES ('d', CURRENT_TIMESTAMP)"))
        back = conn.execute(select(erased.c.erased_at)).scalar_one()
    assert back.tzinfo is dt.UTC
    assert abs(back - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
