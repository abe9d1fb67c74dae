"""The send, as one story: plan the audience and take the lease, then for each batch
claim it, send it through the transport (retrying what may work later), and settle it in
the ledger.

Batches run on a small thread pool (``concurrency``), throttled to ``rate`` requests a
second (pacing.py), their requests built here or in worker processes (dispatch.py). A
refusal from the provider stops the send at once; batches that keep failing pause it
after ``max_failed_batches``; an interrupt (the command line's Ctrl-C or SIGTERM,
stopping.py) or a lost lease stops it too (stops.py); either
way the next run resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine

from newsletter.delivery import later, memory
from newsletter.delivery.attempt import BatchAttempt, send_batch
from newsletter.delivery.dispatch import Dispatcher
from newsletter.delivery.lease import Heartbeat
from newsletter.delivery.pacing import Backoff, RateLimiter
from newsletter.delivery.progress import Progress
from newsletter.delivery.providers.base import Outcome, Transport
from newsletter.delivery.stopping import Interrupt
from newsletter.delivery.stops import Stop, StopReason
from newsletter.email.render import Email
from newsletter.errors import (
    BatchNotSent,
    RefusedAfterNoAnswer,
    TransportRejected,
    TransportUnavailable,
)
from newsletter.store import subscribers
from newsletter.store.ledger import DELIVERY_STATES, Begun, Content, Lease, Ledger, run_owner
from newsletter.store.recipient import Recipient
from newsletter.store.status import Status

# The figures the docs give about a send (tests/delivery/test_readme_figures.py reads
# them from here and looks for them there).
MAX_FAILED_BATCHES = 3  # batches that fail all their attempts before a send pauses
RENEW_EVERY = 30.0  # seconds between a run's renewals of its lease (at most)


@dataclass(frozen=True)
class SendOptions:
    """How to send: every choice of ``newsletter send`` as one value."""

    transport: str = "auto"  # a name in transports.NAMES
    outbox: str | Path | None = None  # for a transport that writes files (default: outbox/)
    concurrency: int = 4
    rate: float | None = None  # requests a second, None for as fast as allowed
    resend_uncertain: bool = False
    max_attempts: int = 5
    retry_base: float = 1.0  # seconds; backoff grows from here, with jitter
    retry_cap: float = 120.0
    max_failed_batches: int = MAX_FAILED_BATCHES
    # Readers a server asked to try later (4xx: greylisting) are tried again in this run
    # after this many seconds, this many times; those still held wait for the next run.
    retry_deferred_after: float = 60.0
    deferred_rounds: int = 1
    workers: int = 0  # processes that build and post requests; 0: do it in this process
    send_at: dt.datetime | None = None  # have the provider deliver then (one with a scheduler)
    at_send_time: bool = False  # or: at the issue's own send time (sets send_at)
    local_time: bool = False  # deliver at the send time in each reader's own timezone
    lease_timeout: float = 600.0  # seconds without renewal after which a run is presumed gone
    accept_changes: bool = False  # resume even though the issue changed since the send began
    allow_warnings: bool = False  # send an issue that has lint warnings (never a TODO)


@dataclass
class SendReport:
    issue: str
    transport: str
    planned: int = 0
    sent: int = 0
    requests: int = 0
    seconds: float = 0.0
    already_done: bool = False
    recovered_uncertain: int = 0
    timeouts_retried: int = 0
    failed: int = 0  # recipients this run could not deliver to (refused, or batches given up)
    deferred: int = 0  # recipients a server asked to try later, still held at the end
    taken_over_from: str | None = None  # a run whose lease had gone stale
    stopped: str | None = None  # why this run stopped early, if it did
    warnings: list[str] = field(default_factory=list)  # about the setup (an http API host)
    errors: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every recipient sent or skipped by policy: nothing failed in this run, and
        nothing is left pending or uncertain."""
        return not (self.failed or self.stopped or self.counts.get("pending")
                    or self.counts.get("uncertain"))


class Rendering(Protocol):
    """An email still being rendered (in a process of its own); its day is known."""

    day: dt.date

    def result(self) -> Email:
        """The email, once rendered (waiting for it); raises what the rendering raised."""
        ...


