"""What every command shares: the API object, day arguments, and how findings print."""

from __future__ import annotations

import datetime as dt
import importlib
import sys
import types
from collections.abc import Sequence

import click

from newsletter.api import Newsletter
from newsletter.errors import Problem, errors_in


def lean_premailer() -> None:
    """Load premailer without `requests`, for a command that renders.

    premailer imports `requests` at the top, to fetch stylesheets from the network, which
    we never ask it to do (``allow_network=False``; our styles are in the template).
    `requests` brings urllib3, certifi, chardet and charset-normalizer with it: a tenth of
    a `build`. An empty module stands in for it while premailer loads, and is taken away
    at once, so anything that imports `requests` later gets the real one. That changes the
    process's module table, if only for an instant: a command may, the library never does
    (a host's other threads could import `requests` in that instant)."""
    if "premailer" in sys.modules or "requests" in sys.modules:
        return
    sys.modules["requests"] = types.ModuleType("requests")
    try:
        importlib.import_module("premailer")
    finally:
        del sys.modules["requests"]


def api(ctx: click.Context) -> Newsletter:
    """The publication named by --config (or NEWSLETTER_CONFIG, or ./newsletter.yaml)."""
    return Newsletter(ctx.find_root().obj)


def parse_day(text: str, newsletter: Newsletter) -> dt.date:
    """YYYY-MM-DD, 'today' or 'tomorrow' (in the publication's timezone), or 'next' (the
    next publishing day whose send time has not come)."""
    if text == "next":
        return newsletter.next_day()
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
