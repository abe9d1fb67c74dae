"""Asking a send under way to stop, as Ctrl-C would: finish what is in flight, start
nothing new.

A CI job that is cancelled or times out gets SIGTERM (then, a little later, SIGKILL). The
command line turns SIGINT and SIGTERM into a call of an :class:`Interrupt` it handed the
send (``newsletter.cli.interrupts``): requests already out are awaited and settled in the
ledger, no new batch starts, and the run ends with a clear line, so what was sent is
known exactly and the next run resumes. The library itself never installs a signal
handler (the handlers are the whole process's: a host's own would be replaced), except
in the worker processes it starts itself.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupt:
    """A caller's way to stop a send: ``interrupt("SIGTERM")`` from any thread, or from a
    signal handler (it only sets a value and calls the send's own stop, which sets an
    event). Asked before the send listens, the send stops as soon as it does; each send
    that listens starts it afresh. Returns whether a send was listening."""

    def __init__(self) -> None:
        self.why: str | None = None
        self._stop: Callable[[str], None] | None = None

    def __call__(self, why: str) -> bool:
        self.why = self.why or why
        stop = self._stop
        if stop is not None:
            stop(why)
        return stop is not None

    @contextlib.contextmanager
    def listened(self, stop: Callable[[str], None]) -> Iterator[None]:
        """Call ``stop(why)`` while inside, once for a request made before."""
        self._stop = stop
        try:
            if self.why is not None:
                stop(self.why)
            yield
        finally:
            self._stop, self.why = None, None


def ignore_stop_signals() -> None:
    """In a worker process the send started: leave SIGINT and SIGTERM to the parent,
    which coordinates."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
