"""What the command line sets for the whole process while a send runs, and puts back:
SIGINT and SIGTERM ask the send to stop (finish what is in flight, start nothing new),
and the cycle collector runs rarely (see ``delivery.memory``). The library never sets
either itself: a program that calls it keeps its own."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from newsletter.delivery import memory
from newsletter.delivery.stopping import STOP_SIGNALS, Interrupt


@contextlib.contextmanager
def for_a_send() -> Iterator[Interrupt]:
    """The interrupt to hand the send, tied to SIGINT and SIGTERM while inside (in the
    main thread: elsewhere signals cannot be caught), with fewer collections."""
    interrupt = Interrupt()
    with _signals_to(interrupt), memory.fewer_collections():
        yield interrupt


@contextlib.contextmanager
def _signals_to(interrupt: Interrupt) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if interrupt(signal.Signals(signum).name):
            return
        # No send listens yet (it renders, plans) or any more: the signal does what it
        # did before, Ctrl-C's KeyboardInterrupt, SIGTERM's end.
        interrupt.why = None
        previous = before[signal.Signals(signum)]
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    before = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, previous in before.items():
            signal.signal(sig, previous)
