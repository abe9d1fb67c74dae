"""The registry of providers: which one ``auto`` picks, and a fourth provider, made here,
that needs nothing but its package's parts to be sent through, to have its webhook
mounted at /webhooks/NAME by the readers' service, and its suppression list synced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.api import Newsletter
from newsletter.config import Environment
from newsletter.delivery.providers import registry
from newsletter.delivery.providers.base import Provider
from newsletter.errors import ConfigError
from newsletter.store import subscribers as store
from tests.fakes.pigeon import PIGEON, PigeonLists, PigeonTransport


def env(**variables: str) -> Environment:
    return Environment.from_environ(variables)


@pytest.fixture
def pigeon(monkeypatch: pytest.MonkeyPatch) -> Provider:
    monkeypatch.setitem(registry.PROVIDERS, "pigeon", PIGEON)  # registered after the outbox
    PigeonTransport.carried.clear()
    return PIGEON


# -- auto ----------------------------------------------------------------------------------

def test_auto_asks_each_provider_in_the_documented_order() -> None:
    assert [p.name for p in registry.ordered()] == ["sendgrid", "ses", "smtp", "outbox"]
    assert registry.auto_name(env(SENDGRID_API_KEY="SG.x", SMTP_HOST="mail")) == "sendgrid"
    assert registry.auto_name(env(SES_REGION="eu-west-1", SMTP_HOST="mail")) == "ses"
    assert registry.auto_name(env(SMTP_HOST="mail")) == "smtp"
    assert registry.auto_name(env()) == "outbox"
    assert registry.auto_help() == ("sendgrid if SENDGRID_API_KEY is set, ses if SES_REGION "
                                    "is set, smtp if SMTP_HOST is set, else outbox")


def test_aws_credentials_alone_never_choose_ses() -> None:
    # A runner or a laptop often has them for something else: only SES_REGION says "SES".
    ambient = env(AWS_ACCESS_KEY_ID="AKID", AWS_SECRET_ACCESS_KEY="s", AWS_PROFILE="p",
                  AWS_REGION="eu-west-1", AWS_DEFAULT_REGION="eu-west-1")
    assert registry.auto_name(ambient) == "outbox"
    assert [p.name for p in registry.configured(ambient)] == []


def test_a_new_provider_comes_before_the_one_that_needs_nothing(pigeon: Provider) -> None:
    assert [p.name for p in registry.ordered()] == ["sendgrid", "ses", "smtp", "pigeon",
                                                    "outbox"]
    assert registry.auto_name(env(PIGEON_KEY="k")) == "pigeon"
    assert registry.auto_name(env(PIGEON_KEY="k", SMTP_HOST="mail")) == "smtp"
    assert registry.auto_name(env()) == "outbox"
    assert "pigeon" in registry.names()


def test_each_part_is_answered_by_the_registry(project_dir: Path) -> None:
    from newsletter.content import settings

    publication = settings.load(project_dir / "newsletter.yaml")
    everything = env(SENDGRID_API_KEY="SG.x", SMTP_HOST="mail", NEWSLETTER_SECRET="s" * 40)
    made = {name: registry.make(name, publication, everything, outbox=project_dir)
            for name in ("sendgrid", "smtp", "outbox")}
    assert {n: registry.scheduler(t) is not None for n, t in made.items()} == \
        {"sendgrid": True, "smtp": False, "outbox": False}
    assert registry.webhooks(everything) == {}  # no public key: nothing to mount
    assert list(registry.suppression_sources(publication, everything, outbox=project_dir)) \
        == ["sendgrid"]
    with pytest.raises(ConfigError, match="no provider with suppression lists is set up"):
        registry.suppression_sources(publication, env(SMTP_HOST="mail"), outbox=project_dir)


# -- the fourth provider, end to end ---------------------------------------------------------

def test_a_new_provider_sends(engine: Engine, project_dir: Path, pigeon: Provider,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    from newsletter.delivery.send import SendOptions
    from tests.helpers import add_subscribers

    everyone = add_subscribers(engine, 3)
    newsletter = Newsletter(project_dir / "newsletter.yaml", env=Environment.from_environ({
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "PIGEON_KEY": "k"}))
    report = newsletter.send("2024-07-23", SendOptions(transport="auto", max_attempts=1))
    assert report.transport == "pigeon" and sorted(PigeonTransport.carried) == sorted(everyone)


def test_a_new_providers_suppressions_are_synced(engine: Engine, project_dir: Path,
                                                 pigeon: Provider) -> None:
    from tests.helpers import add_subscribers

    everyone = add_subscribers(engine, 3)
    PigeonLists.lost[:] = [everyone[1]]
    newsletter = Newsletter(project_dir / "newsletter.yaml", env=Environment.from_environ({
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "PIGEON_KEY": "k"}))
    synced = newsletter.sync_suppressions()
    assert [(s.source, s.read, s.marked) for s in synced] == [("pigeon:lost", 1, 1)]
    assert store.find(engine, everyone[1]).status == "bounced"  # type: ignore[union-attr]
    assert store.get_mark(engine, "pigeon:lost") > 0


def test_the_environment_keeps_every_providers_secrets_out_of_its_repr() -> None:
    from newsletter.delivery.providers.sendgrid.settings import SendGridEnvironment
    from newsletter.delivery.providers.ses.settings import SesEnvironment
    from newsletter.delivery.providers.smtp.settings import SmtpEnvironment

    secrets = env(SENDGRID_API_KEY="SG.secret", SMTP_PASSWORD="hunter2", SMTP_HOST="mail",
                  AWS_SECRET_ACCESS_KEY="aws-secret", AWS_SESSION_TOKEN="aws-token",
                  SES_REGION="eu-west-1")
    shown = repr(secrets) + repr(SendGridEnvironment.read(secrets)) + \
        repr(SmtpEnvironment.read(secrets)) + repr(SesEnvironment.read(secrets))
    assert "SG.secret" not in shown and "hunter2" not in shown and "mail" in shown
    assert "aws-secret" not in shown and "aws-token" not in shown and "eu-west-1" in shown
    assert json.dumps(sorted(secrets.variables))  # still there for the providers to read
