"""Delivery commands: send, status, schedule, cancel, unsubscribe."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import click
from jinja2 import PackageLoader, Template

from newsletter import words
from newsletter.api import Newsletter, Override
from newsletter.cli import interrupts
from newsletter.cli.common import (
    api,
    lean_premailer,
    parse_day,
    parse_issue,
    plural,
    print_problems,
)
from newsletter.config import SECRET_ENV
from newsletter.delivery import progress
from newsletter.delivery.providers import registry
from newsletter.delivery.send import Plan, SendOptions, SendReport
from newsletter.errors import NotReady, Problem, SenderUnhealthy, SendPaused, errors_in
from newsletter.safetext import for_terminal
from newsletter.store.ledger import DELIVERY_STATES
from newsletter.store.status import Status
from newsletter.store.vocabulary import Kind


@click.command()
@click.argument("issue", metavar="DATE|PATH", required=False)
@click.option("--due", is_flag=True,
              help="Send the issue due now in the publication's timezone, if any.")
@click.option("--ahead", type=click.FloatRange(0, 72), default=0, show_default=True,
              metavar="HOURS", help="With --due: send an issue up to HOURS before its send "
                                    "time, scheduled to arrive at it (a provider with a "
                                    "scheduler: send_at).")
@click.option("--local-time", is_flag=True,
              help="Have the provider (one with a scheduler) deliver at the send time in each "
                   "subscriber's own timezone "
                   "(the publication's for those without one); run it early enough.")
@click.option("--at-send-time", is_flag=True,
              help="Have the provider (one with a scheduler) deliver at the issue's send time "
                   "(send_at, batch_id), "
                   "even though the request goes now; `newsletter cancel` can stop it.")
@click.option("--transport", type=click.Choice(registry.names()), default="auto",
              show_default=True, help=f"auto: {registry.auto_help()}.")
@click.option("--to", "proof_to", multiple=True, metavar="ADDRESS",
              help="Send a proof to this address only (repeatable); not recorded.")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; send nothing.")
@click.option("--concurrency", type=click.IntRange(1, 32), default=SendOptions.concurrency,
              show_default=True,
              help="Requests in flight at once.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True),
              help="At most this many requests a second.")
@click.option("--resend-uncertain", is_flag=True,
              help="Also send to recipients whose request was in flight when a run died.")
@click.option("--max-attempts", type=click.IntRange(1, 20), default=SendOptions.max_attempts,
              show_default=True,
              help="Tries per batch on 429, 5xx and timeouts before giving up on it.")
@click.option("--outbox", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for a provider that writes files [default: outbox/ beside "
                   "newsletter.yaml].")
@click.option("--lease-timeout", type=click.FloatRange(min=1),
              default=SendOptions.lease_timeout, show_default=True,
              metavar="SECONDS",
              help="A run silent this long is presumed gone, and the next run takes over.")
@click.option("--allow-warnings", is_flag=True,
              help="Send although `newsletter check` warns about the issue (never a TODO).")
@click.option("--accept-changes", is_flag=True,
              help="Resume a send although the issue changed since it began (the rest get "
                   "the new version).")
@click.option("--workers", type=click.IntRange(0, 16), default=0, show_default=True,
              help="Processes that build and post requests, for lists of 100,000 and more "
                   "(0: all in this process).")
@click.option("--override-health", "override_health", metavar="REASON",
              help="Send although the recent sends' complaint or hard-bounce rate says "
                   "stop; REASON is kept with who said so (see `newsletter health`).")
@click.pass_context
def send(ctx: click.Context, issue: str | None, due: bool, ahead: float, local_time: bool,
         at_send_time: bool, transport: str,
         proof_to: tuple[str, ...], dry_run: bool, concurrency: int, rate: float | None,
         resend_uncertain: bool, max_attempts: int, outbox: Path | None, lease_timeout: float,
         allow_warnings: bool, accept_changes: bool, workers: int,
         override_health: str | None) -> None:
    """Send an issue to every active subscriber, exactly once.

    DATE is YYYY-MM-DD, 'today', 'tomorrow' or 'next' (the next publishing day
    whose send time is still to come); PATH an issue file.

    Safe to run again: what was sent is never sent twice, a run that died
    resumes where it stopped. Recipients whose request was in flight when a
    run died are reported as uncertain and resent only with --resend-uncertain.

    With --due instead of a date, sends today's issue once its send time has
    passed on a publishing day (what the scheduled workflow runs); exits 1 when
    a publishing day has no issue file, so the editors hear of it.

    \b
    Examples:
      newsletter send 2024-07-23
      newsletter send --due
      newsletter send 2024-07-23 --dry-run
      newsletter send tomorrow --local-time
      newsletter send 2024-07-23 --to me@example.org
      newsletter send 2024-07-23 --transport auto --concurrency 8 --rate 5
    """
    newsletter = api(ctx)
    if due == bool(issue):
        raise click.UsageError("give either DATE|PATH or --due")
    target = parse_issue(issue, newsletter) if issue else \
        _due_issue(newsletter, dt.timedelta(hours=ahead))
    if target is None:
        return
    if not newsletter.env.secret:
        click.echo(f"note: {SECRET_ENV} is not set; unsubscribe links are signed with a "
                   "development key (fine for files, refused for real transports)", err=True)
    try:
        say = Say(newsletter)
        if proof_to:
            sent = newsletter.proof(target, proof_to, transport, outbox)
            click.echo(say("proof", count=sent.addresses, issue=sent.issue,
                           transport=sent.transport))
            if sent.folder is not None:
                click.echo(say("files", folder=sent.folder))
            return
        options = SendOptions(transport=transport, outbox=outbox, concurrency=concurrency,
                              rate=rate, resend_uncertain=resend_uncertain,
                              max_attempts=max_attempts, workers=workers,
                              at_send_time=at_send_time or bool(ahead), local_time=local_time,
                              lease_timeout=lease_timeout, accept_changes=accept_changes,
                              allow_warnings=allow_warnings)
        if dry_run:
            # The send's own questions, answered without sending: the same lines, warnings,
            # errors and exit status as the send would give now.
            plan = newsletter.plan(target, options, override_health=_override(override_health))
            _print_plan(plan, say)
            if not plan.report.complete:
                raise Incomplete(_unfinished(plan.report))
            return
        with interrupts.for_a_send() as interrupt:
            report = newsletter.send(target, options, progress=progress.for_stream(),
                                     override_health=_override(override_health),
                                     interrupt=interrupt)
    except SenderUnhealthy as exc:
        raise Unhealthy(str(exc)) from None
    except NotReady as exc:
        print_problems(exc.problems)
        raise click.ClickException(_not_ready(exc.problems)) from None
    except SendPaused as exc:
        if isinstance(exc.report, SendReport):
            _print_report(exc.report, _outbox(newsletter, outbox), Say(newsletter))
        raise Incomplete(str(exc)) from None
    _print_report(report, _outbox(newsletter, outbox), say)
    if not report.complete:
        raise Incomplete(_unfinished(report))


def _not_ready(problems: Sequence[Problem]) -> str:
    errors = errors_in(problems)
    warnings = len(problems) - len(errors)
    counted = ", ".join(filter(None, [plural(len(errors), "error") if errors else "",
                                      plural(warnings, "warning") if warnings else ""]))
    if any(p.code == "placeholder" for p in problems):
        return f"not sent: {counted}; a TODO left in the issue is never sent"
    if warnings:
        return f"not sent: {counted}; fix them, or send anyway with --allow-warnings"
    return f"not sent: {counted}"


class Unhealthy(click.ClickException):
    """The sender's health stopped the send before it began: exit status 4."""

    exit_code = 4


