"""Plain helpers shared by the tests (fixtures are in conftest.py)."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from newsletter.cli import main
from newsletter.config import Environment
from newsletter.content.settings import Publication
from newsletter.delivery.providers import registry as transports
from newsletter.delivery.send import SendOptions, SendReport, SendRun
from newsletter.email.render import Email
from newsletter.project import Project
from newsletter.store import db

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The publication the tests run on: a copy of their own, so that a repository holding
# another publication (its own newsletter.yaml and issues/) keeps a green test suite.
PUBLICATION = FIXTURES / "publication"
EXAMPLE_DAY = "2024-07-23"
# For what the database has no part in (the HTTP server's deadlines, how a page looks):
# run once, on SQLite, not once for each database.
ONE_DATABASE = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
FAST = SendOptions(retry_base=0.01, retry_cap=0.05, concurrency=1)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

GOOD_ISSUE = """\
date: 2024-08-01
lead:
  headline: Lead headline
  source: Lead Source
  url: https://example.com/lead
  body: |
    First paragraph with a [link](https://example.com/inline).

    Second paragraph.
sections:
  - items:
      - headline: Teaser one
        source: Source One
        url: https://example.com/one
        summary: Summary one.
preheader: The preheader
"""


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    """The command line as a person runs it: (exit code, everything it printed)."""
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.output


def need(available: bool, what: str) -> None:
    """Skip on a developer's machine without ``what``; fail in CI, where it must be there."""
    if not available:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is required in CI but missing")
        pytest.skip(f"{what} not available")


def add_subscribers(engine: Engine, count: int, start: int = 0) -> list[str]:
    stamp = dt.datetime.now(dt.UTC)
    rows = [{"email": f"reader{n}@example.org", "email_key": f"reader{n}@example.org",
             "name": f"Reader {n}" if n % 3 else None, "timezone": None, "status": "active",
             "created_at": stamp, "updated_at": stamp} for n in range(start, start + count)]
    with engine.begin() as conn:
        conn.execute(db.subscribers.insert(), rows)
    return [r["email"] for r in rows]


def with_delivery(publication: Publication, **changes: object) -> Publication:
    """The publication with ``delivery:`` settings changed (``sendgrid={...}`` for a
    transport's block)."""
    return publication.model_copy(
        update={"delivery": publication.delivery.model_copy(update=changes)})


def example_email(project: Project, day: str = EXAMPLE_DAY) -> Email:
    return project.render(project.resolve(day)).email


def make_transport(project: Project, name: str = "sendgrid",
                   publication: Publication | None = None,
                   outbox: Path | None = None) -> transports.Transport:
    # The environment as it is now: tests set SENDGRID_HOST and the like after the
    # project fixture was made.
    return transports.make(name, publication or project.publication, Environment.from_environ(),
                           outbox=outbox or project.outbox_dir)


def run_send(engine: Engine, project: Project, transport: str = "sendgrid",
             options: SendOptions = FAST, publication: Publication | None = None,
             email: Email | None = None, outbox: Path | None = None) -> SendReport:
    chosen = make_transport(project, transport, publication, outbox)
    return SendRun(engine, email or example_email(project), chosen, options).run()


def duplicates(addresses: list[str]) -> dict[str, int]:
    return {a: n for a, n in Counter(addresses).items() if n > 1}


def asked_and_confirmed(engine: Engine, address: str, name: str | None = None):  # type: ignore[no-untyped-def]
    """A reader who asked on the form and confirmed (the queue's whole path, without the
    service): the one way back for an address erased at its owner's request."""
    from newsletter.store import signups

    signups.queue(engine, address, name=name, source="form test")
    signup = signups.claim(engine)
    if signup is None:  # a running service's mailer took it first, and mails it
        signup = _mailed_by_the_service(engine, address)
    else:
        signups.mailed(engine, signup)
    return signups.confirm(engine, signup)


def _mailed_by_the_service(engine: Engine, address: str):  # type: ignore[no-untyped-def]
    """The request for ``address`` once a service's mailer has mailed it (it claims the
    queue every fraction of a second, and a loaded machine lets it win the race)."""
    from sqlalchemy import select

    from newsletter.store import signups

    table = db.signups
    for _ in range(200):
        with engine.connect() as conn:
            row = conn.execute(select(table).where(
                table.c.email == address, table.c.state == "mailed")).first()
        if row is not None:
            return signups._signup(row)
        time.sleep(0.05)
    raise AssertionError(f"the request for {address} was neither claimed nor mailed")


def asked_before_the_queue(engine: Engine, address: str,
                           at: dt.datetime | None = None):  # type: ignore[no-untyped-def]
    """A reader who asked to subscribe before requests were queued (revision 0010): a
    pending row with the request's time, whose old links still act for them."""
    from sqlalchemy import update

    from newsletter.store import subscribers as store

    reader = store.add(engine, address)
    with engine.begin() as conn:  # a row of an earlier release: no writer makes it now
        conn.execute(update(db.subscribers).where(db.subscribers.c.id == reader.id).values(
            status="pending", requested_at=at or dt.datetime.now(dt.UTC), legacy_links=True))
    return store.find(engine, address)
