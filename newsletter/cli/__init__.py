"""The ``newsletter`` command: thin commands over the Python API, one-line errors, exit codes.

Each command builds a :class:`newsletter.api.Newsletter`, calls one method and prints what
happened. Library errors become ``Error: ...`` lines and exit code 1 here and nowhere
else (a day that is none, NotADate, is a bad argument: exit code 2). Commands live in one
module per group and are imported only when one runs, so ``check`` and ``build`` never pay
for the database or the providers' packages.
"""

from __future__ import annotations

import gc
import importlib
import logging
import sys
from typing import Any

import click

from newsletter.config import CONFIG_ENV
from newsletter.errors import NewsletterError, NotADate, ProblemsFound
from newsletter.version import __version__

# Command name -> the module under newsletter.cli and the attribute there.
COMMANDS = {
    "check": ("content", "check"), "build": ("content", "build"), "new": ("content", "new"),
    "add": ("content", "add"),
    "archive": ("site", "archive"), "preview": ("site", "preview"),
    "subscribers": ("subscribers", "subscribers"),
    "send": ("delivery", "send"), "status": ("delivery", "status"),
    "schedule": ("delivery", "schedule"), "cancel": ("delivery", "cancel"),
    "unsubscribe": ("delivery", "unsubscribe"),
    "serve": ("web", "serve"),
    "suppressions": ("subscribers", "suppressions"),
    "prune": ("delivery", "prune"),
    "stats": ("stats", "stats"), "health": ("stats", "health"), "report": ("stats", "report"),
}


class _Group(click.Group):
    """Loads each command on first use, and turns the library's errors into click's
    one-line ``Error:`` and exit code 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name]
        command: click.Command = getattr(importlib.import_module(f"newsletter.cli.{module}"),
                                         attribute)
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        finally:
            _Collector.resume()  # the command's modules are loaded: it may run

    def invoke(self, ctx: click.Context) -> Any:
        from newsletter.cli.common import count, print_problems

        try:
            return super().invoke(ctx)
        except ProblemsFound as exc:
            print_problems(exc.problems)
            raise click.ClickException(count(exc.problems)) from None
        except NotADate as exc:  # a command reads its own first (common.parse_issue)
            raise click.BadParameter(str(exc)) from None
        except NewsletterError as exc:
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            message = _database_error(exc)
            if message is None:
                raise  # a bug: the traceback is what a report needs
            raise click.ClickException(message) from None


class _Collector:
    """Python's cyclic garbage collector, paused while a command's modules load.

    Loading them makes a few hundred thousand objects that live as long as the process,
    and the collector went over them again and again as they were made (25-30 ms in its
    collections alone; build took 0.37 s with it, 0.31 s without). Once the command is
    found they are frozen out of its scans (``gc.freeze``) and collecting resumes, so a
    long command (send, serve) runs with it.
    """

    paused = False

    @classmethod
    def pause(cls) -> None:
        if gc.isenabled():  # one that a caller turned off stays off
            gc.disable()
            cls.paused = True

    @classmethod
    def resume(cls) -> None:
        if cls.paused:
            cls.paused = False
            gc.freeze()
            gc.enable()


def _database_error(exc: Exception) -> str | None:
    """One line for an error the database raised (a dropped table, a full disk, a lost
    server), or None. Only the first line of the driver's message: the details that
    follow can quote other rows' data."""
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is None or not isinstance(exc, errors.DBAPIError):
        return None
    first = (str(exc.orig).strip().splitlines() or ["unknown error"])[0]
    return f"database error: {first} (is DATABASE_URL the newsletter's database, and " \
           "is it intact?)"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", metavar="FILE", envvar=CONFIG_ENV,
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


def run() -> None:
    """The ``newsletter`` console script: :func:`main`, with the collector paused until
    the command's modules have loaded (see :class:`_Collector`). What is set here is the
    whole process's, so it is set here, at the edge, and never by the library."""
    # httpx logs every request it makes at INFO (method, address, answer: never a header
    # or a body): `serve` logs at INFO, where a line for each confirmation email sent
    # through a provider's API would crowd out the service's own. A program that uses the
    # library sets its own logging.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # python_http_client, the HTTP layer of a provider's own package, logs each request's
    # headers and each answer's body at DEBUG: the provider hides its key in the headers,
    # but an answer may quote addresses, or a proxy may echo the key back.
    logging.getLogger("python_http_client").setLevel(logging.WARNING)
    _Collector.pause()
    try:
        main()
    finally:
        _Collector.resume()
