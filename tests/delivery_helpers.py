"""Helpers shared by the delivery tests."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine

from newsletter import db
from newsletter.project import Project
from newsletter.render import Email
from newsletter.send import Options, Report, Sender, choose_transport
from newsletter.settings import Publication

FAST = Options(retry_base=0.01, retry_cap=0.05, concurrency=1)


def add_subscribers(engine: Engine, count: int, start: int = 0) -> list[str]:
    stamp = dt.datetime.now(dt.UTC)
    rows = [{"email": f"reader{n}@example.org", "email_key": f"reader{n}@example.org",
             "name": f"Reader {n}" if n % 3 else None, "timezone": None, "status": "active",
             "created_at": stamp, "updated_at": stamp} for n in range(start, start + count)]
    with engine.begin() as conn:
        conn.execute(db.subscribers.insert(), rows)
    return [r["email"] for r in rows]


def with_delivery(publication: Publication, **changes: object) -> Publication:
    return publication.model_copy(
        update={"delivery": publication.delivery.model_copy(update=changes)})


def example_email(project: Project, day: str = "2024-07-23") -> Email:
    return project.render(project.resolve(day)).email


def run_send(engine: Engine, project: Project, transport: str = "sendgrid",
             options: Options = FAST, publication: Publication | None = None,
             email: Email | None = None, outbox: Path | None = None) -> Report:
    pub = publication or project.publication
    chosen = choose_transport(transport, pub, project.root, outbox)
    return Sender(engine, email or example_email(project), chosen, options).run()


def duplicates(addresses: list[str]) -> dict[str, int]:
    return {a: n for a, n in Counter(addresses).items() if n > 1}
