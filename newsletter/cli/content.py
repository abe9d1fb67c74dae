"""Commands for editors' files: check, build, new, add."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from newsletter.cli.common import (
    api,
    lean_premailer,
    parse_day,
    parse_issue,
    plural,
    print_problems,
)
from newsletter.errors import NotReady, errors_in

if TYPE_CHECKING:
    from newsletter.desk.add import AddResult


@click.command()
@click.argument("issues", nargs=-1, metavar="[DATE|PATH]...")
@click.option("--strict", is_flag=True, help="Fail on warnings too (what CI runs).")
@click.option("--check-links", is_flag=True,
              help="Also fetch every link (concurrently) and report those that fail.")
@click.option("--link-timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Seconds each link may take, redirects and all.")
@click.option("--allow-private", is_flag=True,
              help="Also fetch links to loopback, private and link-local addresses.")
@click.pass_context
def check(ctx: click.Context, issues: Sequence[str], strict: bool, check_links: bool,
          link_timeout: float, allow_private: bool) -> None:
    """Validate and lint issue files (default: every file in issues/, and welcome.yaml).

    Each DATE (YYYY-MM-DD, today, tomorrow, next) stands for its file in issues/;
    a PATH may be a file or a folder of them.

    Prints each finding as FILE:LINE:COL: field: message, then a count.
    Exits 1 on any error, or on any warning with --strict.

    \b
    Examples:
      newsletter check
      newsletter check --strict issues/2024-07-23.yaml
      newsletter check --check-links issues/2024-07-23.yaml
      newsletter check --strict tomorrow
    """
    lean_premailer()
    newsletter = api(ctx)
    paths = [parse_issue(text, newsletter) for text in issues]
    result = newsletter.check(paths, link_timeout=link_timeout if check_links else None,
                              allow_private=allow_private)
    print_problems(result.findings)
    errors, warnings = result.errors, result.warnings
    click.echo(f"Checked {plural(len(result.files), 'file')}: {plural(len(errors), 'error')}, "
               f"{plural(len(warnings), 'warning')}.")
    if errors:
        raise click.ClickException(f"{plural(len(errors), 'error')} found")
    if strict and warnings:
        raise click.ClickException(f"aborted with {plural(len(warnings), 'warning')} "
                                   "in strict mode")


@click.command()
@click.argument("issue", metavar="DATE|PATH")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write to [default: build/DATE].")
@click.option("--summary", type=click.Path(dir_okay=False, path_type=Path),
              help="Append a Markdown summary to this file (e.g. $GITHUB_STEP_SUMMARY).")
@click.pass_context
def build(ctx: click.Context, issue: str, out_dir: Path | None, summary: Path | None) -> None:
    """Render one issue to email.html, email.txt and email.eml.

    The .eml is a complete message (multipart/alternative, text first) with a
    placeholder recipient; the unsubscribe link stays a token that delivery fills.

    \b
    Examples:
      newsletter build 2024-07-23
      newsletter build tomorrow
      newsletter build issues/2024-07-23.yaml --out /tmp/preview
    """
    newsletter = api(ctx)
    ref = parse_issue(issue, newsletter)
    try:
        lean_premailer()
        built = newsletter.build(ref, out_dir)
    except NotReady as exc:
        print_problems(exc.problems)
        raise click.ClickException(f"not built: {plural(len(errors_in(exc.problems)), 'error')}"
                                   ) from None
    print_problems(built.rendered.findings)
    for path in built.files:
        click.echo(f"wrote {path} ({path.stat().st_size:,} bytes)")
    if summary:
        from newsletter.site.report import markdown_summary

        with summary.open("a", encoding="utf-8") as handle:
            handle.write(markdown_summary(built.rendered))


@click.command()
@click.argument("date", metavar="DATE")
@click.pass_context
def new(ctx: click.Context, date: str) -> None:
    """Start a new issue file from a template that already validates.

    DATE is YYYY-MM-DD, 'today' or 'tomorrow' (in the publication's timezone), or
    'next' (the next publishing day whose send time is still to come).
    An existing file is never overwritten.

    \b
    Examples:
      newsletter new tomorrow
      newsletter new 2024-07-24
    """
    newsletter = api(ctx)
    path = newsletter.new_issue(parse_day(date, newsletter))
    click.echo(f"created {path}: fill in the TODOs, then run: newsletter check {path}")


@click.command()
@click.argument("urls", nargs=-1, metavar="URL...")
@click.option("--date", "date", default="tomorrow", show_default=True, metavar="DATE",
              help="The issue: YYYY-MM-DD, 'today', 'tomorrow' or 'next' (the next "
                   "publishing day whose send time is still to come).")
@click.option("--lead", is_flag=True, help="Make the story the lead (with its image).")
@click.option("--section", metavar="TITLE",
              help="Put teasers in this section (made if missing) [default: the first].")
@click.option("--dry-run", is_flag=True, help="Print the stories; write nothing.")
@click.pass_context
def add(ctx: click.Context, urls: Sequence[str], date: str, lead: bool, section: str | None,
        dry_run: bool) -> None:
    """Draft stories from their links into an issue file.

    Each page is fetched (public addresses only, one deadline, a size cap) and its
    headline, source, canonical URL (trackers' parameters removed), summary and, for a
    lead, image are written into the issue, its comments and formatting kept. With no
    URL, or '-', links are read from standard input, one a line. A link already in one
    of the last 30 issues is a warning. Exits 1 if any link could not be read.

    \b
    Examples:
      newsletter add https://example.org/story
      newsletter add --lead --date 2024-07-24 https://example.org/big-one
      pbpaste | newsletter add --section "The Wrap"
    """
    newsletter = api(ctx)
    links = _links(urls)
    if not links:
        raise click.UsageError("no URL given (as arguments or on standard input)")
    if lead and len(links) > 1:
        raise click.UsageError("--lead takes one URL: an issue has one lead")
    result = newsletter.add(links, day=parse_day(date, newsletter, "--date"), lead=lead,
                            section=section, dry_run=dry_run)
    _report_added(result, dry_run)


def _links(urls: Sequence[str]) -> list[str]:
    if urls and list(urls) != ["-"]:
        return [u.strip() for u in urls if u.strip()]
    return [line.strip() for line in sys.stdin if line.strip() and not line.startswith("#")]


def _report_added(result: AddResult, dry_run: bool) -> None:
    from newsletter.desk.edit import dump_item

    for added in result.added:
        if dry_run:
            click.echo(f"# {added.url} -> {result.path} ({added.where})")
            click.echo(dump_item(added.story))
        else:
            click.echo(f"added to {result.path} ({added.where}): {added.story['headline']}")
        for warning in added.warnings:
            click.echo(f"warning: {warning}", err=True)
    for failure in result.failed:
        click.echo(f"not added: {failure}", err=True)
    if result.written and result.created:
        click.echo(f"created {result.path} from the scaffold: fill in its TODOs")
    if result.failed:
        raise click.ClickException(f"{plural(len(result.failed), 'link')} not added")