def _override(reason: str | None) -> Override | None:
    """Who overrides the health check: the CI's actor, else the account running it."""
    if reason is None:
        return None
    if not reason.strip():
        raise click.BadParameter("say why the send goes anyway", param_hint="--override-health")
    who = os.environ.get("GITHUB_ACTOR") or getpass.getuser()
    return Override(who, reason)


class Incomplete(click.ClickException):
    """The send ran, but not every recipient got the issue: exit status 3."""

    exit_code = 3


def _outbox(newsletter: Newsletter, given: Path | None) -> Path:
    return newsletter.project.outbox_dir if given is None else given


def _unfinished(report: SendReport) -> str:
    counts = report.counts
    parts = [f"{report.failed:,} failed in this run" if report.failed else "",
             f"{counts['pending']:,} pending" if counts["pending"] else "",
             f"{counts['uncertain']:,} uncertain" if counts["uncertain"] else ""]
    done = f"{report.issue} is not complete: {', '.join(p for p in parts if p)}"
    if not (counts["pending"] or counts["uncertain"]):
        # Only readers refused for good (a 5xx answer): a second run would change nothing.
        return (f"{done}, refused for good by the provider (see `newsletter status "
                f"{report.issue}`); sending again will not reach them")
    return (f"{done}; see `newsletter status {report.issue}`, fix the cause, and run the "
            "same command again (failed batches and readers a server asked to try later "
            "are retried; uncertain ones only with --resend-uncertain)")


