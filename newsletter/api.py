"""The Python API: everything the ``newsletter`` command does, as calls that return values.

One :class:`Newsletter` object stands for one publication (its settings file, issues,
templates and database) in one environment. Its methods return values and raise the
package's exceptions (:mod:`newsletter.errors`); they print nothing and never exit. The
command line is one client of this API: it parses, calls, prints and picks the exit code.

    from newsletter import Newsletter, SendOptions

    nl = Newsletter("newsletter.yaml")
    findings = nl.check()
    built = nl.build("2024-07-23", out="build/2024-07-23")
    report = nl.send("2024-07-23", SendOptions(transport="auto"))

Heavy parts (the template engine, SQLAlchemy, the providers' packages) are imported by
the methods that need them, so a program that only manages subscribers loads no renderer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING

from newsletter.config import Environment
from newsletter.content import issue as issue_files
from newsletter.content.settings import Publication
from newsletter.errors import (
    IssueNotFound,
    Problem,
    ProblemsFound,
    SenderUnhealthy,
    Severity,
    errors_in,
)
from newsletter.project import Project, Rendered
from newsletter.store.states import Status as ReaderStatus  # no SQLAlchemy: light to load

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

    from dns.resolver import Resolver
    from sqlalchemy import Engine

    from newsletter.delivery.progress import Progress
    from newsletter.delivery.providers.base import Transport
    from newsletter.delivery.send import Plan, SendOptions, SendReport
    from newsletter.delivery.statistics import IssueSynced
    from newsletter.delivery.stopping import Interrupt
    from newsletter.delivery.suppressions import Synced
    from newsletter.desk.add import AddResult
    from newsletter.desk.fetch import Guard as FetchGuard
    from newsletter.email.render import Email
    from newsletter.insight.domain import Finding
    from newsletter.insight.health import Health
    from newsletter.insight.issues import IssueFigures
    from newsletter.insight.trend import Trend
    from newsletter.site.archive import Archived
    from newsletter.store.ledger import Cancelled, Ledger, Status
    from newsletter.store.subscribers import ImportReport, Subscriber

# A date, "2024-07-23", "today", "tomorrow" or "next" (Newsletter.issue_ref), or the path
# of an issue file.
IssueRef = str | dt.date | Path


@dataclass(frozen=True)
class Override:
    """Who sends although the sender's health says stop, and why (``send
    --override-health REASON``): kept with the figures of the moment."""

    by: str
    reason: str


@dataclass(frozen=True)
class CheckResult:
    """What ``check`` found in the files it read."""

    files: list[Path]
    findings: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return errors_in(self.findings)

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.findings if p.severity is Severity.WARNING]


@dataclass(frozen=True)
class Built:
    rendered: Rendered
    files: list[Path]


@dataclass(frozen=True)
class Due:
    """Which issue the schedule calls for at a moment, and whether it is time."""

    day: dt.date
    at: dt.datetime  # the day's send time, in the publication's zone
    publishing_day: bool
    due: bool  # a publishing day whose send time has come
    path: Path  # where its issue file is, or would be

    def require_file(self) -> Path:
        if not self.path.is_file():
            raise IssueNotFound(f"{self.day} is a publishing day but {self.path} does not exist")
        return self.path


@dataclass(frozen=True)
class Proof:
    issue: dt.date
    transport: str
    addresses: int  # distinct addresses it went to
    folder: Path | None = None  # where the messages are, for a transport that keeps files


PROOFS = "proofs"  # where proofs go in a file-writing transport's folder, apart from sends


@dataclass(frozen=True)
class Upcoming:
    """One coming publishing day, for ``schedule``. ``state`` is ``ready`` only when the
    send would take the issue file as it is now; otherwise it says why not in a few words
    (``MISSING``, ``NOT READY: 2 errors``, ``NOT READY: TODO left``, ``NOT READY: 3
    warnings``), or how its send stands (``sent``, ``sending (unfinished)``,
    ``cancelled``). ``problems`` are what stands in the way of a file NOT READY."""

    at: dt.datetime
    path: Path
    state: str
    problems: tuple[Problem, ...] = ()

    @property
    def ready(self) -> bool:
        return self.state == READY


READY, MISSING = "ready", "MISSING"


class Newsletter:
    """One publication: its settings, issue files, templates and database."""

    def __init__(self, config: str | Path | None = None, *,
                 env: Environment | None = None) -> None:
        self.project = Project.locate(config, env)

    @property
    def env(self) -> Environment:
        return self.project.env

    @property
    def publication(self) -> Publication:
        return self.project.publication

    @property
    def engine(self) -> Engine:
        return self.project.engine

    @cached_property
    def subscribers(self) -> Subscribers:
        return Subscribers(self.project)

    # -- issue files -----------------------------------------------------------------

    def issue_files(self) -> list[Path]:
        return self.project.issue_files()

    def resolve(self, ref: IssueRef) -> Path:
        """The issue file for a date or a path (read as :meth:`issue_ref` reads them);
        IssueNotFound if there is none."""
        return self.project.resolve(self.issue_ref(ref))

    def issue_ref(self, ref: IssueRef) -> dt.date | Path:
        """An issue as every command reads one: a day (as :meth:`day` reads it) or the
        path of an issue file (one that exists, or text written as a path: with a folder
        in it, or ending in .yaml or .yml). NotADate for text that is neither, such as
        ``2024-13-01`` or ``tomorow``."""
        if isinstance(ref, dt.date | Path):
            return ref
        if ref in issue_files.DAY_WORDS:
            return self.day(ref)
        return issue_files.read_ref(ref)

    def day(self, ref: str | dt.date) -> dt.date:
        """A day as every command reads one: ``YYYY-MM-DD``, ``today`` or ``tomorrow`` (in
        the publication's timezone), or ``next`` (the next publishing day whose send time
        has not come). NotADate otherwise, an impossible date too."""
        if isinstance(ref, dt.date):
            return ref
        if ref == "next":
            return self.next_day()
        if ref in issue_files.DAY_WORDS:
            return self.today() + dt.timedelta(days=issue_files.DAY_WORDS.index(ref))
        return issue_files.read_day(ref)

    def _issue_path(self, ref: IssueRef) -> Path:
        """Where the issue's file is, or would be (not looked for)."""
        found = self.issue_ref(ref)
        return found if isinstance(found, Path) else \
            issue_files.path_for(self.project.issues_dir, found)

    def render(self, ref: IssueRef) -> Rendered:
        """Parse, render and lint one issue; ProblemsFound if the file is invalid."""
        return self.project.render(self.resolve(ref))

    def check(self, paths: Sequence[IssueRef] | None = None, *,
              link_timeout: float | None = None, allow_private: bool = False) -> CheckResult:
        """Every error and warning in ``paths`` (issue files, folders, which are searched,
        or days, whose issue files are checked; default: every issue file) and in the
        transports' settings. With ``link_timeout``, every link of a valid file is
        fetched too."""
        from newsletter.delivery.providers.registry import options_problems

        files = _expand([self._issue_path(p) for p in paths]) if paths else self.issue_files()
        if not files:
            raise IssueNotFound(f"no issue files in {self.project.issues_dir}")
        findings = options_problems(self.publication)
        if not paths:
            findings += self.project.second_files()
            welcome = self.project.welcome_file
            files += [welcome] if welcome.is_file() else []
        for path in files:
            findings += self._check_one(path, link_timeout, allow_private)
        return CheckResult(files, findings)

    def _check_one(self, path: Path, link_timeout: float | None,
                   allow_private: bool) -> list[Problem]:
        if not path.is_file():
            return [Problem(str(path), 1, 1, "", "no such file")]
        if path.resolve() == self.project.welcome_file.resolve():
            return self.project.check_welcome()
        return self.project.check(path, link_timeout=link_timeout, allow_private=allow_private)

    def build(self, ref: IssueRef, out: str | Path | None = None) -> Built:
        """Write email.html, email.txt and email.eml (default folder build/DATE).
        Nothing is written when the issue has errors: ProblemsFound says which."""
        from newsletter.email.output import write_build

        rendered = self.render(ref)
        rendered.raise_errors()
        target = Path(out) if out else Path("build") / rendered.email.date.isoformat()
        return Built(rendered, write_build(rendered.email, self.publication, target))

    def new_issue(self, day: dt.date) -> Path:
        """Start the issue file for ``day`` from a template that validates."""
        from newsletter.content import scaffold

        return scaffold.create(self.project.issues_dir, day,
                               self.project.renderer.section_title())

    def add(self, links: Sequence[str], *, day: dt.date | None = None, lead: bool = False,
            section: str | None = None, dry_run: bool = False,
            guard: FetchGuard | None = None) -> AddResult:
        """Draft a story from each link into the issue of ``day`` (tomorrow by default;
        made from the scaffold if missing): fetched through the guard, edited in place,
        validated, written once. ``guard`` is for tests (see newsletter/guard.py)."""
        from newsletter.desk import add, fetch

        request = add.Request(self.project.issues_dir,
                              day or self.today() + dt.timedelta(days=1),
                              self.publication.default_section_title, lead=lead,
                              section=section, dry_run=dry_run, guard=guard or fetch.Guard())
        return add.add(request, links)

    def next_day(self, now: dt.datetime | None = None) -> dt.date:
        """The next publishing day whose send time has not come (the next issue)."""
        from newsletter.delivery import dates

        moment = now or dt.datetime.now(dt.UTC)
        return next(at.date() for at in dates.upcoming(self.publication, moment, 15)
                    if at > moment)

    def today(self, now: dt.datetime | None = None) -> dt.date:
        """Today in the publication's timezone."""
        return (now or dt.datetime.now(dt.UTC)).astimezone(self.publication.zone).date()

    def archive(self, out: str | Path = "site", *, today: dt.date | None = None,
                include_future: bool = False) -> Archived:
        """Write the web archive (pages, index.html, feed.xml) of the issues the send would
        take (warnings allowed): the files written, the problems of any file left out as
        broken (it keeps only itself out), and the drafts left out for a TODO."""
        from newsletter.site import archive

        return archive.build(self.project, Path(out), today or self.today(),
                             include_future=include_future)

    # -- delivery ----------------------------------------------------------------------

    def transport(self, name: str = "auto", outbox: str | Path | None = None) -> Transport:
        """The transport of provider ``name`` (``auto``: the first provider the
        environment sets up, else the one that needs nothing; see
        ``providers/registry.py``), made from the settings and the environment."""
        from newsletter.delivery.providers import registry

        return registry.make(name, self.publication, self.env,
                               outbox=Path(outbox) if outbox else self.project.outbox_dir)

    def due(self, now: dt.datetime | None = None,
            ahead: dt.timedelta = dt.timedelta(0)) -> Due:
        """The issue the schedule calls for at ``now`` (default: now), treating a send
        time up to ``ahead`` away as come."""
        from newsletter.delivery import dates

        moment = (now or dt.datetime.now(dt.UTC)) + ahead
        day, is_due, at = dates.due(self.publication, moment)
        return Due(day, at, dates.is_publishing_day(self.publication, day), is_due,
                   issue_files.path_for(self.project.issues_dir, day))

    def send(self, ref: IssueRef, options: SendOptions | None = None, *,
             progress: Progress | None = None, override_health: Override | None = None,
             interrupt: Interrupt | None = None) -> SendReport:
        """Send the issue to every active subscriber, exactly once (see docs/delivery.md).
        Refuses an issue with errors, and a send not yet begun while the
        recent sends' complaint or hard-bounce rate is above the limit
        (:class:`SenderUnhealthy`) unless ``override_health`` says who sends anyway, and
        why (kept in ``health_overrides``). Calling ``interrupt`` (from another thread,
        or a signal handler the caller installs) stops the send as Ctrl-C does: what is
        in flight is settled, nothing new starts, and :class:`SendPaused` says so."""
        from functools import partial

        from newsletter.delivery.providers import registry
        from newsletter.delivery.send import SendOptions, SendRun

        options = options or SendOptions()
        email: Email | _Rendering
        if options.workers:
            email = self._rendering_apart(ref, allow_warnings=options.allow_warnings)
        else:
            email = self._sendable(ref, ready=True, allow_warnings=options.allow_warnings)
        try:
            chosen = self.transport(options.transport, options.outbox)
            day = email.day if isinstance(email, _Rendering) else email.date
            self._guard_health(day.isoformat(), override_health)
            options = self._timed(options, day)
            outbox = Path(options.outbox) if options.outbox else self.project.outbox_dir
            factory = partial(registry.make, options.transport, self.publication, self.env,
                              outbox=outbox)
            return SendRun(self.engine, email, chosen, options, progress, factory=factory,
                           interrupt=interrupt).run()
        finally:
            if isinstance(email, _Rendering):
                email.close()

    def stats(self, day: str | dt.date) -> IssueFigures:
        """An issue's figures: its counts, their rates, and its stories' clicks (with
        their headlines, from the issue's file when it is still there). IssueNotFound
        when the issue was never sent."""
        from newsletter.insight.issues import figures
        from newsletter.store import figures as counts

        date = self.day(day)
        key = date.isoformat()
        if key not in counts.sent_issues(self.engine, since=date, until=date):
            raise IssueNotFound(f"{key} has not been sent")
        (found,) = counts.issue_counts(self.engine, [key])
        path = issue_files.path_for(self.project.issues_dir, date)
        issue = issue_files.load(path) if path.exists() else None
        return figures(found, issue, self.publication.default_section_title)

    def trend(self, days: int, today: dt.date | None = None) -> Trend:
        """The issues of the last ``days`` days (today included, in the publication's
        timezone), one figure line each, and the list's growth day by day."""
        from newsletter.insight.trend import trend

        return trend(self.engine, today or self.today(), days, self.publication.zone)

    def report(self, out: str | Path = "report", *, today: dt.date | None = None) -> Path:
        """Write the private HTML report (insight/report.py) to ``out/index.html``."""
        from newsletter.insight import report

        def issue_file(day: str) -> issue_files.Issue | None:
            path = issue_files.path_for(self.project.issues_dir, dt.date.fromisoformat(day))
            try:
                return issue_files.load(path) if path.exists() else None
            except ProblemsFound:
                return None  # a file broken since: its links are listed as they are

        made = report.build(self.engine, self.publication.name, self.publication.zone,
                            today or self.today(), self.health(), issue_file,
                            self.publication.default_section_title)
        return report.write(made, Path(out), self.publication.locale)

    def sender_domain(self, selectors: Sequence[str] | None = None, *,
                      resolver: Resolver | None = None) -> list[Finding]:
        """SPF, DMARC and DKIM (at ``selectors``, by default s1 and s2) of the
        From address's domain, read from DNS (insight/domain.py)."""
        from newsletter.insight import domain

        address = str(self.publication.sender.address)
        return domain.check(address.rpartition("@")[2], selectors or domain.DEFAULT_SELECTORS,
                            resolver=resolver)

    def health(self, now: dt.datetime | None = None, *, leave_out: str | None = None
               ) -> Health:
        """The sender's health: the complaint and hard-bounce rates of the recent sends
        (insight/health.py says which, and the limits)."""
        from newsletter.insight import health

        return health.judge(self.engine, now or dt.datetime.now(dt.UTC), leave_out=leave_out)

    def _guard_health(self, day: str, override: Override | None, *, record: bool = True
                      ) -> None:
        """Stop a send that has not begun while the sender's health says stop; a send
        already begun (a resumed run) goes on: its readers were counted on when it began.
        An override is kept (``record``) only when the send is made, not for a dry run."""
        from newsletter.insight import health
        from newsletter.store import overrides

        if self._ledger(day).exists():
            return
        judged = self.health(leave_out=day)
        if judged.level is not health.Level.STOP:
            return
        if override is None:
            raise SenderUnhealthy(health.explain(judged))
        if record:
            overrides.record(self.engine, day, override.by, override.reason,
                             [c.line() for c in judged.checks])

    def _sendable(self, ref: IssueRef, *, ready: bool = False,
                  allow_warnings: bool = False) -> Email:
        """The issue's email if it may go out: without errors, and for readers (``ready``)
        also without warnings unless allowed, and never with a draft's TODO."""
        rendered = self.render(ref)
        if ready:
            rendered.raise_unless_sendable(allow_warnings=allow_warnings)
        else:
            rendered.raise_errors()
        return rendered.email

    def _rendering_apart(self, ref: IssueRef, *, allow_warnings: bool) -> Email | _Rendering:
        """As ``_sendable(ready=True)``, rendered in a short-lived process of its own, and
        returned at once while it renders. A send with worker processes is one where
        memory counts: the renderer (MJML, premailer, lxml, cssutils) is about 20 MB that
        the sending process never needs again, and this way it never loads it. Meanwhile
        the send plans: an issue file is named after its day (``check`` holds it to that),
        so the ledger knows which send it is before the email is made."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # The day as the issue file's name gives it, by the rule `check` holds names to;
        # a misnamed file (or an impossible date) is rendered first, which says what is
        # wrong.
        named = issue_files.FILE_NAME.fullmatch(self.resolve(ref).name)
        try:
            day = dt.date.fromisoformat(named.group(1)) if named else None
        except ValueError:
            day = None
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        future = pool.submit(_render_sendable, self.project.config, self.env, ref,
                             allow_warnings)
        if day is None:
            with pool:
                return future.result()
        return _Rendering(pool, future, day)

    def proof(self, ref: IssueRef, addresses: Sequence[str], transport: str = "auto",
              outbox: str | Path | None = None) -> Proof:
        """Send the issue, subject marked [Proof], to ``addresses`` only; record nothing.
        A transport that writes files writes a proof into a ``proofs/`` folder of its
        own (``proofs/DATE/`` under its folder), never among the real send's messages."""
        from newsletter.delivery.providers import registry
        from newsletter.delivery.send import proof

        proofs = Path(outbox or self.project.outbox_dir) / PROOFS
        email, chosen = self._sendable(ref), self.transport(transport, proofs)
        subject = self.project.renderer.proof_subject(email.subject)
        sent = proof(email, chosen, addresses, subject)
        kept = registry.provider(chosen.name).keeps_files
        return Proof(email.date, chosen.name, sent,
                     proofs / email.date.isoformat() if kept else None)

    def plan(self, ref: IssueRef, options: SendOptions | None = None, *,
             override_health: Override | None = None) -> Plan:
        """What :meth:`send` with the same arguments would do now (a dry run): nothing is
        sent, scheduled or recorded (an override of the health check neither). It asks
        the send's questions in the send's order and raises what the send would raise
        (NotReady, SenderUnhealthy, a transport that cannot schedule, a live run holding
        the issue, a changed issue), so a dry run is the check before a send."""
        from newsletter.delivery.send import SendOptions, dry_run

        options = options or SendOptions()
        email = self._sendable(ref, ready=True, allow_warnings=options.allow_warnings)
        chosen = self.transport(options.transport, options.outbox)
        self._guard_health(email.date.isoformat(), override_health, record=False)
        return dry_run(self.engine, email, chosen, self._timed(options, email.date))

    def _timed(self, options: SendOptions, day: dt.date) -> SendOptions:
        """``options`` with ``send_at`` set to the issue's send time when
        ``at_send_time`` asks for it."""
        from newsletter.delivery import dates

        if options.at_send_time and options.send_at is None:
            return dataclasses.replace(options, send_at=dates.send_time_on(self.publication, day))
        return options

    def status(self, day: str | dt.date) -> Status:
        """How the send of an issue stands (``Status.planned`` is 0 when its only sends
        were cancelled); IssueNotFound if it was never sent."""
        ledger = self._ledger(day)
        if not ledger.exists() and not ledger.cancelled():
            raise IssueNotFound(f"{ledger.issue} has not been sent")
        return ledger.status()

    def events(self, day: str | dt.date) -> dict[str, int]:
        """What the providers reported for an issue, counted by kind in our words
        (accepted, delivered, deferred, bounced, dropped, complained, unsubscribed,
        opened, clicked: ``store.events.Kind``): each provider's webhook in
        `newsletter serve` records them."""
        from newsletter.store import events

        return events.counts(self.engine, self.day(day).isoformat())

    def event_details(self, day: str | dt.date) -> dict[str, dict[str, int]]:
        """The counts of :meth:`events`, each split by detail ('' where there is none):
        bounced hard or soft, opened by a person or a machine, dropped by suppression."""
        from newsletter.store import events

        return events.breakdown(self.engine, self.day(day).isoformat())

    def cancelled(self, day: str | dt.date) -> list[Cancelled]:
        """The issue's cancelled sends, oldest first (kept as history)."""
        return self._ledger(day).cancelled()

    def errors(self, day: str | dt.date, limit: int = 5) -> list[tuple[int, str]]:
        """The errors recorded for an issue's batches: (batch number, message)."""
        return self._ledger(day).errors(limit)

    def _ledger(self, day: str | dt.date) -> Ledger:
        from newsletter.store.ledger import Ledger

        return Ledger(self.engine, self.day(day).isoformat())

    def upcoming(self, days: int = 14, now: dt.datetime | None = None, *,
                 allow_warnings: bool = False) -> list[Upcoming]:
        """The coming publishing days with their send times and the state of each issue:
        ``ready`` is what :meth:`send` (with the same ``allow_warnings``) would take."""
        from newsletter.delivery import dates

        moment = now or dt.datetime.now(dt.UTC)
        return [self._upcoming(at, allow_warnings)
                for at in dates.upcoming(self.publication, moment, days)]

    def _upcoming(self, at: dt.datetime, allow_warnings: bool) -> Upcoming:
        path = issue_files.path_for(self.project.issues_dir, at.date())
        ledger = self._ledger(at.date())
        if ledger.exists():
            return Upcoming(at, path, "sent" if ledger.status().finished
                            else "sending (unfinished)")
        if ledger.cancelled():
            return Upcoming(at, path, "cancelled")
        if not path.is_file():
            return Upcoming(at, path, MISSING)
        problems = self.readiness(path, allow_warnings=allow_warnings)
        return Upcoming(at, path, _not_ready(problems) if problems else READY,
                        tuple(problems))

    def readiness(self, ref: IssueRef, *, allow_warnings: bool = False) -> list[Problem]:
        """What stands in the way of sending the issue as it is now (empty: nothing):
        the send's own check of the file, so a file is ready exactly when the send would
        take it. (It renders the email: the size and the law's links are read from it.
        About 0.25 s for the first file, loading the renderer, and 10 ms for each other.)
        IssueNotFound when there is no such file."""
        try:
            self._sendable(ref, ready=True, allow_warnings=allow_warnings)
        except ProblemsFound as exc:  # NotReady, or a file that does not even parse
            return list(exc.problems)
        return []

    def cancel(self, day: str | dt.date, now: dt.datetime | None = None) -> dt.datetime:
        """Cancel a send scheduled with the provider before its time; return that time."""
        from newsletter.errors import DeliveryError

        ledger = self._ledger(day)
        batch_id, send_at = ledger.scheduled() if ledger.exists() else (None, None)
        if batch_id is None or send_at is None:
            raise DeliveryError(f"{ledger.issue} has no send scheduled with the provider")
        if send_at <= (now or dt.datetime.now(dt.UTC)):
            raise DeliveryError(f"{ledger.issue} was due at {send_at:%Y-%m-%d %H:%M %Z}; "
                                "too late to cancel")
        from newsletter.delivery.providers import registry

        name = ledger.status().transport
        if not name:
            raise DeliveryError(f"{ledger.issue}: the ledger does not say which provider "
                                "scheduled it")
        transport = self.transport(name)
        scheduler = registry.scheduler(transport)
        if scheduler is None:
            raise transport.unsupported("cancel a scheduled send")
        scheduler.cancel(batch_id)
        ledger.cancel()  # kept as history; the next `send` starts afresh, with a new batch id
        return send_at

    def sync_suppressions(self) -> list[Synced]:
        """Read the suppression lists of every provider set up that keeps them, each
        since its last sync, into the subscriber list (for publications without the
        webhook). A ConfigError when no such provider is set up."""
        from newsletter.delivery import suppressions
        from newsletter.delivery.providers import registry

        sources = registry.suppression_sources(self.publication, self.env,
                                               outbox=self.project.outbox_dir)
        return [synced for name, source in sources.items()
                for synced in suppressions.sync(self.engine, name, source)]

    def sync_stats(self, day: str | dt.date | None = None, days: int = 30,
                   now: dt.datetime | None = None) -> list[IssueSynced]:
        """Read the providers' own statistics of the issue of ``day``, or of the issues
        sent in the last ``days`` days, into the figures that ``stats``, ``report`` and
        ``health`` show (for publications without the webhook). Everything is read before
        anything is kept; a ConfigError when no provider with statistics is set up, a
        DeliveryError when the provider refuses or has nothing for them."""
        from newsletter.delivery import statistics
        from newsletter.delivery.providers import registry

        now = now or dt.datetime.now(dt.UTC)
        date = None if day is None else self.day(day)
        sources = registry.stats_sources(self.publication, self.env,
                                         outbox=self.project.outbox_dir)
        issues = statistics.issues_to_sync(self.engine, date, days, self.today())
        return statistics.sync(self.engine, sources, issues, now.date(), now)

    def prune(self, older_than: dt.timedelta, now: dt.datetime | None = None) -> dict[str, int]:
        """Remove what the ledger keeps of sends begun more than ``older_than`` ago, and
        the provider's events and the readers' opens and clicks (``tracking: individual``)
        as old; also requests to subscribe whose link expired (and
        readers who asked before the queue and never confirmed), and the service's
        request counts of past hours. Return how many rows went, by kind. (The service's
        mailer prunes the requests and counts by itself; this is for a database that no
        service runs on.)"""
        from newsletter.store import activity, consent, events, retention, signups, throttle

        now = now or dt.datetime.now(dt.UTC)
        gone = retention.prune(self.engine, now - older_than)
        gone["events"] = events.prune(self.engine, now - older_than)
        gone["reader activity"] = activity.prune(self.engine, now - older_than)
        expired = now - dt.timedelta(days=self.project.publication.readers.confirm_days + 1)
        gone["unconfirmed"] = consent.drop_unconfirmed(self.engine, expired) + \
            signups.prune(self.engine, expired)
        gone["request counts"] = throttle.prune(self.engine, now.timestamp())
        return gone

    def unsubscribe(self, token: str) -> Subscriber:
        """Unsubscribe the reader an unsubscribe link's token was made for, as the link
        does: an active reader, or one still to confirm; one who had left stays as they
        left (the returned reader's ``status`` says which)."""
        from newsletter.delivery.personalize import DEV_SECRET, signing_key
        from newsletter.errors import ConfigError, SubscriberError

        secret = signing_key(self.env, required=True)
        if secret == DEV_SECRET:  # the development key is in the source: anyone can sign
            raise ConfigError("NEWSLETTER_SECRET is the development key; set a secret of your own")
        from newsletter.store import consent, subscribers

        found = subscribers.find_by_link(self.engine, secret, token)
        if found is None:
            raise SubscriberError("the link's subscriber is no longer on the list")
        # As the link in the email does (status.py), counted under its issue.
        consent.leave(self.engine, found.id, subscribers.link_day(secret, token))
        now = subscribers.find_by_id(self.engine, found.id)
        if now is None:
            raise SubscriberError("the link's subscriber is no longer on the list")
        return now


