"""What a worker process of a send runs (``send --workers N``): it makes its own
transport and turns batches of recipients into provider requests.

A module of its own, apart from send.py, so that a worker process imports the transports
and nothing of the ledger: no SQLAlchemy, no renderer. Each worker then costs the memory
of a transport, not of the whole send.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from newsletter.delivery.dates import Timing
from newsletter.delivery.providers.base import Outcome, Transport
from newsletter.delivery.stopping import ignore_stop_signals
from newsletter.email.render import Email
from newsletter.store.recipient import Recipient

_worker: tuple[Transport, Email] | None = None
_failure: str | None = None  # why this process could not make its transport


def start(factory: Callable[[], Transport], email: Email, scheduled: Timing | None) -> None:
    """The pool's initializer: make this process's transport, scheduled as the run's.

    A failure is kept for :func:`ready` to report, not raised: raised here, it would end
    the process with a traceback on the terminal, and the sending process would learn
    only that a worker had died."""
    global _worker, _failure
    ignore_stop_signals()  # the main process decides when to stop, and says so
    try:
        transport = factory()
        transport.set_concurrency(1)  # a worker process sends one batch at a time
        scheduler = transport.scheduler()
        if scheduled is not None and scheduler is not None:
            scheduler.deliver_later(scheduled)
    except Exception as exc:
        _failure = f"{type(exc).__name__}: {exc}"
        return
    _worker = (transport, email)


def ready() -> str | None:
    """None when this process is ready to send; otherwise why it is not, in one line. The
    sending process asks each worker once, before it claims a batch."""
    return _failure


Row = tuple[int, str, str | None, str | None, str]  # a Recipient as a plain tuple


def as_rows(recipients: Sequence[Recipient]) -> list[Row]:
    """A batch as it crosses to a worker: plain tuples. Pickling a thousand named tuples
    costs the sending process five times what plain ones do (each is pickled as a call
    to its class), and that process is the one that keeps the ledger."""
    return [(r.id, r.email, r.name, r.timezone, r.link) for r in recipients]


def send(rows: list[Row]) -> Outcome:
    """Send one batch (its recipients as :func:`as_rows` gives them)."""
    assert _worker is not None, "worker process not initialised"
    transport, email = _worker
    return transport.send(email, list(map(Recipient._make, rows)))
