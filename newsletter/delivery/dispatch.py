"""Where a batch's request is built and posted: in this process, or in worker processes.

Building and encoding a request is pure Python work, bound by the GIL; with ``workers``
the send hands each batch (as plain tuples) to a pool of processes that each hold a
transport of their own (worker.py), while this process keeps the ledger. Without, the
send's own transport does it, on the send's threads.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from newsletter.delivery import worker
from newsletter.delivery.dates import Timing
from newsletter.delivery.providers.base import Outcome, Transport
from newsletter.email.render import Email
from newsletter.errors import DeliveryError
from newsletter.store.recipient import Recipient


class Dispatcher:
    """Sends a batch through ``transport`` here, or through ``workers`` processes, each
    making its transport with ``factory``. ``email`` waits for the email while it is
    still being rendered."""

    def __init__(self, transport: Transport, email: Callable[[], Email], workers: int,
                 factory: Callable[[], Transport] | None) -> None:
        self.transport, self.email = transport, email
        self.workers = workers if factory is not None else 0
        self.factory = factory
        self.pool: ProcessPoolExecutor | None = None
        self.starting: list[Future[str | None]] = []  # each worker's first task
        self.starter: threading.Thread | None = None  # starts the workers once rendered

    def start_when_rendered(self) -> None:
        """Start the workers from a thread of their own as soon as the email is rendered
        (a first run plans meanwhile: a million rows take a second or more)."""
        self.starter = threading.Thread(target=self._start_when_rendered,
                                        name="start-workers", daemon=True)
        self.starter.start()

    def _start_when_rendered(self) -> None:
        # The rendering's process is gone first, so the memory of the two never adds up.
        try:
            self.email()
        except Exception:  # the plan waits for it too, and says what went wrong
            return
        self._start(None)

    def start(self, scheduled: Timing | None) -> None:
        """Start the workers (if there are to be any, and they have not been started),
        each scheduled as the run is."""
        if self.starter is not None:
            self.starter.join()
        self._start(scheduled)

    def _start(self, scheduled: Timing | None) -> None:
        if self.pool is not None or not self.workers or self.factory is None:
            return
        self.pool = ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=worker.start, initargs=(self.factory, self.email(), scheduled))
        # The pool starts a process for each task that finds none idle: one small task
        # each starts them all now, while this process goes on.
        self.starting = [self.pool.submit(worker.ready) for _ in range(self.workers)]

    def ready(self) -> None:
        """Before the first batch is claimed: workers that could not start are a setup
        error, said in one line, with nothing claimed and so nothing left uncertain."""
        for future in self.starting:
            try:
                failure = future.result()
            except BrokenProcessPool as exc:
                failure = f"a worker process ended ({exc})"
            if failure:
                raise DeliveryError(f"the send's worker processes could not start: "
                                    f"{failure}; nothing was sent (--workers 0 sends from "
                                    "this process alone)")
        self.starting = []

    def send(self, recipients: Sequence[Recipient]) -> Outcome:
        if self.pool is None:
            return self.transport.send(self.email(), recipients)
        return self.pool.submit(worker.send, worker.as_rows(recipients)).result()

    def close(self) -> None:
        if self.starter is not None:
            self.starter.join()
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
