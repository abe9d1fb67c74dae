"""Counting requests per hour, in the database, so that a limit holds across every
instance of the service behind a load balancer.

A key names what is counted (``ip:HASH``, ``email:HASH``); the caller hashes anything
personal before it gets here. Each hit is one upsert that returns the new count, so two
instances counting at the same instant both see the sum.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, case, delete
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.store.db import throttle

WINDOW = 3600  # seconds: limits are "so many an hour"


def hit(engine: Engine, key: str, now: float | None = None) -> int:
    """Count one request for ``key`` in the current hour; return the hour's count so far,
    this one included."""
    window = _window(now)
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(throttle).values(key=key[:100], window=window, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=["key"],
        # A new hour starts the count again; the same hour adds one.
        set_={"count": case((throttle.c.window == window, throttle.c.count + 1), else_=1),
              "window": window},
    ).returning(throttle.c.count)
    with engine.begin() as conn:
        return int(conn.execute(statement).scalar_one())


def once(engine: Engine, key: str, until: float) -> bool:
    """Whether this is the first use of ``key`` (a one-time value, good until ``until``, a
    Unix time); it is remembered until then, past any change of hour."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(throttle).values(
        key=key[:100], window=_window(until) + 1, count=1
    ).on_conflict_do_nothing(index_elements=["key"]).returning(throttle.c.key)
    with engine.begin() as conn:
        return conn.execute(statement).first() is not None


def prune(engine: Engine, now: float | None = None) -> int:
    """Remove the counts of hours that have ended; return how many."""
    with engine.begin() as conn:
        return int(conn.execute(delete(throttle).where(throttle.c.window < _window(now)))
                   .rowcount)


def _window(now: float | None) -> int:
    return int((now if now is not None else time.time()) // WINDOW)
