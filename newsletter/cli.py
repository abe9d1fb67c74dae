"""The ``newsletter`` command: thin commands over the library, one-line errors, exit codes.

Each command loads the project, calls one library function and prints what happened.
Library errors become ``Error: ...`` lines and exit code 1 here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from newsletter import __version__, report, scaffold
from newsletter.errors import NewsletterError, Problem, ProblemsFound, Severity
from newsletter.output import write_build
from newsletter.project import Project

# Commands loaded on first use (see cli_delivery.py): name -> attribute of that module.
_DELIVERY = {"subscribers": "subscribers", "send": "send", "status": "status",
             "schedule": "schedule_command", "unsubscribe": "unsubscribe", "cancel": "cancel"}


class _Group(click.Group):
    """Turns the library's errors into click's one-line ``Error:`` and exit code 1, and
    loads the delivery commands only when one is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_DELIVERY])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _DELIVERY:
            module = importlib.import_module("newsletter.cli_delivery")
            command: click.Command = getattr(module, _DELIVERY[name])
            return command
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ProblemsFound as exc:
            _print_problems(exc.problems)
            raise click.ClickException(_count(exc.problems)) from None
        except NewsletterError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", metavar="FILE", envvar="NEWSLETTER_CONFIG",
              help="Publication settings [default: ./newsletter.yaml; env NEWSLETTER_CONFIG].")
@click.version_option(__version__, prog_name="newsletter")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """Turn YAML issue files into a finished email, and check them.

    \b
    Examples:
      newsletter new 2024-07-24        start tomorrow's issue
      newsletter check --strict        validate every file in issues/
      newsletter build 2024-07-23      write email.html, .txt and .eml
    """
    ctx.obj = config


def _project(ctx: click.Context) -> Project:
    return Project.locate(ctx.find_root().obj)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Fail on warnings too (what CI runs).")
@click.option("--check-links", is_flag=True,
              help="Also fetch every link (concurrently) and report those that fail.")
@click.option("--link-timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Seconds to wait for each link.")
@click.pass_context
def check(ctx: click.Context, paths: Sequence[Path], strict: bool, check_links: bool,
          link_timeout: float) -> None:
    """Validate and lint issue files (default: every file in issues/).

    Prints each finding as FILE:LINE:COL: field: message, then a count.
    Exits 1 on any error, or on any warning with --strict.

    \b
    Examples:
      newsletter check
      newsletter check --strict issues/2024-07-23.yaml
      newsletter check --check-links issues/2024-07-23.yaml
    """
    project = _project(ctx)
    files = _expand(paths) if paths else project.issue_files()
    if not files:
        raise click.ClickException(f"no issue files in {project.issues_dir}")
    timeout = link_timeout if check_links else None
    findings = [finding for path in files for finding in _check_one(project, path, timeout)]
    _print_problems(findings)
    errors, warnings = _split(findings)
    click.echo(f"Checked {_plural(len(files), 'file')}: {_plural(len(errors), 'error')}, "
               f"{_plural(len(warnings), 'warning')}.")
    if errors:
        raise click.ClickException(f"{_plural(len(errors), 'error')} found")
    if strict and warnings:
        raise click.ClickException(f"aborted with {_plural(len(warnings), 'warning')} "
                                   "in strict mode")


def _check_one(project: Project, path: Path, link_timeout: float | None) -> list[Problem]:
    if not path.is_file():
        return [Problem(str(path), 1, 1, "", "no such file")]
    return project.check(path, link_timeout=link_timeout)


