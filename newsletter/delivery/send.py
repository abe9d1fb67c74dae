"""The send, as one story: plan the audience, then for each batch claim it, send it
(retrying what may work later), and settle it in the ledger.

Batches run on a small thread pool (``concurrency``), throttled to ``rate`` requests a
second. A refusal from the provider stops the send at once; batches that keep failing
pause it after ``max_failed_batches``; either way the next run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_when_event_set,
    wait_random_exponential,
)

from newsletter.delivery import worker
from newsletter.delivery.dates import Timing
from newsletter.delivery.lease import Heartbeat
from newsletter.delivery.progress import Progress
from newsletter.delivery.providers.base import Outcome, Scheduler, Transport
from newsletter.delivery.stopping import stop_signals
from newsletter.email.render import Email
from newsletter.errors import (
    BatchNotSent,
    ConfigError,
    DeliveryError,
    SendPaused,
    TransportRejected,
    TransportUnavailable,
)
from newsletter.store import subscribers
from newsletter.store.ledger import Begun, Content, Lease, Ledger, run_owner
from newsletter.store.recipient import Recipient
from newsletter.timing import LATEST_ZONE, send_instant

# The figures the README gives about a send (tests/delivery/test_readme_figures.py reads
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


class RateLimiter:
    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next_start = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_start)
            self.next_start = start + self.interval
        time.sleep(start - now)


class Rendering(Protocol):
    """An email still being rendered (in a process of its own); its day is known."""

    day: dt.date

    def result(self) -> Email:
        """The email, once rendered (waiting for it); raises what the rendering raised."""
        ...


class SendRun:
    def __init__(self, engine: Engine, email: Email | Rendering, transport: Transport,
                 options: SendOptions, progress: Progress | None = None,
                 factory: Callable[[], Transport] | None = None) -> None:
        """``factory`` makes the transport again in each worker process (``workers``).
        ``email`` may still be rendering: the first run then plans meanwhile."""
        self.day = email.date if isinstance(email, Email) else email.day
        self.ledger = Ledger(engine, self.day.isoformat())
        self.engine = engine
        self.source = email
        self.transport = transport
        self.options = options
        self.progress = progress or Progress()
        self.limiter = RateLimiter(options.rate)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.failed_batches = 0
        self.fatal: str | None = None
        self.report = SendReport(self.ledger.issue, transport.name,
                                 warnings=list(transport.warnings))
        self.factory = factory
        self.pool: ProcessPoolExecutor | None = None
        self.starting: list[Future[str | None]] = []  # each worker's first task
        self.scheduled: Timing | None = None
        self.interrupted: str | None = None  # the signal that asked this run to stop
        self.lost: str | None = None  # why the lease was lost, if it was
        self.starter: threading.Thread | None = None  # starts the workers once rendered
        self.held: dict[int, int] = {}  # batch -> its readers a server asked to try later

    @property
    def email(self) -> Email:
        """The email; while it is still being rendered, this waits for it."""
        return self.source if isinstance(self.source, Email) else self.source.result()

    def run(self) -> SendReport:
        with _fewer_collections():
            try:
                return self._run()
            finally:
                if self.starter is not None:
                    self.starter.join()
                if self.pool is not None:
                    self.pool.shutdown(cancel_futures=True)

    def _run(self) -> SendReport:
        started = time.monotonic()
        timing = self._check_timing()
        if timing is None and self.options.workers and not self.ledger.exists():
            # A first run plans a million rows for a second or more: the email is rendered
            # and the workers (a fresh interpreter each) start meanwhile, not after.
            self.starter = threading.Thread(target=self._start_when_rendered,
                                            name="start-workers", daemon=True)
            self.starter.start()
        lease = Lease(run_owner(), dt.timedelta(seconds=self.options.lease_timeout),
                      self.options.accept_changes)

        def content() -> Content:  # waited for inside the plan's transaction
            return Content(self.email.digest, self.email.subject)

        begun = self.ledger.begin(self.transport.name, self.transport.batch_size, content, lease)
        self.report.planned, self.report.taken_over_from = begun.planned, begun.taken_over_from
        renew_every = min(RENEW_EVERY, self.options.lease_timeout / 3)
        try:
            with Heartbeat(self.ledger, lease.owner, renew_every, self._lost_lease), \
                    stop_signals(self._interrupt):
                self._prepare()
                if timing is not None:
                    self._schedule(*timing)
                if self.starter is not None:
                    self.starter.join()
                if self.pool is None:
                    self._start_workers()
                self._send_all(begun)
        finally:
            self.ledger.release_lease(lease.owner)
            self.transport.close()
            self.report.seconds = time.monotonic() - started
            self.report.counts = self.ledger.status().counts
        self._raise_if_stopped()
        return self.report

    def _prepare(self) -> None:
        self.report.recovered_uncertain = self.ledger.recover()
        if self.options.resend_uncertain:
            self.ledger.release_uncertain()
        self.ledger.release_failed()

    def _check_timing(self) -> tuple[dt.datetime, bool] | None:
        """(when the last reader is due, whether per reader), or None to deliver now."""
        now = dt.datetime.now(dt.UTC)
        if self.options.local_time:
            last = send_instant(self.day, self.transport.publication.send_clock,
                                LATEST_ZONE)
            return self._within_reach(last, now), True
        send_at = self.options.send_at
        if send_at is None or send_at <= now:
            return None
        return self._within_reach(send_at, now), False

    def _within_reach(self, send_at: dt.datetime, now: dt.datetime) -> dt.datetime:
        scheduler = self._scheduler()
        if send_at - now > scheduler.max_ahead:
            hours = scheduler.max_ahead / dt.timedelta(hours=1)
            raise ConfigError(f"{send_at:%Y-%m-%d %H:%M %Z} is more than {hours:g} hours "
                              f"ahead; {self.transport.name} cannot schedule that far")
        return send_at

    def _scheduler(self) -> Scheduler:
        scheduler = self.transport.scheduler()
        if scheduler is None:
            raise self.transport.unsupported("schedule delivery for later (send_at)")
        return scheduler

    def _schedule(self, last: dt.datetime, per_reader: bool) -> None:
        scheduler = self._scheduler()
        batch_id, _ = self.ledger.scheduled()
        if batch_id is None:  # one batch id per issue, so `cancel` stops all of it
            batch_id = scheduler.create_batch()
            self.ledger.set_scheduled(batch_id, last)
        self.scheduled = Timing(batch_id, local_day=self.day) if per_reader \
            else Timing(batch_id, send_at=last)
        scheduler.deliver_later(self.scheduled)

    def _start_when_rendered(self) -> None:
        """In a thread of its own: wait for the email (its process gone, so the memory of
        the two never adds up), then start the workers."""
        try:
            self.email  # noqa: B018 - waits for the rendering
        except Exception:  # the plan waits for it too, and says what went wrong
            return
        self._start_workers()

    def _start_workers(self) -> None:
        # Building and encoding a request is pure Python work, bound by the GIL; worker
        # processes let it use the other cores while this one keeps the ledger.
        if self.options.workers and self.factory is not None:
            self.pool = ProcessPoolExecutor(
                self.options.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=worker.start, initargs=(self.factory, self.email, self.scheduled))
            # The pool starts a process for each task that finds none idle: one small
            # task each starts them all now, while this process goes on.
            self.starting = [self.pool.submit(worker.ready)
                             for _ in range(self.options.workers)]

    def _workers_ready(self) -> None:
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

    def _dispatch(self, recipients: Sequence[Recipient]) -> Outcome:
        if self.pool is None:
            return self.transport.send(self.email, recipients)
        return self.pool.submit(worker.send, worker.as_rows(recipients)).result()

    def _send_all(self, begun: Begun) -> None:
        pending = self.ledger.pending_batches()
        if not pending:
            self.report.already_done = self.ledger.finish_if_done()
            return
        self._workers_ready()
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
            if finished % COLLECT_EVERY < len(done):
                # With collections rare (see _fewer_collections), the few cycles each
                # batch leaves (retry state, SQL expressions) would pile up over millions
                # of readers: clear them now and then, so memory stays flat.
                gc.collect()

    def _retry_deferred(self, pool: ThreadPoolExecutor) -> None:
        """Batches whose readers a server asked to try later (a 4xx answer, such as
        greylisting) go again after a wait, holding only those readers; whoever is still
        held stays pending in the ledger, with the server's words, for the next run."""
        for _ in range(self.options.deferred_rounds):
            if not self.held or self.stop.wait(self.options.retry_deferred_after):
                break
            again = sorted(self.held)
            self.held.clear()
            for number in again:
                self.ledger.retry_held(number)  # the server's words stay
            self._drain(pool, iter(again))
        self.report.deferred = sum(self.held.values())

    def _batch(self, number: int) -> None:
        recipients = self.ledger.claim(number)
        if not recipients:
            return
        try:
            outcome, note = self._send_with_retries(number, recipients)
        except (TransportRejected, BatchNotSent) as exc:
            self.ledger.release(number, str(exc))  # nothing left: the next run sends it
            self._halt(str(exc))
            return
        except TransportUnavailable as exc:
            self._gave_up(number, len(recipients), exc)
            return
        except Exception as exc:
            self.ledger.uncertain(number, f"unexpected error: {exc!r}", unexpected=True)
            self._halt(f"unexpected error while sending batch {number}: {exc!r}; its "
                       f"{len(recipients)} recipients are marked uncertain")
            return
        # Readers held for later stay on the batch's list, pending, like those not sent.
        sent = self.ledger.settle(number, outcome.provider_id, outcome.refused, note,
                                  {**outcome.not_sent, **outcome.deferred})
        self._count(sent, outcome)
        if outcome.deferred:
            with self.lock:
                self.held[number] = len(outcome.deferred)
        self.progress.advance(len(recipients))

    def _count(self, sent: int, outcome: Outcome) -> None:
        with self.lock:
            self.report.sent += sent
            self.report.requests += 1
            self.report.failed += len(outcome.refused)
            for why in dict.fromkeys([*outcome.refused.values(), *outcome.not_sent.values()]):
                self.report.errors.append(why)
            for why in dict.fromkeys(outcome.deferred.values()):
                self.report.errors.append(f"held for a later attempt: {why}")
            if outcome.not_sent:  # the transport stopped part-way (a full disk, say)
                self.failed_batches += 1
                if self.failed_batches >= self.options.max_failed_batches:
                    self.stop.set()

    def _send_with_retries(self, number: int, recipients: Sequence[Recipient]):  # type: ignore[no-untyped-def]
        timed_out = False
        # No new attempt once the send is stopping (paused, interrupted, lease lost),
        # and no wait for one: a batch in flight finishes its attempt and is set aside.
        retrying = Retrying(retry=retry_if_exception_type(TransportUnavailable),
                            stop=stop_after_attempt(self.options.max_attempts)
                            | stop_when_event_set(self.stop),
                            wait=self._wait, sleep=self._pause, reraise=True)
        for attempt in retrying:
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    self.ledger.in_flight_again(number)
                self.limiter.wait()
                try:
                    outcome = self._dispatch(recipients)
                except TransportUnavailable as exc:
                    timed_out = timed_out or not exc.not_sent
                    if exc.not_sent:  # surely not taken: a crash while we wait loses nothing
                        self.ledger.release(number, str(exc))
                    raise
        note = None
        if timed_out:
            note = ("an earlier attempt got no answer; if the provider had taken it, these "
                    "recipients got the issue twice")
            with self.lock:
                self.report.timeouts_retried += 1
        return outcome, note

    def _pause(self, seconds: float) -> None:
        self.stop.wait(seconds)  # cut short when the send stops

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_random_exponential(multiplier=self.options.retry_base,
                                          max=self.options.retry_cap)(state)
        exc = state.outcome.exception() if state.outcome else None
        hint = getattr(exc, "retry_after", None) or 0.0
        return min(max(backoff, hint), self.options.retry_cap)

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
                self.failed_batches += 1
                if self.failed_batches >= self.options.max_failed_batches:
                    self.stop.set()
        if exc.not_sent:
            self.ledger.release(number, str(exc), failed=counted)
        else:
            self.ledger.uncertain(number, str(exc))

    def _halt(self, reason: str) -> None:
        with self.lock:
            self.fatal = self.fatal or reason
            self.report.errors.append(reason)
        self.stop.set()

    def _interrupt(self, signal_name: str) -> None:
        # In the signal handler: only set flags (the lock may be held by this thread).
        self.interrupted = self.interrupted or signal_name
        self.stop.set()

    def _lost_lease(self, reason: str) -> None:
        self.lost = reason
        self.stop.set()

    def _raise_if_stopped(self) -> None:
        if self.fatal:
            self.report.stopped = self.fatal
            raise TransportRejected(f"{self.fatal}; the send stopped (nothing more was sent; "
                                    "fix the cause and run again to resume)")
        if self.lost:
            self.report.stopped = self.lost
            raise DeliveryError(self.lost)
        if self.interrupted:
            self.report.stopped = f"stopped by {self.interrupted}"
            raise SendPaused(f"stopped by {self.interrupted}: the requests in flight were "
                             f"settled, {self.report.sent:,} recipients were sent to in this "
                             "run; run the same command again to resume", report=self.report)
        if self.stop.is_set():
            last = self.report.errors[-1] if self.report.errors else "errors"
            self.report.stopped = f"paused after {self.failed_batches} failed batches"
            raise SendPaused(f"paused after {self.failed_batches} failed batches (last: {last}); "
                             "run the same command again to resume", report=self.report)