def _due_issue(newsletter: Newsletter, ahead: dt.timedelta) -> Path | None:
    """Today's issue when it is due (or within ``ahead`` of it), else None, saying why."""
    due = newsletter.due(ahead=ahead)
    if not due.publishing_day:
        click.echo(f"{due.day:%A %Y-%m-%d} is not a publishing day; nothing to send")
        return None
    if not due.due:
        click.echo(f"the {due.day} issue is due at {due.at:%H:%M %Z}; nothing to send yet")
        return None
    return due.require_file()


@click.command("schedule")
@click.option("--days", type=click.IntRange(1, 366), default=14, show_default=True)
@click.option("--allow-warnings", is_flag=True,
              help="Call an issue with warnings ready, as `send --allow-warnings` would take "
                   "it (never a TODO).")
@click.pass_context
def schedule(ctx: click.Context, days: int, allow_warnings: bool) -> None:
    """List the coming publishing days, their send times, and the state of each issue.

    An issue is ready when `newsletter send` would take its file as it is now;
    otherwise the state says why not (MISSING, NOT READY: 2 errors, NOT READY: TODO
    left, NOT READY: 3 warnings; `newsletter check FILE` lists them), or how its send
    stands (sent, sending (unfinished), cancelled).

    \b
    Examples:
      newsletter schedule
      newsletter schedule --days 30
    """
    lean_premailer()
    for day in api(ctx).upcoming(days, allow_warnings=allow_warnings):
        click.echo(f"{day.at:%a %Y-%m-%d %H:%M %Z}  {day.state:22} {day.path}")


class Say:
    """The send command's lines in the publication's language (templates/send.txt.j2)."""

    def __init__(self, newsletter: Newsletter) -> None:
        self.locale = newsletter.publication.locale
        self.zone = newsletter.publication.zone
        self.template = _send_words(self.locale)

    def __call__(self, line: str, **values: object) -> str:
        return self.template.render(line=line, **values).strip()

    def number(self, number: float, pattern: str | None = None) -> str:
        """``number`` as the publication's language writes it (1,000 or 1.000)."""
        from babel.numbers import format_decimal

        return str(format_decimal(number, pattern, locale=self.locale.replace("-", "_")))


@cache
def _send_words(locale: str) -> Template:
    return words.templates(PackageLoader("newsletter.cli", "templates"),
                           locale).get_template("send.txt.j2")


