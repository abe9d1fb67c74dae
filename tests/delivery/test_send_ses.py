"""Sending through Amazon SES: boto3 against moto's server, behind the strict front of
tests/fakes/ses_server.py that checks each SendEmail as SES documents it and answers
what a test scripts (throttling, errors, no answer)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.api import Newsletter
from newsletter.config import Environment
from newsletter.email.message import Notice
from newsletter.errors import ConfigError, DeliveryError, TransportRejected
from newsletter.project import Project
from newsletter.store import subscribers as store
from newsletter.store.ledger import Ledger
from newsletter.store.recipient import Recipient
from tests.conftest import with_ses_block
from tests.fakes.ses_server import CONFIGURATION_SET, Answer, FakeSes, Suppressed
from tests.helpers import FAST, add_subscribers, example_email, make_transport, run_send


@pytest.fixture
def project(project_dir: Path, ses_env: FakeSes) -> Project:
    with_ses_block(project_dir)
    return Project(project_dir / "newsletter.yaml")


def test_every_message_names_the_configuration_set_and_its_reader(
        engine: Engine, project: Project, ses_env: FakeSes) -> None:
    everyone = add_subscribers(engine, 3)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    report = run_send(engine, project, "ses")
    assert (report.sent, report.requests) == (3, 3)  # one request (and batch) a reader
    ids = {r.email: r.id for r in store.listing(engine)}
    assert [(s["ConfigurationSetName"], s["FromEmailAddress"], s["EmailTags"])
            for s in ses_env.sends] == [
        (CONFIGURATION_SET, "brief@bigmedia.example",
         [{"Name": "issue", "Value": "2024-07-23"}, {"Name": "subscriber",
                                                       "Value": str(ids[address])}])
        for address in everyone]
    assert ses_env.refused == []
    [first, *_] = ses_env.delivered()
    message = email.message_from_string(first["raw_data"], policy=email.policy.default)
    types = [part.get_content_type() for part in message.walk()]
    assert types.index("text/plain") < types.index("text/html")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert before <= message["Date"].datetime <= dt.datetime.now(dt.UTC)  # made now


def test_throttling_errors_and_a_lost_answer_are_retried(engine: Engine, project: Project,
                                                         ses_env: FakeSes) -> None:
    add_subscribers(engine, 3)
    ses_env.then(Answer(429, "TooManyRequestsException", "Maximum sending rate exceeded."),
                 Answer(500, "InternalFailure", "internal error"),
                 Answer(400, "LimitExceededException", "Daily message quota exceeded."),
                 Answer(drop=True))
    report = run_send(engine, project, "ses")
    assert ses_env.attempts == 7
    assert sorted(m["destinations"][0] for m in ses_env.delivered()) == \
        [f"reader{n}@example.org" for n in range(3)]
    assert report.counts["sent"] == 3 and report.timeouts_retried == 1


@pytest.mark.parametrize(("code", "message"), [
    ("MessageRejected", "Email address is not verified. The following identities failed "
                        "the check in region US-EAST-1: brief@bigmedia.example"),
    ("AccountSuspendedException", "Your account has been suspended."),
    ("NotFoundException", "Configuration set <newsletter> does not exist."),
    ("SendingPausedException", "Sending is paused for this account."),
])
def test_a_first_refusal_stops_the_send_with_ses_words(engine: Engine, project: Project,
                                                       ses_env: FakeSes, code: str,
                                                       message: str) -> None:
    add_subscribers(engine, 3)
    ses_env.then(Answer(400, code, message))
    with pytest.raises(TransportRejected) as caught:
        run_send(engine, project, "ses")
    text = str(caught.value)
    assert text.startswith(f"SES answered 400 {code}: ") and "the send stopped" in text
    assert "brief@bigmedia.example" not in text  # addresses are redacted
    assert ses_env.attempts == 1
    status = Ledger(engine, "2024-07-23").status()
    assert status.counts["pending"] == 3 and status.counts["failed"] == 0
    run_send(engine, project, "ses")  # the cause fixed, the next run delivers
    assert len(ses_env.delivered()) == 3


def test_once_ses_took_a_message_a_rejection_is_about_that_reader(
        engine: Engine, project: Project, ses_env: FakeSes) -> None:
    add_subscribers(engine, 3)
    ses_env.then(Answer(), Answer(400, "MessageRejected", "Email address is not verified. "
                        "The following identities failed the check: reader1@example.org"))
    report = run_send(engine, project, "ses")
    assert report.counts["sent"] == 2 and report.failed == 1
    assert any("MessageRejected" in e and "[address]" in e for e in report.errors)
    assert sorted(m["destinations"][0] for m in ses_env.delivered()) == \
        ["reader0@example.org", "reader2@example.org"]


def test_an_address_ses_cannot_take_fails_alone(engine: Engine, project: Project,
                                                ses_env: FakeSes) -> None:
    add_subscribers(engine, 2)
    store.add(engine, "zoë@bücher.example")  # a non-ASCII local part needs SMTPUTF8
    report = run_send(engine, project, "ses")
    assert report.counts["sent"] == 2 and report.failed == 1
    assert any("SMTPUTF8" in e for e in report.errors)


def test_a_batch_stopped_part_way_keeps_what_went(project: Project, ses_env: FakeSes) -> None:
    transport = make_transport(project, "ses")
    readers = [Recipient(n, f"reader{n}@example.org", None, None, f"{n:032x}")
               for n in range(4)]
    mail = example_email(project)
    ses_env.then(Answer(), Answer(429, "TooManyRequestsException", "slow down"))
    throttled = transport.send(mail, readers)
    assert (throttled.refused, throttled.deferred) == ({}, {})
    assert sorted(throttled.not_sent) == [1, 2, 3] and throttled.provider_id
    ses_env.then(Answer(), Answer(drop=True))
    lost = transport.send(mail, readers)
    assert list(lost.deferred) == [1] and "may get it twice" in lost.deferred[1]
    assert sorted(lost.not_sent) == [2, 3]


def test_ses_cannot_schedule_and_says_so(engine: Engine, project: Project,
                                         ses_env: FakeSes) -> None:
    add_subscribers(engine, 1)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    with pytest.raises(ConfigError, match="^the ses transport cannot schedule delivery for "
                                          r"later \(send_at\)$"):
        run_send(engine, project, "ses", dataclasses.replace(FAST, send_at=later))
    assert ses_env.attempts == 0


def test_the_confirmation_email_goes_through_ses(project: Project, ses_env: FakeSes) -> None:
    make_transport(project, "ses").send_notice(
        Notice("ann@example.org", "Ann", "Confirm", "text\n", "<p>html</p>", kind="confirm"))
    [sent] = ses_env.sends
    assert sent["EmailTags"] == [{"Name": "kind", "Value": "confirm"}]
    assert sent["ConfigurationSetName"] == CONFIGURATION_SET
    with pytest.raises(TransportRejected, match="SMTPUTF8"):
        make_transport(project, "ses").send_notice(
            Notice("zoë@example.org", None, "Confirm", "text\n", "<p>html</p>"))


def test_settings_that_cannot_send_are_refused_in_one_line(project_dir: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    from newsletter.content import settings
    from newsletter.delivery.providers import registry

    monkeypatch.setenv("NEWSLETTER_SECRET", "s" * 40)
    publication = settings.load(project_dir / "newsletter.yaml")

    def make(**variables: str) -> object:
        return registry.make("ses", publication, Environment.from_environ(
            {"NEWSLETTER_SECRET": "s" * 40, **variables}), outbox=project_dir)

    with pytest.raises(ConfigError, match="^SES_REGION is not set$"):
        make()
    with pytest.raises(ConfigError, match="^delivery.ses.configuration_set is not set"):
        make(SES_REGION="eu-west-1", AWS_ACCESS_KEY_ID="a", AWS_SECRET_ACCESS_KEY="b")
    with_ses_block(project_dir)
    publication = settings.load(project_dir / "newsletter.yaml")
    with pytest.raises(ConfigError, match="go together"):
        make(SES_REGION="eu-west-1", AWS_ACCESS_KEY_ID="a")
    with pytest.raises(ConfigError, match="^no AWS credentials"):
        make(SES_REGION="eu-west-1")  # the chain finds nothing: files and metadata are off
    made = make(SES_REGION="eu-west-1", AWS_ACCESS_KEY_ID="a", AWS_SECRET_ACCESS_KEY="b",
                SES_ENDPOINT_URL="http://ses.internal.example")
    assert "plain http to another machine" in made.warnings[0]  # type: ignore[attr-defined]


def test_a_bad_ses_block_is_found_by_check(project_dir: Path) -> None:
    from tests.helpers import run

    path = project_dir / "newsletter.yaml"
    path.write_text(path.read_text() + "delivery:\n  ses:\n    configuration_set: no spaces\n"
                    "    from_arn: arn:aws:s3:::bucket\n    region: eu-west-1\n")
    code, out = run("check", "2024-07-23")
    assert code == 1
    assert "delivery.ses.configuration_set" in out and "delivery.ses.from_arn" in out
    assert "delivery.ses.region" in out  # the region is SES_REGION's, not the file's


def test_a_listing_ses_does_not_document_applies_nothing(engine: Engine, project: Project,
                                                          ses_env: FakeSes,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    everyone = add_subscribers(engine, 2)
    ses_env.suppressed = [Suppressed(everyone[0], "BOUNCE", 1.0e9)]
    for odd in (b'{"SuppressedDestinationSummaries": {"EmailAddress": "a@b.example"}}',
                b'{"SuppressedDestinationSummaries": [{"Reason": "BOUNCE", '
                b'"LastUpdateTime": 1}]}',
                b'{"SuppressedDestinationSummaries": [{"EmailAddress": "a@b.example", '
                b'"Reason": "COMPLAINT", "LastUpdateTime": 1}]}',
                b'{"SuppressedDestinationSummaries": [], "NextToken": ""}'):
        ses_env.odd_listing = odd
        with pytest.raises(DeliveryError, match="nothing of that list was applied"):
            Newsletter(project.config).sync_suppressions()
    assert store.get_mark(engine, "ses:bounces") == 0
    assert {s.status for s in store.listing(engine)} == {"active"}


def test_worker_processes_send_each_reader_once(engine: Engine, project: Project,
                                                ses_env: FakeSes) -> None:
    from functools import partial

    from newsletter.delivery.providers import registry
    from newsletter.delivery.send import SendRun

    everyone = add_subscribers(engine, 12)
    ses_env.then(Answer(), Answer(500, "InternalFailure", "once"))  # a retry in a worker
    options = dataclasses.replace(FAST, workers=2, concurrency=2)
    # What crosses to the workers must pickle: the settings and the environment.
    factory = partial(registry.make, "ses", project.publication, Environment.from_environ(),
                      outbox=project.outbox_dir)
    report = SendRun(engine, example_email(project), factory(), options,
                     factory=factory).run()
    assert report.sent == 12 and ses_env.attempts == 13
    assert sorted(m["destinations"][0] for m in ses_env.delivered()) == sorted(everyone)