def _expand(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        out += sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
    return out


@main.command()
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
      newsletter build issues/2024-07-23.yaml --out /tmp/preview
    """
    project = _project(ctx)
    rendered = project.render(project.resolve(issue))
    _print_problems(rendered.findings)
    if rendered.errors:
        raise click.ClickException(f"not built: {_plural(len(rendered.errors), 'error')}")
    target = out_dir or Path("build") / rendered.email.date.isoformat()
    for path in write_build(rendered.email, project.publication, target):
        click.echo(f"wrote {path} ({path.stat().st_size:,} bytes)")
    if summary:
        with summary.open("a", encoding="utf-8") as handle:
            handle.write(report.markdown_summary(rendered))


@main.command()
@click.argument("date", metavar="DATE")
@click.pass_context
def new(ctx: click.Context, date: str) -> None:
    """Start a new issue file from a template that already validates.

    DATE is YYYY-MM-DD, 'today' or 'tomorrow' (in the publication's timezone).
    An existing file is never overwritten.

    \b
    Examples:
      newsletter new tomorrow
      newsletter new 2024-07-24
    """
    project = _project(ctx)
    day = _parse_day(date, project)
    path = scaffold.create(project.issues_dir, day, project.publication.default_section_title)
    click.echo(f"created {path}: fill in the TODOs, then run: newsletter check {path}")


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("site"), show_default=True, help="Folder to write the site to.")
@click.option("--all", "include_future", is_flag=True,
              help="Include issues dated after today (for a preview of the archive).")
@click.pass_context
def archive(ctx: click.Context, out_dir: Path, include_future: bool) -> None:
    """Write the web archive: a page per published issue, an index and an Atom feed.

    Published means dated today or earlier in the publication's timezone. Links
    between pages are relative, so the folder can be served from any path
    (GitHub Pages included; see .github/workflows/pages.yml).

    \b
    Examples:
      newsletter archive
      newsletter archive --out public --all
    """
    from newsletter import archive as site  # only this command needs lxml's feed writer

    project = _project(ctx)
    today = dt.datetime.now(project.publication.zone).date()
    written = site.build(project, out_dir, today, include_future=include_future)
    pages = len(written) - 2
    click.echo(f"wrote {_plural(pages, 'issue page')}, index.html and feed.xml to {out_dir}/")


@main.command()
@click.argument("issue", metavar="[DATE|PATH]", required=False)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to serve on (loopback: only this machine can see it).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--screenshot", "shots", type=click.Path(file_okay=False, path_type=Path),
              help="Write PNGs of the email at 375 and 600 px to this folder, then exit.")
@click.pass_context
def preview(ctx: click.Context, issue: str | None, host: str, port: int,
            shots: Path | None) -> None:
    """Preview an issue in the browser; the page reloads whenever you save.

    Shows the inbox line, the lint findings, the email at 375 px and 600 px, in
    dark mode, and the text edition. Without DATE, the newest issue file.

    \b
    Examples:
      newsletter preview
      newsletter preview 2024-07-24 --port 8080
      newsletter preview 2024-07-24 --screenshot shots/
    """
    from newsletter import preview as live  # only this command serves or drives a browser

    project = _project(ctx)
    path = project.resolve(issue) if issue else _newest(project)
    source = live.Source(project.config, path)
    if shots:
        chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        for written in live.screenshots(source, shots, chromium):
            click.echo(f"wrote {written}")
        return
    try:
        server = live.PreviewServer(source, host, port).start()
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc.strerror}") from None
    click.echo(f"previewing {path} at {server.url} (Ctrl-C to stop)")
    try:
        server.threads[1].join()
    except KeyboardInterrupt:
        server.stop()


def _newest(project: Project) -> Path:
    files = project.issue_files()
    if not files:
        raise click.ClickException(f"no issue files in {project.issues_dir}")
    return files[-1]


def _parse_day(text: str, project: Project) -> dt.date:
    today = dt.datetime.now(project.publication.zone).date()
    named = {"today": today, "tomorrow": today + dt.timedelta(days=1)}
    if text in named:
        return named[text]
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date like 2024-07-24",
                                 param_hint="DATE") from None


def _print_problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        click.echo(str(problem))


def _split(problems: Sequence[Problem]) -> tuple[list[Problem], list[Problem]]:
    errors = [p for p in problems if p.severity is Severity.ERROR]
    return errors, [p for p in problems if p.severity is Severity.WARNING]


def _count(problems: Sequence[Problem]) -> str:
    errors, _ = _split(problems)
    files = {p.file for p in problems}
    where = next(iter(files)) if len(files) == 1 else _plural(len(files), "file")
    return f"{_plural(len(errors), 'error')} in {where}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
