"""What every command shares: the API object, day arguments, and how findings print."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import click

from newsletter.api import Newsletter
from newsletter.errors import Problem, errors_in


def api(ctx: click.Context) -> Newsletter:
    """The publication named by --config (or NEWSLETTER_CONFIG, or ./newsletter.yaml)."""
    return Newsletter(ctx.find_root().obj)


def parse_day(text: str, newsletter: Newsletter) -> dt.date:
    """YYYY-MM-DD, 'today' or 'tomorrow' (in the publication's timezone)."""
    today = newsletter.today()
    named = {"today": today, "tomorrow": today + dt.timedelta(days=1)}
    if text in named:
        return named[text]
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date like 2024-07-24",
                                 param_hint="DATE") from None


def print_problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        click.echo(str(problem))


def count(problems: Sequence[Problem]) -> str:
    """``N errors in FILE`` (or ``in N files``), the last line of a failed check."""
    files = {p.file for p in problems}
    where = next(iter(files)) if len(files) == 1 else plural(len(files), "file")
    return f"{plural(len(errors_in(problems)), 'error')} in {where}"


def plural(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
