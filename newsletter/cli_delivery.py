"""The delivery commands: subscribers, send, status, schedule, unsubscribe.

Kept apart from cli.py and loaded only when one of them runs, so that `check`, `build`
and `new` do not pay for importing the database and transport libraries.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import sys
from functools import partial
from pathlib import Path

import click

from newsletter import audience, progress, schedule
from newsletter.cli import _parse_day, _plural, _print_problems, _project
from newsletter.issue import path_for as issue_path_for
from newsletter.ledger import DELIVERY_STATES, Ledger
from newsletter.output import write_atomic
from newsletter.personalize import SECRET_ENV, secret_from_env, verify
from newsletter.project import Project
from newsletter.send import TRANSPORTS, Options, Plan, Report, Sender, choose_transport, proof
from newsletter.send import dry_run as dry_run_plan
from newsletter.transports import OutboxTransport, Transport


@click.group()
def subscribers() -> None:
    """Manage who receives the newsletter.

    The database is DATABASE_URL (PostgreSQL or SQLite), or newsletter.sqlite3
    beside newsletter.yaml when it is not set.

    \b
    Examples:
      newsletter subscribers add ann@example.org --name Ann
      newsletter subscribers import people.csv
      newsletter subscribers count
    """


@subscribers.command("add")
@click.argument("address")
@click.option("--name", help="How to greet them.")
@click.option("--timezone", help="Their IANA timezone, e.g. America/New_York.")
@click.option("--reactivate", is_flag=True, help="Subscribe again someone who had left.")
@click.pass_context
def subscribers_add(ctx: click.Context, address: str, name: str | None, timezone: str | None,
                    reactivate: bool) -> None:
    """Subscribe one address.

    \b
    Examples:
      newsletter subscribers add ann@example.org --name Ann --timezone Europe/Paris
    """
    sub = audience.add(_project(ctx).engine, address, name=name, timezone=timezone,
                       reactivate=reactivate)
    click.echo(f"subscribed {sub.email}")


@subscribers.command("remove")
@click.argument("address")
@click.option("--status", "new_status", type=click.Choice(audience.STATUSES[1:]),
              default="unsubscribed", show_default=True, help="Why they no longer get it.")
@click.option("--forget", is_flag=True, help="Erase the address and its delivery records.")
@click.pass_context
def subscribers_remove(ctx: click.Context, address: str, new_status: str, forget: bool) -> None:
    """Stop sending to an address (it is kept, marked, so it is never re-added silently).

    \b
    Examples:
      newsletter subscribers remove ann@example.org
      newsletter subscribers remove bob@example.org --status bounced
      newsletter subscribers remove eve@example.org --forget
    """
    engine = _project(ctx).engine
    if forget:
        audience.forget(engine, address)
        click.echo(f"erased {address}")
        return
    sub = audience.set_status(engine, address, new_status)
    click.echo(f"{sub.email} is now {new_status}")


@subscribers.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path))
@click.option("--reactivate", is_flag=True,
              help="Make active again rows whose address had left.")
@click.pass_context
def subscribers_import(ctx: click.Context, csv_file: Path, reactivate: bool) -> None:
    """Add the subscribers in a CSV file (header: email, and optionally name, timezone).

    Bad rows are reported with their line number and skipped; good rows are
    added; addresses already present are left as they are; addresses that left
    are not made active again without --reactivate.

    \b
    Examples:
      newsletter subscribers import people.csv
    """
    report = audience.import_csv(_project(ctx).engine, csv_file, reactivate=reactivate)
    for problem in report.problems:
        click.echo(problem)
    click.echo(f"Read {_plural(report.rows_read, 'row')}: {report.added:,} added, "
               f"{report.reactivated:,} reactivated, {report.unchanged:,} already subscribed, "
               f"{len(report.problems):,} skipped.")
    if report.problems:
        raise click.ClickException(f"{_plural(len(report.problems), 'row')} not imported "
                                   "(the others were)")


@subscribers.command("export")
@click.option("--status", "only", type=click.Choice(audience.STATUSES), help="Only these.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to a file instead of standard output.")
@click.pass_context
def subscribers_export(ctx: click.Context, only: str | None, out: Path | None) -> None:
    """Write subscribers as CSV (email, name, timezone, status, created_at).

    \b
    Examples:
      newsletter subscribers export > subscribers.csv
      newsletter subscribers export --status active --out active.csv
    """
    engine = _project(ctx).engine
    if out is None:
        audience.export_csv(engine, sys.stdout, only)
        return
    buffer = io.StringIO()
    count = audience.export_csv(engine, buffer, only)
    write_atomic(out, buffer.getvalue().encode("utf-8"))
    click.echo(f"wrote {count:,} subscribers to {out}", err=True)


@subscribers.command("list")
@click.option("--status", "only", type=click.Choice(audience.STATUSES), help="Only these.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.pass_context
def subscribers_list(ctx: click.Context, only: str | None, limit: int) -> None:
    """Show subscribers, oldest first.

    \b
    Examples:
      newsletter subscribers list --status unsubscribed
    """
    for sub in audience.listing(_project(ctx).engine, only, limit):
        click.echo(f"{sub.email:40} {sub.status:13} {sub.name or '':24} {sub.timezone or ''}"
                   .rstrip())


@subscribers.command("count")
@click.pass_context
def subscribers_count(ctx: click.Context) -> None:
    """Count subscribers by status.

    \b
    Examples:
      newsletter subscribers count
    """
    counts = audience.counts(_project(ctx).engine)
    for status_name, count in counts.items():
        click.echo(f"{status_name:13} {count:>10,}")
    click.echo(f"{'total':13} {sum(counts.values()):>10,}")


@click.command()
@click.argument("issue", metavar="DATE|PATH", required=False)
@click.option("--due", is_flag=True,
              help="Send the issue due now in the publication's timezone, if any.")
@click.option("--ahead", type=click.FloatRange(0, 72), default=0, show_default=True,
              metavar="HOURS", help="With --due: send an issue up to HOURS before its send "
                                    "time, scheduled to arrive at it (SendGrid send_at).")
@click.option("--local-time", is_flag=True,
              help="Have SendGrid deliver at the send time in each subscriber's own timezone "
                   "(the publication's for those without one); run it early enough.")
@click.option("--at-send-time", is_flag=True,
              help="Have SendGrid deliver at the issue's send time (send_at, batch_id), "
                   "even though the request goes now; `newsletter cancel` can stop it.")
@click.option("--transport", type=click.Choice(TRANSPORTS), default="auto", show_default=True,
              help="auto: SendGrid if SENDGRID_API_KEY is set, SMTP if SMTP_HOST is, "
                   "else the outbox folder.")
@click.option("--to", "proof_to", multiple=True, metavar="ADDRESS",
              help="Send a proof to this address only (repeatable); not recorded.")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; send nothing.")
@click.option("--concurrency", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Requests in flight at once.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True),
              help="At most this many requests a second.")
@click.option("--resend-uncertain", is_flag=True,
              help="Also send to recipients whose request was in flight when a run died.")
@click.option("--max-attempts", type=click.IntRange(1, 20), default=5, show_default=True,
              help="Tries per batch on 429, 5xx and timeouts before giving up on it.")
@click.option("--outbox", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the outbox transport [default: outbox/ beside newsletter.yaml].")
@click.option("--workers", type=click.IntRange(0, 16), default=0, show_default=True,
              help="Processes that build and post requests, for lists of 100,000 and more "
                   "(0: all in this process).")
@click.pass_context
def send(ctx: click.Context, issue: str | None, due: bool, ahead: float, local_time: bool,
         at_send_time: bool, transport: str,
         proof_to: tuple[str, ...], dry_run: bool, concurrency: int, rate: float | None,
         resend_uncertain: bool, max_attempts: int, outbox: Path | None, workers: int) -> None:
    """Send an issue to every active subscriber, exactly once.

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
      newsletter send 2024-07-23 --transport sendgrid --concurrency 8 --rate 5
    """
    project = _project(ctx)
    if due == bool(issue):
        raise click.UsageError("give either DATE|PATH or --due")
    if issue in ("today", "tomorrow"):
        issue = _parse_day(issue, project).isoformat()
    target = issue or _due_issue(project, dt.timedelta(hours=ahead))
    if target is None:
        return
    rendered = project.render(project.resolve(target))
    if rendered.errors:
        _print_problems(rendered.errors)
        raise click.ClickException(f"not sent: {_plural(len(rendered.errors), 'error')}")
    email = rendered.email
    chosen = choose_transport(transport, project.publication, project.root, outbox)
    if not os.environ.get(SECRET_ENV):
        click.echo(f"note: {SECRET_ENV} is not set; unsubscribe links are signed with a "
                   "development key (fine for the outbox, refused for real transports)", err=True)
    if proof_to:
        count = proof(email, chosen, proof_to)
        click.echo(f"proof of {email.date} sent to {_plural(count, 'address')} via {chosen.name}")
        return
    if dry_run:
        _print_plan(dry_run_plan(project.engine, email, chosen))
        return
    send_at = schedule.send_time_on(project.publication, email.date) \
        if at_send_time or ahead else None
    options = Options(concurrency=concurrency, rate=rate, resend_uncertain=resend_uncertain,
                      max_attempts=max_attempts, workers=workers, send_at=send_at,
                      local_time=local_time)
    factory = partial(choose_transport, transport, project.publication, project.root, outbox)
    report = Sender(project.engine, email, chosen, options, progress.for_stream(),
                    factory=factory).run()
    _print_report(report, chosen)


def _due_issue(project: Project, ahead: dt.timedelta) -> str | None:
    """Today's issue when it is due (or within ``ahead`` of it), else None, saying why."""
    pub = project.publication
    day, is_due, at = schedule.due(pub, dt.datetime.now(dt.UTC) + ahead)
    if not schedule.is_publishing_day(pub, day):
        click.echo(f"{day:%A %Y-%m-%d} is not a publishing day; nothing to send")
        return None
    if not is_due:
        click.echo(f"the {day} issue is due at {at:%H:%M %Z}; nothing to send yet")
        return None
    path = issue_path_for(project.issues_dir, day)
    if not path.is_file():
        raise click.ClickException(f"{day} is a publishing day but {path} does not exist")
    return str(path)


