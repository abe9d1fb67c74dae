"""Request counts in the database, on both databases: exact when instances count at once."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from newsletter.store import throttle

HOUR = 3600.0


def at_once(count: int, work) -> list[object]:  # type: ignore[no-untyped-def]
    results: list[object] = []
    start = threading.Barrier(count)

    def run() -> None:
        start.wait()
        results.append(work())

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_hits_at_the_same_instant_are_all_counted(engine: Engine) -> None:
    now = 1_000 * HOUR + 10
    counts = at_once(8, lambda: throttle.hit(engine, "ip:same", now=now))
    assert sorted(counts) == list(range(1, 9))  # type: ignore[type-var]
    assert throttle.hit(engine, "ip:same", now=now + HOUR) == 1  # a new hour starts again


def test_a_one_time_value_is_taken_once_even_at_the_same_instant(engine: Engine) -> None:
    until = 1_000 * HOUR
    assert sum(bool(r) for r in at_once(8, lambda: throttle.once(engine, "v:x", until))) == 1
    # Remembered past the change of hour, and gone only once its time is over.
    assert throttle.prune(engine, now=until) == 0
    assert not throttle.once(engine, "v:x", until)
    assert throttle.prune(engine, now=until + 2 * HOUR) == 1
