"""A first send plans while its email is still being rendered (``send --workers``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.delivery.send import SendRun
from newsletter.email.render import Email
from newsletter.errors import ConfigError, DeliveryError
from newsletter.project import Project
from newsletter.store.ledger import Content, Lease, Ledger
from tests.helpers import FAST, add_subscribers, example_email, make_transport


class Rendering:
    """An email that takes a moment to render, or fails to: what the API hands a send
    while the rendering process works (a `delivery.send.Rendering`)."""

    def __init__(self, email: Email, error: Exception | None = None) -> None:
        self.day: dt.date = email.date
        self.email, self.error = email, error

    def result(self) -> Email:
        time.sleep(0.2)  # the plan goes on meanwhile
        if self.error is not None:
            raise self.error
        return self.email


def send(engine: Engine, project: Project, source: Email | Rendering, outbox: Path) -> int:
    transport = make_transport(project, "outbox", outbox=outbox)
    return SendRun(engine, source, transport, FAST).run().sent


def test_a_rendering_that_fails_leaves_no_plan(engine: Engine, project: Project,
                                               tmp_path: Path) -> None:
    add_subscribers(engine, 3)
    email = example_email(project)
    with pytest.raises(ConfigError, match="template error"):
        send(engine, project, Rendering(email, ConfigError("template error: boom")), tmp_path)
    assert not Ledger(engine, "2024-07-23").exists()  # the plan's transaction was undone
    assert send(engine, project, Rendering(email), tmp_path) == 3
    assert Ledger(engine, "2024-07-23").status().counts["sent"] == 3


def test_a_resumed_send_checks_the_rendered_content(engine: Engine, project: Project,
                                                    tmp_path: Path) -> None:
    add_subscribers(engine, 3)
    email = example_email(project)
    ledger = Ledger(engine, "2024-07-23")  # planned by an earlier run, which stopped
    ledger.begin("outbox", 1000, Content(email.digest, email.subject), Lease("earlier:1:a"))
    ledger.release_lease("earlier:1:a")
    changed = dataclasses.replace(email, subject="Another subject")
    with pytest.raises(DeliveryError, match="changed since its send began"):
        send(engine, project, Rendering(changed), tmp_path)
    with pytest.raises(ConfigError, match="template error"):
        send(engine, project, Rendering(email, ConfigError("template error: boom")), tmp_path)
    assert ledger.status().counts["pending"] == 3
    assert send(engine, project, Rendering(email), tmp_path) == 3  # the lease was let go
