"""What readers did: ``stats`` (one issue, or the last days and the list's growth) and
``health`` (the guard on the sender's complaint and bounce rates)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click

from newsletter.cli.common import api, parse_day, plural
from newsletter.insight import domain, summary
from newsletter.insight import health as checks
from newsletter.insight.issues import IssueFigures, plain_url
from newsletter.insight.trend import Trend, sparkline
from newsletter.safetext import for_terminal
from newsletter.store.vocabulary import Detail, Kind

# A DKIM selector is one or more DNS labels (RFC 6376, 3.1).
_SELECTOR = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*")

# Why opens are no reader count, said under every figure of them.
OPENS_NOTE = ("opens are an estimate: a message counts as opened when its images load, "
              "which many readers block and privacy proxies (Apple Mail's) do for every "
              "message; 'machine' marks the opens a provider knows were a proxy's")
CLICKS_NOTE = ("clicks are counted per link, not per reader (no row ties a reader to a "
               "click); 'machine' marks the clicks a provider or the readers' service "
               "took for a link scanner's")
UNIQUE_NOTE = ("clicks are counted per link; unique openers and clickers are the readers "
               "(people, not machines) whose opens and clicks were kept per reader "
               "(tracking: individual); 'machine' marks the clicks a provider or the readers' "
               "service took for a link scanner's")


@click.command()
@click.argument("words", nargs=-1, metavar="[sync] [DATE]")
@click.option("--days", type=click.IntRange(1, 3660), metavar="N",
              help="The issues of the last N days, one line each, and the list's growth "
                   "(with sync: the issues sent in the last N days) [sync's default: 30].")
@click.option("--json", "as_json", is_flag=True, help="The figures as JSON, for scripts.")
@click.option("--markdown", is_flag=True,
              help="With --days: Markdown with a Mermaid chart, for a CI job's summary.")
@click.pass_context
def stats(ctx: click.Context, words: tuple[str, ...], days: int | None, as_json: bool,
          markdown: bool) -> None:
    """Show what readers did with an issue, or with the issues of the last days; or,
    with sync, read the providers' own statistics of the issues into these figures.

    For one issue: sent, delivered, bounced, complained, unsubscribed, opened and
    clicked, each with its rate per message sent, and the clicks on each story.
    With --days: a line per issue, the trend, and the list's growth per day.

    `stats sync [DATE] [--days N]` is for publications whose readers' service
    receives no webhook (run from GitHub Actions alone): it asks each provider set up
    that keeps statistics (docs/figures.md says what each brings) for the issue of
    DATE, or for the issues sent in the last N days (30 by default), and keeps them
    beside the events counted as they come; per issue and kind, the larger of the two
    is shown. Running it again gives the same figures.

    \b
    Examples:
      newsletter stats 2024-07-23
      newsletter stats --days 30
      newsletter stats --days 365 --json
      newsletter stats --days 30 --markdown >> "$GITHUB_STEP_SUMMARY"
      newsletter stats sync --days 30
      newsletter stats sync 2024-07-23
    """
    if words[:1] == ("sync",):
        _sync(ctx, words[1:], days, as_json, markdown)
        return
    if len(words) > 1:
        raise click.UsageError(f"one DATE at most, not {len(words)} words (or: stats sync)")
    date = words[0] if words else None
    newsletter = api(ctx)
    if bool(date) == bool(days):
        raise click.UsageError("give either DATE or --days N")
    if markdown and (date or as_json):
        raise click.UsageError("--markdown goes with --days, without --json")
    if date:
        found = newsletter.stats(parse_day(date, newsletter))
        click.echo(json.dumps(found.as_dict(), indent=2) if as_json else _issue(found))
        return
    assert days is not None
    span = newsletter.trend(days)
    if markdown:
        click.echo(summary.markdown(span))
        return
    click.echo(json.dumps(span.as_dict(), indent=2) if as_json else _trend(span))


def _sync(ctx: click.Context, words: tuple[str, ...], days: int | None, as_json: bool,
          markdown: bool) -> None:
    """``stats sync [DATE] [--days N]``: one line per issue and provider."""
    if len(words) > 1 or (words and days):
        raise click.UsageError("stats sync takes a DATE or --days N, not both")
    if markdown or as_json:
        raise click.UsageError("stats sync prints what it read; --json and --markdown go "
                               "with the figures (stats DATE, stats --days N)")
    newsletter = api(ctx)
    day = parse_day(words[0], newsletter) if words else None
    for found in newsletter.sync_stats(day, days or 30):
        if found.counts is None:
            click.echo(f"{found.issue} {found.provider:9} no statistics yet")
            continue
        figures = ", ".join(f"{kind.value} {found.total(kind):,}" for kind in Kind
                            if kind is not Kind.ACCEPTED)
        click.echo(f"{found.issue} {found.provider:9} {figures}")


def _percent(rate: float | None) -> str:
    if rate is None:
        return "-"
    return f"{rate:.2%}" if rate < 0.1 else f"{rate:.1%}"


def _issue(figures: IssueFigures) -> str:
    began = f", began {figures.counts.started:%Y-%m-%d %H:%M} UTC" \
        if figures.counts.started else ""
    lines = [f"{figures.issue}: sent to {figures.sent:,} readers{began}"]
    for kind in Kind:
        if kind is Kind.ACCEPTED:
            continue
        details = figures.counts.events.get(kind.value, {})
        shown = ", ".join(f"{d} {n:,}" for d, n in sorted(details.items()) if d)
        lines.append(f"  {kind.value:13} {figures.count(kind):>9,} "
                     f"{_percent(figures.rate(kind)):>7}" + (f"  ({shown})" if shown else ""))
    unique = figures.counts.unique
    if unique is not None:
        lines.append(f"  {'unique':13} {unique['opened']:>9,} opened, "
                     f"{unique['clicked']:,} clicked (readers, kept per reader)")
    if figures.stories:
        lines.append("clicks per story (person, machine):")
        top = max((s.people for s in figures.stories), default=0)
        for story in figures.stories:
            bar = "█" * round(story.people / top * 20) if top else ""
            lines.append(f"  {story.people:>7,} {story.machines:>6,}  {bar:20}  "
                         f"{for_terminal(story.headline)[:60]} ({story.place})")
    for link in figures.other_links:
        lines.append(f"  {link.people:>7,} {link.machines:>6,}  {'':20}  "
                     f"{for_terminal(plain_url(link.url))[:80]}")
    if figures.count(Kind.OPENED):
        lines.append(f"note: {OPENS_NOTE}")
    if figures.count(Kind.CLICKED):
        lines.append(f"note: {CLICKS_NOTE if unique is None else UNIQUE_NOTE}")
    if not figures.counts.events:
        lines.append("no provider events for this issue: they come from the provider's "
                     "webhook, received by `newsletter serve`, or from `newsletter stats "
                     "sync`")
    elif figures.counts.synced and figures.counts.synced_at:
        kinds = ", ".join(sorted(figures.counts.synced))
        lines.append(f"from the provider's statistics ({kinds}), synced "
                     f"{figures.counts.synced_at:%Y-%m-%d %H:%M} UTC")
    return "\n".join(lines)


def _trend(span: Trend) -> str:
    lines = [f"{span.since} to {span.until}: {plural(len(span.issues), 'issue')}"]
    if span.issues:
        lines.append(f"  {'issue':10} {'sent':>9} {'delivered':>9} {'bounced':>8} "
                     f"{'complained':>10} {'opened':>8} {'clicked':>8}")
    for figures in span.issues:
        lines.append(f"  {figures.issue:10} {figures.sent:>9,} "
                     f"{_percent(figures.rate(Kind.DELIVERED)):>9} "
                     f"{_percent(figures.rate(Kind.BOUNCED)):>8} "
                     f"{_percent(figures.rate(Kind.COMPLAINED)):>10} "
                     f"{_percent(figures.rate(Kind.OPENED, Detail.PERSON)):>8} "
                     f"{_percent(figures.rate(Kind.CLICKED)):>8}")
    if len(span.issues) > 1 and sys.stdout.isatty():
        lines.append(f"  clicks   {sparkline([f.rate(Kind.CLICKED) for f in span.issues])}")
        lines.append(f"  sent     {sparkline([float(f.sent) for f in span.issues])}")
    total = span.total
    lines.append(f"list growth: net {total.net:+,} (joined {total.joined:,}, asked "
                 f"{total.asked:,}, unsubscribed {total.unsubscribed:,}, bounced "
                 f"{total.bounced:,}, complained {total.complained:,}, erased "
                 f"{total.erased:,})")
    moved = [d for d in span.days if any((d.asked, d.joined, d.unsubscribed, d.bounced,
                                          d.complained, d.erased))]
    if moved:
        lines.append(f"  {'day':10} {'asked':>6} {'joined':>6} {'unsub':>6} {'bounced':>7} "
                     f"{'complnd':>7} {'erased':>6} {'net':>6}")
    for day in moved:
        lines.append(f"  {day.day.isoformat():10} {day.asked:>6,} {day.joined:>6,} "
                     f"{day.unsubscribed:>6,} {day.bounced:>7,} {day.complained:>7,} "
                     f"{day.erased:>6,} {day.net:>+6,}")
    if sys.stdout.isatty() and len(span.days) > 1:
        lines.append(f"  net      {sparkline([float(d.net) for d in span.days])}")
    lines.append("opened counts people's opens only (an estimate); rates are per message "
                 "sent")
    return "\n".join(lines)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="The figures as JSON, for scripts.")
@click.option("--dns", "ask_dns", is_flag=True,
              help="Also read the sender domain's SPF, DKIM and DMARC records from DNS.")
@click.option("--dkim-selector", "selectors", multiple=True, metavar="SELECTOR",
              help="A DKIM selector to look for with --dns (repeatable) [default: s1 and "
                   "s2].")
@click.pass_context
def health(ctx: click.Context, as_json: bool, ask_dns: bool, selectors: tuple[str, ...]
           ) -> None:
    """Show the sender's health: the complaint and hard-bounce rates of the sends of
    the last 30 days, and the limits a send is stopped at; with --dns, the sender
    domain's SPF, DKIM and DMARC records.

    Exit status 0 when a send may go, 4 when the next send would be stopped.

    \b
    Examples:
      newsletter health
      newsletter health --dns --dkim-selector s1 --dkim-selector s2
    """
    if selectors and not ask_dns:
        raise click.UsageError("--dkim-selector goes with --dns")
    for selector in selectors:
        if not _SELECTOR.fullmatch(selector) or len(selector) > 200:
            raise click.BadParameter(f"{for_terminal(selector[:80])!r} is not a DKIM selector "
                                     "(letters, digits, '-' and '_', in dot-separated parts "
                                     "of at most 63)", param_hint="--dkim-selector")
    newsletter = api(ctx)
    judged = newsletter.health()
    if ask_dns:
        _print_domain(newsletter.sender_domain(selectors or None))
    if as_json:
        click.echo(json.dumps({
            "since": judged.since.isoformat(), "issues": judged.issues, "sent": judged.sent,
            "reported": judged.reported, "level": judged.level.name.lower(),
            "checks": [{"name": c.name, "count": c.count, "sent": c.sent, "rate": c.rate,
                        "warn": c.warn, "stop": c.stop, "level": c.level.name.lower()}
                       for c in judged.checks]}, indent=2))
    else:
        issues = plural(len(judged.issues), "issue")
        click.echo(f"sends since {judged.since:%Y-%m-%d}: {issues}, {judged.sent:,} messages, "
                   f"{judged.reported:,} delivery events from the provider")
        for check in judged.checks:
            click.echo(f"  {check.level.name.lower():7} {check.line()}")
        if judged.level is checks.Level.UNKNOWN:
            click.echo("nothing to judge by: no provider event in the window (the "
                       "provider's webhook, received by `newsletter serve`, brings them; "
                       "without it, `newsletter stats sync`)")
        elif judged.level >= checks.Level.WARN:
            for check in judged.checks:
                if check.level >= checks.Level.WARN:
                    click.echo(f"{check.name}: {check.advice}")
    if judged.level is checks.Level.STOP:
        ctx.exit(4)


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default="report",
              show_default=True, help="The folder to write index.html to.")
@click.pass_context
def report(ctx: click.Context, out: Path) -> None:
    """Write a private HTML report of what readers did: rates over the last 90
    issues, the list's growth, the sender's health, and the clicks per story of
    each issue, each chart beside its figures. One file, no JavaScript.

    \b
    Examples:
      newsletter report --out report
    """
    written = api(ctx).report(out)
    click.echo(f"report written to {written}")


def _print_domain(findings: list[domain.Finding]) -> None:
    click.echo("the sender's domain in DNS:")
    for finding in findings:
        click.echo(f"  {finding.found.value:7} {finding.name}: {for_terminal(finding.detail)}")
    if any(f.found is domain.Found.UNKNOWN for f in findings):
        click.echo("  (what could not be asked is unknown, not wrong: try again where DNS "
                   "answers)")
