"""The transports' registry, their own settings blocks, and capabilities."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import Engine

from newsletter.config import Environment
from newsletter.content import settings
from newsletter.delivery.providers import registry as transports
from newsletter.delivery.providers.registry import Options, Outcome, Transport
from newsletter.delivery.send import SendRun
from newsletter.email.render import Email
from newsletter.errors import ConfigError, ProblemsFound
from newsletter.project import Project
from newsletter.store.ledger import Ledger
from newsletter.store.recipient import Recipient
from tests.helpers import FAST, add_subscribers, example_email, run

ENV = Environment.from_environ({"SENDGRID_API_KEY": "SG.test", "SMTP_HOST": "127.0.0.1",
                                "NEWSLETTER_SECRET": "s"})


def with_settings(project_dir: Path, extra: str) -> settings.Publication:
    config = project_dir / "newsletter.yaml"
    config.write_text(config.read_text() + extra)
    return settings.load(config)


def line_of(project_dir: Path, text: str) -> int:
    lines = (project_dir / "newsletter.yaml").read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def test_every_name_is_a_transport_and_auto_picks_by_environment() -> None:
    assert transports.names() == ("auto", "sendgrid", "ses", "smtp", "outbox")
    assert transports.auto_name(ENV) == "sendgrid"
    assert transports.auto_name(Environment.from_environ({"SMTP_HOST": "mail"})) == "smtp"
    assert transports.auto_name(Environment.from_environ({"SENDGRID_API_KEY": " "})) == "outbox"
    assert transports.auto_name(Environment.from_environ({})) == "outbox"


def test_an_unknown_transport_is_refused(project: Project) -> None:
    with pytest.raises(ConfigError, match="unknown transport 'pigeon'; one of: auto, "):
        transports.make("pigeon", project.publication, ENV, outbox=project.outbox_dir)


@pytest.mark.parametrize(("name", "size"), [("sendgrid", 1000), ("smtp", 1), ("outbox", 1000)])
def test_batch_sizes_default_per_transport(project: Project, name: str, size: int) -> None:
    made = transports.make(name, project.publication, ENV, outbox=project.outbox_dir)
    assert made.batch_size == size


def test_each_transport_reads_its_own_block(project_dir: Path) -> None:
    pub = with_settings(project_dir, "delivery:\n  sendgrid:\n    batch_size: 250\n"
                                     "    asm_group_id: 7\n  smtp:\n    batch_size: 20\n")
    sendgrid = transports.make("sendgrid", pub, ENV, outbox=project_dir)
    smtp = transports.make("smtp", pub, ENV, outbox=project_dir)
    assert (sendgrid.batch_size, smtp.batch_size) == (250, 20)
    assert sendgrid.options.asm_group_id == 7  # type: ignore[attr-defined]


def test_a_bad_value_in_a_block_is_placed_in_the_file(project_dir: Path) -> None:
    pub = with_settings(project_dir, "delivery:\n  smtp:\n    batch_size: 5000\n"
                                     "    tiemout: 3\n")
    with pytest.raises(ProblemsFound) as caught:
        transports.make("outbox", pub, ENV, outbox=project_dir)
    lines = [str(p).split(str(project_dir) + "/")[-1] for p in caught.value.problems]
    size, typo = line_of(project_dir, "batch_size: 5000"), line_of(project_dir, "tiemout")
    assert lines == [
        f"newsletter.yaml:{size}:17: delivery.smtp.batch_size: input should be less than or "
        "equal to 1000",
        f"newsletter.yaml:{typo}:5: delivery.smtp.tiemout: unknown key 'tiemout' (did you "
        "mean 'timeout'?)",
    ]


def test_settings_of_the_old_layout_say_where_they_went(project_dir: Path) -> None:
    with_settings(project_dir, "delivery:\n  asm_group_id: 7\n  sendgird:\n    batch_size: 5\n")
    code, out = run("check")
    assert code == 1
    moved, typo = line_of(project_dir, "asm_group_id"), line_of(project_dir, "sendgird")
    assert f"newsletter.yaml:{moved}:3: delivery.asm_group_id: unknown setting " \
           "'asm_group_id'; it is now delivery.sendgrid.asm_group_id" in out
    assert f"newsletter.yaml:{typo}:3: delivery.sendgird: unknown setting 'sendgird'; the " \
           "transports are sendgrid, ses, smtp, outbox" in out


def test_only_a_scheduler_can_deliver_later(project: Project) -> None:
    for name in ("smtp", "outbox"):
        assert transports.make(name, project.publication, ENV,
                               outbox=project.outbox_dir).scheduler() is None
    sendgrid = transports.make("sendgrid", project.publication, ENV, outbox=project.outbox_dir)
    scheduler = sendgrid.scheduler()
    assert scheduler is not None and scheduler.max_ahead.total_seconds() == 72 * 3600


class Pigeon(Transport):
    """A transport made in the test: the interface is all a new one needs."""

    name = "pigeon"
    carried: ClassVar[list[str]] = []

    @classmethod
    def needs_secret(cls, options: Options) -> bool:
        return False

    def send(self, email: Email, recipients: Sequence[Recipient]) -> Outcome:
        self.carried.extend(r.email for r in recipients)
        return Outcome(provider_id=f"loft-{len(self.carried)}")


def test_a_new_transport_is_one_class_and_one_registry_line(
        engine: Engine, project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(transports.PROVIDERS, "pigeon",
                        transports.Provider("pigeon", Pigeon, lambda env: False, "PIGEON"))
    Pigeon.carried.clear()
    everyone = add_subscribers(engine, 5)
    made = transports.make("pigeon", project.publication, Environment.from_environ({}),
                           outbox=project.outbox_dir)
    report = SendRun(engine, example_email(project), made, FAST).run()
    assert sorted(Pigeon.carried) == sorted(everyone) and report.sent == 5
    assert Ledger(engine, "2024-07-23").status().transport == "pigeon"