@click.command("schedule")
@click.option("--days", type=click.IntRange(1, 366), default=14, show_default=True)
@click.pass_context
def schedule_command(ctx: click.Context, days: int) -> None:
    """List the coming publishing days, their send times, and which have issue files.

    \b
    Examples:
      newsletter schedule
      newsletter schedule --days 30
    """
    project = _project(ctx)
    for at in schedule.upcoming(project.publication, dt.datetime.now(dt.UTC), days):
        path = issue_path_for(project.issues_dir, at.date())
        state = "ready" if path.is_file() else "MISSING"
        ledger = Ledger(project.engine, at.date().isoformat())
        if ledger.exists():
            state = "sent" if ledger.status().finished else "sending (unfinished)"
        click.echo(f"{at:%a %Y-%m-%d %H:%M %Z}  {state:22} {path}")


def _print_plan(plan: Plan) -> None:
    state = "resuming" if plan.started else "new send"
    click.echo(f"dry run ({state}) of {plan.issue} via {plan.transport}: {plan.left:,} of "
               f"{plan.recipients:,} recipients left, in {_plural(plan.batches, 'batch')}; "
               "nothing was sent")


def _print_report(report: Report, transport: Transport) -> None:
    counts = report.counts
    if report.already_done:
        click.echo(f"{report.issue} was already sent ({counts['sent']:,} delivered); "
                   "nothing to do")
    else:
        click.echo(f"sent {report.issue} via {report.transport} to {report.sent:,} recipients "
                   f"in {report.seconds:.1f} s ({_plural(report.requests, 'request')})")
    click.echo("ledger: " + ", ".join(f"{counts[k]:,} {k}" for k in DELIVERY_STATES))
    if report.recovered_uncertain:
        click.echo(f"warning: {report.recovered_uncertain:,} recipients were in flight when an "
                   "earlier run died", err=True)
    if counts["uncertain"]:
        click.echo(f"warning: {counts['uncertain']:,} recipients are uncertain (their request "
                   f"may or may not have gone out); resend to them with: newsletter send "
                   f"{report.issue} --resend-uncertain", err=True)
    if report.timeouts_retried:
        click.echo(f"warning: {_plural(report.timeouts_retried, 'batch')} succeeded only after "
                   "a timed-out attempt; see `newsletter status`", err=True)
    if isinstance(transport, OutboxTransport) and report.sent:
        click.echo(f"messages are in {transport.folder / report.issue}/")


