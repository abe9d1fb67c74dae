"""``newsletter subscribers``: add, remove, import, export, list and count readers."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import click

from newsletter.cli.common import api, plural
from newsletter.files import write_atomic
from newsletter.safetext import for_terminal
from newsletter.store.status import LEFT, Status
from newsletter.store.subscribers import STATUSES


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

    An address erased at its owner's request (remove --forget, or "forget me") is
    refused, even with --reactivate: they come back only by subscribing again on the
    form and confirming.

    \b
    Examples:
      newsletter subscribers add ann@example.org --name Ann --timezone Europe/Paris
    """
    sub = api(ctx).subscribers.add(address, name=name, timezone=timezone,
                       reactivate=reactivate)
    click.echo(f"subscribed {for_terminal(sub.email)}")


@subscribers.command("remove")
@click.argument("address")
@click.option("--status", "new_status", type=click.Choice([str(s) for s in LEFT]),
              default=str(Status.UNSUBSCRIBED), show_default=True,
              help="Why they no longer get it.")
@click.option("--forget", is_flag=True,
              help="Erase the address, its delivery records and its requests to subscribe; "
                   "only a keyed hash of it and the date are kept, so no import brings it "
                   "back.")
@click.pass_context
def subscribers_remove(ctx: click.Context, address: str, new_status: str, forget: bool) -> None:
    """Stop sending to an address (it is kept, marked, so it is never re-added silently).

    A reader who left keeps the reason they left: --status bounced or unsubscribed
    changes nobody who had left already; --status complained overrides the others.

    \b
    Examples:
      newsletter subscribers remove ann@example.org
      newsletter subscribers remove bob@example.org --status bounced
      newsletter subscribers remove eve@example.org --forget
    """
    listing = api(ctx).subscribers
    if forget:
        listing.forget(address)
        click.echo(f"erased {for_terminal(address)}")
        return
    sub = listing.remove(address, new_status)
    click.echo(f"{for_terminal(sub.email)} is now {sub.status}")


@subscribers.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path))
@click.option("--reactivate", is_flag=True,
              help="Make active again rows whose address had left.")
@click.pass_context
def subscribers_import(ctx: click.Context, csv_file: Path, reactivate: bool) -> None:
    """Add the subscribers in a CSV file: ours (email, and optionally name, timezone,
    status, created_at, opted_in_at, confirmed_at, opt_in_ip, tags, consent_source), or
    another tool's export as it is, with the consent evidence it kept:

    \b
      Mailchimp   OPTIN_TIME, CONFIRM_TIME, OPTIN_IP, TAGS, TIMEZONE (times in UTC);
                  UNSUB_TIME: unsubscribed, CLEAN_TIME: bounced
      Substack    created_at; email_disabled: unsubscribed
      Buttondown  creation_date, ip_address, tags, subscriber_type
      listmonk    created_at, status (disabled, blocklisted: unsubscribed)

    The signup date becomes the reader's created_at (else the opt-in time, else the
    confirmation time); the consent on record names the file and the tool.

    Bad rows are reported with their line number and skipped; the rest are added.
    Readers the file lists as unsubscribed, bounced or complained come in (or are
    marked) as such; pending rows come in still to confirm and never take a reader
    out. Addresses already present are left as they are; addresses that left are not
    made active again without --reactivate. An address erased at its owner's request
    is not added, whatever its status: a warning names its line. A timezone we do not
    know, or a date, IP address or tag we cannot read, is a warning: the reader is
    imported without that value.

    \b
    Examples:
      newsletter subscribers import people.csv
    """
    report = api(ctx).subscribers.import_csv(csv_file, reactivate=reactivate)
    for line in [*report.warnings, *report.problems]:
        click.echo(for_terminal(line))
    marked = f"{report.marked:,} marked as left, " if report.marked else ""
    gone = f"{report.erased:,} erased (not brought back), " if report.erased else ""
    click.echo(f"Read {plural(report.rows_read, 'row')}: {report.added:,} added, "
               f"{report.reactivated:,} reactivated, {report.unchanged:,} already subscribed, "
               f"{marked}{gone}{len(report.problems):,} skipped.")
    if report.problems:
        raise click.ClickException(f"{plural(len(report.problems), 'row')} not imported "
                                   "(the others were)")


@subscribers.command("export")
@click.option("--status", "only", type=click.Choice([str(s) for s in STATUSES]), help="Only these.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to a file instead of standard output.")
@click.pass_context
def subscribers_export(ctx: click.Context, only: str | None, out: Path | None) -> None:
    """Write subscribers as CSV: email, name, timezone, status, created_at, and the
    consent on record (opted_in_at, confirmed_at, opt_in_ip, tags, consent_source).
    `subscribers import` reads it back.

    \b
    Examples:
      newsletter subscribers export > subscribers.csv
      newsletter subscribers export --status active --out active.csv
    """
    listing = api(ctx).subscribers
    if out is None:
        listing.export_csv(sys.stdout, only)
        return
    buffer = io.StringIO()
    count = listing.export_csv(buffer, only)
    write_atomic(out, buffer.getvalue().encode("utf-8"))
    click.echo(f"wrote {count:,} subscribers to {out}", err=True)


@subscribers.command("list")
@click.option("--status", "only", type=click.Choice([str(s) for s in STATUSES]), help="Only these.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.pass_context
def subscribers_list(ctx: click.Context, only: str | None, limit: int) -> None:
    """Show subscribers, oldest first.

    \b
    Examples:
      newsletter subscribers list --status unsubscribed
    """
    for sub in api(ctx).subscribers.list(only, limit):
        click.echo(f"{for_terminal(sub.email):40} {sub.status:13} "
                   f"{for_terminal(sub.name or ''):24} {sub.timezone or ''}".rstrip())


@subscribers.command("count")
@click.pass_context
def subscribers_count(ctx: click.Context) -> None:
    """Count subscribers by status.

    \b
    Examples:
      newsletter subscribers count
    """
    counts = api(ctx).subscribers.count()
    for status_name, count in counts.items():
        click.echo(f"{status_name:13} {count:>10,}")
    click.echo(f"{'total':13} {sum(counts.values()):>10,}")


@click.group()
def suppressions() -> None:
    """The providers' suppression lists (bounces, spam reports, unsubscribes, ...).

    \b
    Examples:
      newsletter suppressions sync
    """


@suppressions.command("sync")
@click.pass_context
def suppressions_sync(ctx: click.Context) -> None:
    """Mark readers the providers have suppressed since the last sync (bounced, complained,
    unsubscribed), so they are not mailed again. For publications without the webhook;
    the send workflow runs it before every send.

    \b
    Examples:
      newsletter suppressions sync
    """
    for synced in api(ctx).sync_suppressions():
        click.echo(f"{synced.source:28} {synced.read:>8,} read {synced.marked:>8,} marked")