# A dry run's ledger figures are those the send would leave, not the ledger's now (a send
# not begun has no ledger yet): said so, so nobody reads "6 sent" as done. Its line is the
# send's with this head instead of "ledger: ", so the two still compare.
WOULD_LEAVE = "the send would leave the ledger at: "


def _print_plan(plan: Plan, say: Say) -> None:
    """A dry run's answer: the send's, marked so (its warnings, and the ledger line as the
    send would leave it, said so)."""
    report, n = plan.report, say.number
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if report.already_done:
        click.echo(say("dry_run_done", issue=report.issue, sent=n(report.counts["sent"])))
    else:
        click.echo(say("dry_run_resuming" if plan.started else "dry_run_new",
                       count=report.requests, issue=report.issue, transport=report.transport,
                       left=n(report.sent), planned=n(report.planned)))
    if plan.timing is not None:
        at, per_reader = plan.timing
        click.echo(say("dry_run_local" if per_reader else "dry_run_at",
                       at=f"{at.astimezone(say.zone):%Y-%m-%d %H:%M %Z}"))
    # Already sent: the send would change nothing, so the figures are the ledger's now.
    _print_after(report, say, "ledger: " if report.already_done else WOULD_LEAVE)


def _print_report(report: SendReport, outbox: Path, say: Say) -> None:
    n = say.number
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if report.already_done:
        click.echo(say("already_sent", issue=report.issue, sent=n(report.counts["sent"])))
    else:
        click.echo(say("sent", count=report.requests, issue=report.issue,
                       transport=report.transport, sent=n(report.sent),
                       seconds=n(report.seconds, "0.0")))
    _print_after(report, say)
    if registry.provider(report.transport).keeps_files and report.sent:
        click.echo(say("files", folder=outbox / report.issue))


def _print_after(report: SendReport, say: Say, ledger: str = "ledger: ") -> None:
    """What the send says after its first line (a dry run too): the ledger, after a head
    that says whose figures they are, then warnings, notes and errors."""
    counts = report.counts
    click.echo(ledger + ", ".join(f"{counts[k]:,} {k}" for k in DELIVERY_STATES))
    if report.recovered_uncertain:
        click.echo(f"warning: {report.recovered_uncertain:,} recipients were in flight when an "
                   "earlier run died", err=True)
    if counts["uncertain"]:
        click.echo(f"warning: {counts['uncertain']:,} recipients are uncertain (their request "
                   f"may or may not have gone out); resend to them with: newsletter send "
                   f"{report.issue} --resend-uncertain", err=True)
    if report.taken_over_from:
        click.echo(f"note: took over from {report.taken_over_from}, which had stopped "
                   "renewing its lease; resuming where it stopped", err=True)
    for error in report.errors[:5]:
        click.echo(f"error: {error}", err=True)
    if len(report.errors) > 5:
        click.echo(f"error: ... and {len(report.errors) - 5:,} more (see `newsletter status "
                   f"{report.issue}`)", err=True)
    if report.deferred:
        click.echo(f"note: {report.deferred:,} recipients were held back by the server for "
                   "later (a 4xx answer, such as greylisting); the next run sends to them",
                   err=True)
    if report.timeouts_retried:
        click.echo(say("timeouts", count=report.timeouts_retried), err=True)


@click.command()
@click.argument("date", metavar="DATE")
@click.pass_context
def status(ctx: click.Context, date: str) -> None:
    """Show how the send of an issue stands.

    \b
    DATE is YYYY-MM-DD, 'today', 'tomorrow' or 'next'.

    \b
    Examples:
      newsletter status 2024-07-23
      newsletter status today
    """
    newsletter = api(ctx)
    date = parse_day(date, newsletter).isoformat()
    state = newsletter.status(date)
    for old in newsletter.cancelled(date):
        when = f"{old.at:%Y-%m-%d %H:%M %Z}" if old.at else "?"
        click.echo(f"{date}: a send to {old.planned:,} recipients was cancelled at {when} "
                   f"(kept as {old.key})")
    if not state.transport:
        click.echo(f"{date} has not been sent since; `newsletter send {date}` sends it afresh")
        return
    done = "finished" if state.finished else "not finished"
    click.echo(f"{date} via {state.transport}: {state.planned:,} recipients, {done}")
    for name in DELIVERY_STATES:
        click.echo(f"  {name:10} {state.counts[name]:>10,}")
    click.echo(f"  {'left':10} {state.left:>10,}")
    reported = newsletter.event_details(date)
    if reported:
        click.echo("reported by the provider:")
        for kind in Kind:
            if reported.get(kind):
                click.echo(_event_line(kind, reported[kind]))
    for number, error in newsletter.errors(date):
        click.echo(f"  batch {number}: {error}")


