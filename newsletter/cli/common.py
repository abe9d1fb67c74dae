"""What every command shares: the API object, day arguments, and how findings print."""

from __future__ import annotations

import datetime as dt
import importlib
import sys
import types
from collections.abc import Sequence
from pathlib import Path

import click

from newsletter.api import Newsletter
from newsletter.errors import NotADate, Problem, errors_in


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


def parse_day(text: str, newsletter: Newsletter, hint: str = "DATE") -> dt.date:
    """YYYY-MM-DD, 'today' or 'tomorrow' (in the publication's timezone), or 'next' (the
    next publishing day whose send time has not come): :meth:`Newsletter.day`, with a
    bad one a usage error (exit status 2) naming the argument, ``hint``."""
    try:
        return newsletter.day(text)
    except NotADate as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


def parse_issue(text: str, newsletter: Newsletter, hint: str = "DATE|PATH") -> dt.date | Path:
    """A day as :func:`parse_day` reads it, or the path of an issue file: the one reading
    of every command that takes an issue (:meth:`Newsletter.issue_ref`)."""
    try:
        return newsletter.issue_ref(text)
    except NotADate as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


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