class SendRun:
    def __init__(self, engine: Engine, email: Email | Rendering, transport: Transport,
                 options: SendOptions, progress: Progress | None = None,
                 factory: Callable[[], Transport] | None = None,
                 interrupt: Interrupt | None = None) -> None:
        """``factory`` makes the transport again in each worker process (``workers``).
        ``email`` may still be rendering: the first run then plans meanwhile. Calling
        ``interrupt`` stops the run as Ctrl-C does (the command line ties it to SIGINT
        and SIGTERM)."""
        self.day = email.date if isinstance(email, Email) else email.day
        self.ledger = Ledger(engine, self.day.isoformat())
        self.source = email
        self.transport = transport
        self.options = options
        self.progress = progress or Progress()
        self.stop = Stop()
        self.interrupt = interrupt or Interrupt()
        self.limiter = RateLimiter(options.rate)
        self.backoff = Backoff(options.max_attempts, options.retry_base, options.retry_cap,
                               self.stop.event)
        self.dispatcher = Dispatcher(transport, self._email, options.workers, factory)
        self.lock = threading.Lock()
        self.failed_batches = 0
        self.report = SendReport(self.ledger.issue, transport.name,
                                 warnings=list(transport.warnings))
        transport.set_concurrency(max(1, options.concurrency))  # its pool of connections
        self.held: dict[int, int] = {}  # batch -> its readers a server asked to try later

    def _email(self) -> Email:
        """The email; while it is still being rendered, this waits for it."""
        return self.source if isinstance(self.source, Email) else self.source.result()

    @property
    def email(self) -> Email:
        return self._email()

    def run(self) -> SendReport:
        try:
            return self._run()
        finally:
            self.dispatcher.close()

    def _run(self) -> SendReport:
        started = time.monotonic()
        timing = later.when(self.transport, self.day, self.options.send_at,
                            self.options.local_time)
        if timing is None and self.options.workers and not self.ledger.exists():
            self.dispatcher.start_when_rendered()  # while the first run plans
        lease = Lease(run_owner(), dt.timedelta(seconds=self.options.lease_timeout),
                      self.options.accept_changes)
        begun = self.ledger.begin(self.transport.name, self.transport.batch_size,
                                  self._content, lease)
        self.report.planned, self.report.taken_over_from = begun.planned, begun.taken_over_from
        renew_every = min(RENEW_EVERY, self.options.lease_timeout / 3)
        try:
            with Heartbeat(self.ledger, lease.owner, renew_every, self._lost_lease), \
                    self.interrupt.listened(self._interrupt):
                self._prepare()
                scheduled = None if timing is None else \
                    later.schedule(self.transport, self.ledger, self.day, *timing)
                self.dispatcher.start(scheduled)
                self._send_all(begun)
        finally:
            self.ledger.release_lease(lease.owner)
            self.transport.close()
            self.report.seconds = time.monotonic() - started
            self.report.counts = self.ledger.status().counts
        self._raise_if_stopped()
        return self.report

    def _content(self) -> Content:  # waited for inside the plan's transaction
        return Content(self.email.digest, self.email.subject)

    def _prepare(self) -> None:
        self.report.recovered_uncertain = self.ledger.recover()
        if self.options.resend_uncertain:
            self.ledger.release_uncertain()
        self.ledger.release_failed()

    def _send_all(self, begun: Begun) -> None:
        pending = self.ledger.pending_batches()
        if not pending:
            self.report.already_done = self.ledger.finish_if_done()
            return
        self.dispatcher.ready()
        if begun.resumed:
            status = self.ledger.status()
            self.progress.start(status.planned, status.planned - status.left)
        else:  # just planned: all of it is left (no count of a million rows needed)
            self.progress.start(begun.planned, 0)
        with ThreadPoolExecutor(max(1, self.options.concurrency)) as pool:
            self._drain(pool, iter(pending))
            self._retry_deferred(pool)
        self.ledger.finish_if_done()
        self.progress.finish()

    def _drain(self, pool: ThreadPoolExecutor, upcoming: Iterator[int]) -> None:
        running: set[Future[None]] = set()
        finished = 0
        while True:
            while not self.stop.is_set() and len(running) < max(1, self.options.concurrency):
                number = next(upcoming, None)
                if number is None:
                    break
                running.add(pool.submit(self._batch, number))
            if not running:
                return
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()  # a bug or a database error stops the send here
            finished += len(done)
            memory.collect_now_and_then(finished, len(done))

    def _retry_deferred(self, pool: ThreadPoolExecutor) -> None:
        """Batches whose readers a server asked to try later (a 4xx answer, such as
        greylisting) go again after a wait, holding only those readers; whoever is still
        held stays pending in the ledger, with the server's words, for the next run."""
        for _ in range(self.options.deferred_rounds):
            if not self.held or self.stop.event.wait(self.options.retry_deferred_after):
                break
            again = sorted(self.held)
            self.held.clear()
            for number in again:
                self.ledger.retry_held(number)  # the server's words stay
            self._drain(pool, iter(again))
        self.report.deferred = sum(self.held.values())

    def _batch(self, number: int) -> None:
        """One batch: claim, send, settle."""
        recipients = self.ledger.claim(number)
        if not recipients:
            return
        try:
            attempt = send_batch(number, recipients, self.ledger, self.dispatcher.send,
                                 self.backoff, self.limiter)
        except RefusedAfterNoAnswer as exc:
            self.ledger.uncertain(number, str(exc))  # an earlier try may have gone
            self._refused(str(exc), exc)
        except (TransportRejected, BatchNotSent) as exc:
            self.ledger.release(number, str(exc))  # nothing left: the next run sends it
            self._refused(str(exc), exc)
        except TransportUnavailable as exc:
            self._gave_up(number, len(recipients), exc)
        except Exception as exc:
            self.ledger.uncertain(number, f"unexpected error: {exc!r}", unexpected=True)
            self._refused(f"unexpected error while sending batch {number}: {exc!r}; its "
                          f"{len(recipients)} recipients are marked uncertain")
        else:
            self._settle(attempt)

    def _settle(self, attempt: BatchAttempt) -> None:
        outcome = attempt.outcome
        # Readers held for later stay on the batch's list, pending, like those not sent.
        sent = self.ledger.settle(attempt.number, outcome.provider_id, outcome.refused,
                                  attempt.note, {**outcome.not_sent, **outcome.deferred})
        self._count(sent, attempt)
        if outcome.deferred:
            with self.lock:
                self.held[attempt.number] = len(outcome.deferred)
        self.progress.advance(attempt.size)

    def _count(self, sent: int, attempt: BatchAttempt) -> None:
        outcome: Outcome = attempt.outcome
        with self.lock:
            self.report.sent += sent
            self.report.requests += 1
            self.report.timeouts_retried += attempt.timed_out
            self.report.failed += len(outcome.refused)
            for why in dict.fromkeys([*outcome.refused.values(), *outcome.not_sent.values()]):
                self.report.errors.append(why)
            for why in dict.fromkeys(outcome.deferred.values()):
                self.report.errors.append(f"held for a later attempt: {why}")
            if outcome.not_sent:  # the transport stopped part-way (a full disk, say)
                self._batch_failed()

    def _gave_up(self, number: int, size: int, exc: TransportUnavailable) -> None:
        """A batch's last attempt failed. It counts towards the pause unless the send is
        already stopping (its attempts were cut short, or it failed beside the batch that
        made the send pause): then it is only set aside for the next run, so that a send
        pauses after exactly ``max_failed_batches``, whatever the concurrency."""
        with self.lock:
            counted = not self.stop.is_set()
            if counted:
                self.report.failed += size
                self.report.errors.append(f"batch {number}: {exc}")
                self._batch_failed()
        if exc.not_sent:
            self.ledger.release(number, str(exc), failed=counted)
        else:
            self.ledger.uncertain(number, str(exc))

    def _batch_failed(self) -> None:  # with the lock held
        self.failed_batches += 1
        if self.failed_batches >= self.options.max_failed_batches:
            self.stop(StopReason.FAILED_BATCHES)

    def _refused(self, reason: str, cause: Exception | None = None) -> None:
        with self.lock:
            self.report.errors.append(reason)
            if isinstance(cause, TransportRejected) and self.stop.refusal is None:
                self.stop.refusal = cause  # its status and code go to the caller
        self.stop(StopReason.REFUSED, reason)

    def _interrupt(self, why: str) -> None:
        self.stop(StopReason.SIGNAL, why)  # perhaps in a signal handler: no lock

    def _lost_lease(self, reason: str) -> None:
        self.stop(StopReason.LEASE_LOST, reason)

    def _raise_if_stopped(self) -> None:
        self.report.stopped = self.stop.summary(self.failed_batches)
        last = self.report.errors[-1] if self.report.errors else None
        error = self.stop.error(self.report.sent, self.failed_batches, last, self.report)
        if error is not None:
            raise error


