"""Commands for what readers and editors look at on the web: archive, preview."""

from __future__ import annotations

from pathlib import Path

import click

from newsletter.api import Newsletter
from newsletter.cli.common import api, parse_day, parse_issue, plural, print_problems
from newsletter.errors import IssueNotFound


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("site"), show_default=True, help="Folder to write the site to.")
@click.option("--all", "include_future", is_flag=True,
              help="Include issues dated after today (for a preview of the archive).")
@click.option("--through", metavar="DATE",
              help="Publish issues dated up to DATE (YYYY-MM-DD, today, tomorrow) instead of "
                   "today: the web version is then up before an issue goes out early.")
@click.pass_context
def archive(ctx: click.Context, out_dir: Path, include_future: bool,
            through: str | None) -> None:
    """Write the web archive: a page per published issue, an index and an Atom feed.

    Published means dated today or earlier in the publication's timezone. Links
    between pages are relative, so the folder can be served from any path
    (GitHub Pages included; see .github/workflows/pages.yml).

    An issue the send would refuse is left out: a file with errors (listed; exit
    status 1, the rest is written) or a draft with a TODO left in it (one line
    each; exit status 0, as a draft is no fault). Warnings do not keep an issue out.

    \b
    Examples:
      newsletter archive
      newsletter archive --out public --all
      newsletter archive --through tomorrow
    """
    newsletter = api(ctx)
    last = parse_day(through, newsletter, "--through") if through else None
    archived = newsletter.archive(out_dir, today=last, include_future=include_future)
    print_problems(archived.left_out)
    for draft in archived.drafts:  # unfinished, not broken: said, and no failure
        click.echo(f"left out {draft.path}: a draft, {plural(draft.todos, 'TODO')} left "
                   "(published once there are none, as it is sent)")
    pages = len(archived.files) - 2
    click.echo(f"wrote {plural(pages, 'issue page')}, index.html and feed.xml to {out_dir}/")
    if archived.left_out:
        files = {problem.file for problem in archived.left_out}
        raise click.ClickException(f"left out {plural(len(files), 'issue file')} with errors "
                                   "(above); the rest is written")


@click.command()
@click.argument("issue", metavar="[DATE|PATH]", required=False)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to serve on (loopback: only this machine can see it).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Also answer requests for this host name (repeatable); by default only "
                   "localhost, 127.0.0.1 and ::1.")
@click.option("--screenshot", "shots", type=click.Path(file_okay=False, path_type=Path),
              help="Write PNGs of the email at 375 and 600 px to this folder, then exit.")
@click.pass_context
def preview(ctx: click.Context, issue: str | None, host: str, port: int,
            allow_hosts: tuple[str, ...], shots: Path | None) -> None:
    """Preview an issue in the browser; the page reloads whenever you save.

    Shows the inbox line, the lint findings, the email at 375 px and 600 px, in
    dark mode, and the text edition. Without DATE, the newest issue file; any
    other issue is at /YYYY-MM-DD/. The page's words are in the publication's
    language.

    \b
    Examples:
      newsletter preview
      newsletter preview 2024-07-24 --port 8080
      newsletter preview 2024-07-24 --screenshot shots/
    """
    from newsletter.site import preview as live  # only this command serves or drives a browser

    newsletter = api(ctx)
    path = newsletter.resolve(parse_issue(issue, newsletter)) if issue else _newest(newsletter)
    source = live.Source(newsletter.project.config, path, newsletter.env)
    if shots:
        for written in live.screenshots(source, shots, newsletter.env.chromium):
            click.echo(f"wrote {written}")
        return
    if not live.is_loopback(host):
        click.echo(f"warning: serving on {host}: anyone who can reach this machine can read "
                   "the issue before it is sent", err=True)
    try:
        server = live.PreviewServer(source, host, port, allow_hosts).start()
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc.strerror}") from None
    click.echo(f"previewing {path} at {server.url} (Ctrl-C to stop)")
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()


def _newest(newsletter: Newsletter) -> Path:
    files = newsletter.issue_files()
    if not files:
        raise IssueNotFound(f"no issue files in {newsletter.project.issues_dir}")
    return files[-1]