COLLECT_EVERY = 200  # batches between full collections during a send


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """A send allocates millions of short-lived, cycle-free dicts (one per recipient);
    at the default thresholds the cycle collector runs so often that it costs as much as
    building them. Collect rarely during the send, as before after it. (What lives as
    long as the process is frozen out of the scans by the command line, at its start:
    the library never freezes or unfreezes, which would thaw what a host froze.)"""
    before = gc.get_threshold()
    gc.set_threshold(200_000, 50, 50)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def proof(email: Email, transport: Transport, addresses: Sequence[str]) -> int:
    """Send the issue to ``addresses`` only, marked as a proof; nothing is recorded."""
    seen: dict[str, Recipient] = {}
    for address in addresses:
        normalized, key = subscribers.normalize(address)
        seen.setdefault(key, Recipient(0, normalized))
    marked = dataclasses.replace(email, subject=f"[Proof] {email.subject}")
    try:
        transport.send(marked, list(seen.values()))
    finally:
        transport.close()
    return len(seen)


@dataclass(frozen=True)
class Plan:
    issue: str
    transport: str
    recipients: int
    batches: int
    started: bool
    left: int


def dry_run(engine: Engine, email: Email, transport: Transport) -> Plan:
    """What a send would do now, touching nothing."""
    ledger = Ledger(engine, email.date.isoformat())
    if ledger.exists():
        status = ledger.status()
        left = status.left + status.counts["uncertain"]
        return Plan(ledger.issue, transport.name, status.planned,
                    status.batches.get("pending", 0), True, left)
    active = subscribers.counts(engine)["active"]
    batches = -(-active // transport.batch_size)
    return Plan(ledger.issue, transport.name, active, batches, False, active)