class _Rendering:
    """An issue's email being rendered in a process of its own (see
    ``Newsletter._rendering_apart``): the send's ``Rendering``. Its process has ended by
    the time :meth:`result` returns."""

    def __init__(self, pool: ProcessPoolExecutor, future: Future[Email], day: dt.date) -> None:
        self.day = day
        self._pool, self._future, self._lock = pool, future, threading.Lock()

    def result(self) -> Email:
        with self._lock:
            try:
                return self._future.result()
            finally:
                self._pool.shutdown(wait=True)

    def close(self) -> None:
        """End the rendering process, whether or not its email was asked for."""
        with self._lock:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _render_sendable(config: Path, env: Environment, ref: IssueRef,
                     allow_warnings: bool) -> Email:
    """In the child process of ``Newsletter._rendering_apart``."""
    return Newsletter(config, env=env)._sendable(ref, ready=True,
                                                 allow_warnings=allow_warnings)


class Subscribers:
    """The subscriber list of a publication (see :mod:`newsletter.store.subscribers`)."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def add(self, address: str, *, name: str | None = None, timezone: str | None = None,
            reactivate: bool = False) -> Subscriber:
        """Subscribe one address; one that left comes back only with ``reactivate``."""
        from newsletter.store import subscribers

        return subscribers.add(self.project.engine, address, name=name, timezone=timezone,
                               reactivate=reactivate)

    def set_status(self, address: str, status: str) -> Subscriber:
        from newsletter.store import subscribers

        return subscribers.set_status(self.project.engine, address, status)

    def remove(self, address: str, status: str = ReaderStatus.UNSUBSCRIBED) -> Subscriber:
        """Stop sending to an address; it is kept, marked, so no import re-adds it."""
        return self.set_status(address, status)

    def forget(self, address: str) -> None:
        """Erase an address and its delivery records."""
        from newsletter.store import subscribers

        subscribers.forget(self.project.engine, address)

    def import_csv(self, path: str | Path, *, reactivate: bool = False) -> ImportReport:
        """Add every good row of a CSV file; every bad one is in the report."""
        from newsletter.store import subscribers

        return subscribers.import_csv(self.project.engine, Path(path), reactivate=reactivate)

    def export_csv(self, out: IO[str], status: str | None = None) -> int:
        from newsletter.store import subscribers

        return subscribers.export_csv(self.project.engine, out, status)

    def list(self, status: str | None = None, limit: int | None = None
             ) -> Iterator[Subscriber]:
        from newsletter.store import subscribers

        return subscribers.listing(self.project.engine, status, limit)

    def count(self) -> dict[str, int]:
        """How many subscribers have each status."""
        from newsletter.store import subscribers

        return subscribers.counts(self.project.engine)


def _expand(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        out += sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
    return out


def _not_ready(problems: Sequence[Problem]) -> str:
    """Why the send would refuse an issue, in a few words: its errors first, then a
    draft's TODO (never sent, warnings allowed or not), then its warnings."""
    from newsletter.email.lint import PLACEHOLDER_CODE  # loaded already: the file was linted

    errors = len(errors_in(problems))
    if errors:
        return f"NOT READY: {errors} error{'' if errors == 1 else 's'}"
    if any(p.code == PLACEHOLDER_CODE for p in problems):
        return "NOT READY: TODO left"
    return f"NOT READY: {len(problems)} warning{'' if len(problems) == 1 else 's'}"