def proof(email: Email, transport: Transport, addresses: Sequence[str],
          subject: str | None = None) -> int:
    """Send the issue to ``addresses`` only, marked as a proof (``subject``, the
    renderer's ``proof_subject``, in the publication's words); nothing is recorded."""
    seen: dict[str, Recipient] = {}
    for address in addresses:
        normalized, key = subscribers.normalize(address)
        seen.setdefault(key, Recipient(0, normalized))
    marked = dataclasses.replace(email, subject=subject or f"[Proof] {email.subject}")
    try:
        transport.send(marked, list(seen.values()))
    finally:
        transport.close()
    return len(seen)


@dataclass(frozen=True)
class Plan:
    """A dry run: what a run of the send with the same options would do now, found
    without sending, scheduling or recording anything. ``report`` is the report that run
    would give were every request answered: the readers it would reach (``sent``), the
    requests it would make (``requests``), what the ledger would hold after
    (``counts``), or that there is nothing to do (``already_done``)."""

    report: SendReport
    started: bool  # resuming a send begun earlier
    # When the provider would deliver, for a scheduled send: (the last reader's time,
    # whether at each reader's own time); None: at once.
    timing: tuple[dt.datetime, bool] | None = None

    @property
    def issue(self) -> str:
        return self.report.issue

    @property
    def transport(self) -> str:
        return self.report.transport

    @property
    def recipients(self) -> int:
        return self.report.planned

    @property
    def batches(self) -> int:
        return self.report.requests

    @property
    def left(self) -> int:
        return self.report.sent


