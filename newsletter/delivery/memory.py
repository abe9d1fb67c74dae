"""The cycle collector during a send: rare (where the command line asks), and cleared
now and then."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

COLLECT_EVERY = 200  # batches between full collections during a send


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """A send allocates millions of short-lived, cycle-free objects; at the default
    thresholds the cycle collector runs often over them (its requests 2–3% slower in
    benchmarks/keepalive.py). Collect rarely while inside, as before after it. The
    thresholds are the whole process's: the command line sets them around a send
    (``cli.interrupts``), the library never does. (What lives as long as the process is
    frozen out of the scans by the command line, at its start: the library never freezes
    or unfreezes, which would thaw what a host froze.)"""
    before = gc.get_threshold()
    gc.set_threshold(200_000, 50, 50)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def collect_now_and_then(finished: int, just_done: int) -> None:
    """With collections rare, the few cycles each batch leaves (retry state, SQL
    expressions) would pile up over millions of readers: clear them every
    COLLECT_EVERY batches, so memory stays flat."""
    if finished % COLLECT_EVERY < just_done:
        gc.collect()