def _event_line(kind: str, details: dict[str, int]) -> str:
    """``  bounced  3 (hard 2, soft 1)``: a kind's count, and by detail when it has one."""
    shown = ", ".join(f"{detail} {n:,}" for detail, n in sorted(details.items()) if detail)
    line = f"  {kind:12} {sum(details.values()):>10,}"
    return f"{line} ({shown})" if shown else line


@click.command()
@click.option("--older-than", "age", required=True, metavar="AGE",
              help="Like 180d or 26w: sends begun longer ago than this are removed.")
@click.option("--yes", is_flag=True, help="Do it without asking.")
@click.pass_context
def prune(ctx: click.Context, age: str, yes: bool) -> None:
    """Remove old sends from the ledger (and old provider events and readers' opens and
    clicks), and readers who never confirmed.

    A finished send already keeps only the readers it did not reach; this removes the
    rest of what is kept of sends begun before the given age. Whoever asked to subscribe
    and let the confirmation link expire is erased, and the readers' service's request
    counts of past hours go.

    \b
    Examples:
      newsletter prune --older-than 180d
    """
    span = _age(age)
    if not yes:
        click.confirm(f"Remove every send begun more than {span.days} days ago?", abort=True)
    gone = api(ctx).prune(span)
    click.echo(", ".join(f"{count:,} {table}" for table, count in gone.items()) + " removed")


def _age(text: str) -> dt.timedelta:
    match = re.fullmatch(r"(\d{1,5})\s*([dw]?)", text.strip().lower())
    if not match:
        raise click.BadParameter(f"{text!r} is not an age like 180d or 26w",
                                 param_hint="--older-than")
    days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
    return dt.timedelta(days=days)


@click.command()
@click.argument("token")
@click.pass_context
def unsubscribe(ctx: click.Context, token: str) -> None:
    """Unsubscribe the reader an unsubscribe link's token was made for.

    For the endpoint behind the unsubscribe links (the t= parameter), or by hand.
    Needs the NEWSLETTER_SECRET the links were signed with. As the link does: an
    active reader (or one still to confirm) leaves; one who bounced or complained
    stays so.

    \b
    Examples:
      newsletter unsubscribe 'YW5uQGV4YW1wbGUub3Jn.k1B2...'
    """
    sub = api(ctx).unsubscribe(token)
    if sub.status == Status.UNSUBSCRIBED:
        click.echo(f"{for_terminal(sub.email)} is now unsubscribed")
    else:
        click.echo(f"{for_terminal(sub.email)} is {sub.status}; left so (it gets no "
                   "email either way)")


@click.command()
@click.argument("date", metavar="DATE")
@click.pass_context
def cancel(ctx: click.Context, date: str) -> None:
    """Cancel a send scheduled with the provider (--at-send-time or --ahead) before it goes.

    DATE is YYYY-MM-DD, 'today', 'tomorrow' or 'next'.

    \b
    Examples:
      newsletter cancel 2024-07-23
    """
    newsletter = api(ctx)
    date = parse_day(date, newsletter).isoformat()
    send_at = newsletter.cancel(date)
    click.echo(f"cancelled the send of {date} scheduled for {send_at:%Y-%m-%d %H:%M %Z}")