def dry_run(engine: Engine, email: Email, transport: Transport,
            options: SendOptions | None = None) -> Plan:
    """What a send with ``options`` would do now, touching nothing: the send's own
    questions in its order (can the transport deliver when asked, may this run take the
    issue, is the content the one it began with, who is left), raising what it would
    raise; the answers are read, never written."""
    options = options or SendOptions()
    ledger = Ledger(engine, email.date.isoformat())
    timing = later.when(transport, email.date, options.send_at, options.local_time)
    report = SendReport(ledger.issue, transport.name, warnings=list(transport.warnings))
    if not ledger.exists():
        active = subscribers.counts(engine)[Status.ACTIVE]
        batches = -(-active // transport.batch_size)
        report.planned = active
        _as_if_sent(report, dict.fromkeys(DELIVERY_STATES, 0), active, 0, batches, batches)
        return Plan(report, False, timing)
    lease = Lease(run_owner(), dt.timedelta(seconds=options.lease_timeout),
                  options.accept_changes)
    ahead = ledger.ahead(Content(email.digest, email.subject), lease, options.resend_uncertain)
    status = ledger.status()
    report.planned, report.taken_over_from = status.planned, ahead.taken_over_from
    report.recovered_uncertain = ahead.recovered
    counts = dict(status.counts)
    if options.resend_uncertain:
        counts["uncertain"] = 0
    _as_if_sent(report, counts, ahead.going, ahead.leaving, ahead.requests, ahead.batches)
    return Plan(report, True, timing)


def _as_if_sent(report: SendReport, before: dict[str, int], going: int, leaving: int,
                requests: int, batches: int) -> None:
    """Fill ``report`` as the send would, every request answered: ``batches`` taken up
    (``requests`` of them with anyone to send to), ``going`` readers reached and
    ``leaving`` skipped; with none to take up, done unless some are uncertain."""
    report.sent, report.requests = going, requests
    report.counts = {**before, "pending": 0, "sent": before["sent"] + going,
                     "skipped": before["skipped"] + leaving}
    report.already_done = batches == 0 and not report.counts["uncertain"]