@click.command()
@click.argument("date", metavar="DATE")
@click.pass_context
def status(ctx: click.Context, date: str) -> None:
    """Show how the send of an issue stands.

    \b
    Examples:
      newsletter status 2024-07-23
    """
    ledger = Ledger(_project(ctx).engine, date)
    if not ledger.exists():
        raise click.ClickException(f"{date} has not been sent")
    state = ledger.status()
    done = "finished" if state.finished else "not finished"
    click.echo(f"{date} via {state.transport}: {state.planned:,} recipients, {done}")
    for name in DELIVERY_STATES:
        click.echo(f"  {name:10} {state.counts[name]:>10,}")
    click.echo(f"  {'left':10} {state.left:>10,}")
    for number, error in ledger.errors():
        click.echo(f"  batch {number}: {error}")


@click.command()
@click.argument("token")
@click.pass_context
def unsubscribe(ctx: click.Context, token: str) -> None:
    """Unsubscribe the reader an unsubscribe link's token was made for.

    For the endpoint behind the unsubscribe links (the t= parameter), or by hand.
    Needs the NEWSLETTER_SECRET the links were signed with.

    \b
    Examples:
      newsletter unsubscribe 'YW5uQGV4YW1wbGUub3Jn.k1B2...'
    """
    key = verify(secret_from_env(required=False), token)
    sub = audience.set_status(_project(ctx).engine, key, "unsubscribed")
    click.echo(f"{sub.email} is now unsubscribed")


@click.command()
@click.argument("date", metavar="DATE")
@click.pass_context
def cancel(ctx: click.Context, date: str) -> None:
    """Cancel a send scheduled with SendGrid (--at-send-time or --ahead) before it goes.

    \b
    Examples:
      newsletter cancel 2024-07-23
    """
    project = _project(ctx)
    ledger = Ledger(project.engine, date)
    batch_id, send_at = ledger.scheduled() if ledger.exists() else (None, None)
    if batch_id is None or send_at is None:
        raise click.ClickException(f"{date} has no send scheduled with the provider")
    if send_at <= dt.datetime.now(dt.UTC):
        raise click.ClickException(f"{date} was due at {send_at:%Y-%m-%d %H:%M %Z}; "
                                   "too late to cancel")
    choose_transport("sendgrid", project.publication, project.root).cancel(batch_id)
    click.echo(f"cancelled the send of {date} scheduled for {send_at:%Y-%m-%d %H:%M %Z}")
