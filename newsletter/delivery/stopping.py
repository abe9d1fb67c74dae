"""Ctrl-C and SIGTERM during a send: finish what is in flight, start nothing new.

A CI job that is cancelled or times out gets SIGTERM (then, a little later, SIGKILL). A
send treats it like Ctrl-C: requests already out are awaited and settled in the ledger,
no new batch starts, and the run ends with a clear line, so what was sent is known
exactly and the next run resumes.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_signals(stop: Callable[[str], None]) -> Iterator[None]:
    """Call ``stop(name)`` on SIGINT or SIGTERM while inside (main thread only: elsewhere
    signals cannot be caught, and the caller's own handling stays)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop(signal.Signals(signum).name)

    before = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, previous in before.items():
            signal.signal(sig, previous)


def ignore_stop_signals() -> None:
    """In a worker process: leave SIGINT and SIGTERM to the parent, which coordinates."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
