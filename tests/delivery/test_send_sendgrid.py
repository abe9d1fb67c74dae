"""Sending through the real `sendgrid` package to a strict local SendGrid."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import multiprocessing
import time
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from newsletter.config import Environment
from newsletter.content.settings import Publication
from newsletter.delivery.providers import registry as transports
from newsletter.delivery.providers.sendgrid.transport import SendGridTransport
from newsletter.delivery.send import SendRun, dry_run, proof
from newsletter.email.render import UNSUBSCRIBE_TOKEN, Renderer
from newsletter.errors import ConfigError, DeliveryError, SendPaused, TransportRejected
from newsletter.project import Project
from newsletter.store import db
from newsletter.store import subscribers as audience
from newsletter.store.ledger import Content, Lease, Ledger
from newsletter.store.recipient import Recipient
from tests.fakes.sendgrid_server import API_KEY, Answer, FakeSendGrid, error
from tests.helpers import (
    FAST,
    add_subscribers,
    duplicates,
    example_email,
    make_transport,
    run_send,
    with_delivery,
)


def test_every_active_subscriber_once_in_requests_of_at_most_1000(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid) -> None:
    everyone = add_subscribers(engine, 2500)
    report = run_send(engine, project)
    assert sendgrid_env.rejected == []
    assert [len(b["personalizations"]) for b in sendgrid_env.accepted] == [1000, 1000, 500]
    assert sorted(sendgrid_env.recipients()) == sorted(everyone)
    assert (report.sent, report.requests, report.counts["sent"]) == (2500, 3, 2500)
    with engine.connect() as conn:
        ids = conn.execute(select(db.batches.c.provider_id)).scalars().all()
    assert len(ids) == 3 and all(ids)  # each request's X-Message-Id is kept


def test_request_carries_what_inboxes_require(engine: Engine, project: Project,
                                              sendgrid_env: FakeSendGrid) -> None:
    add_subscribers(engine, 2)
    run_send(engine, project)
    [body] = sendgrid_env.accepted
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["headers"] == {"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert body["categories"] == ["newsletter", "issue-2024-07-23"]
    assert body["from"] == {"email": "brief@bigmedia.example", "name": "BIG Media Morning Brief"}
    assert body["reply_to"] == {"email": "editors@bigmedia.example"}
    first = body["personalizations"][0]
    assert first["custom_args"]["issue"] == "2024-07-23"
    url = first["substitutions"][UNSUBSCRIBE_TOKEN]
    assert url.startswith("https://news.bigmedia.example/unsubscribe?t=")
    token = url.split("t=")[1]
    reader = audience.find_by_link(engine, b"test-secret", token)
    assert reader is not None and reader.email == first["to"][0]["email"]
    assert "example" not in base64.urlsafe_b64decode(token.split(".")[1] + "==").decode(
        "latin-1")  # the link says nothing of the address
    assert str(reader.id) == first["custom_args"]["subscriber"]
    assert first["headers"]["List-Unsubscribe"] == \
        f"<{url}>, <mailto:editors@bigmedia.example?subject=unsubscribe>"
    assert UNSUBSCRIBE_TOKEN in body["content"][1]["value"]  # filled by SendGrid, per recipient


def test_second_run_sends_nothing(engine: Engine, project: Project,
                                  sendgrid_env: FakeSendGrid) -> None:
    add_subscribers(engine, 10)
    run_send(engine, project)
    again = run_send(engine, project)
    assert again.already_done and again.sent == 0
    assert sendgrid_env.attempts == 1


def test_who_left_before_their_batch_is_skipped(engine: Engine, project: Project,
                                                sendgrid_env: FakeSendGrid) -> None:
    add_subscribers(engine, 5)
    email = example_email(project)
    ledger = Ledger(engine, "2024-07-23")  # an earlier run fixed the audience...
    ledger.begin("sendgrid", 1000, Content(email.digest, email.subject), Lease("earlier:1:a"))
    ledger.release_lease("earlier:1:a")
    audience.set_status(engine, "reader2@example.org", "unsubscribed")  # ...then one leaves
    report = run_send(engine, project)
    assert "reader2@example.org" not in sendgrid_env.recipients()
    assert report.counts["skipped"] == 1 and report.counts["sent"] == 4


def test_rate_limit_and_server_errors_are_retried(engine: Engine, project: Project,
                                                  sendgrid_env: FakeSendGrid) -> None:
    add_subscribers(engine, 3)
    sendgrid_env.then(error(429, "too many requests", None, **{"Retry-After": "0"}),
                      error(500, "internal error"), error(503, "unavailable"), Answer(drop=True))
    report = run_send(engine, project)
    assert sendgrid_env.attempts == 5
    assert sorted(sendgrid_env.recipients()) == [f"reader{n}@example.org" for n in range(3)]
    assert report.counts["sent"] == 3
    assert report.timeouts_retried == 1  # the dropped connection: its fate was unknown


@pytest.mark.parametrize(("status", "message"), [
    (400, "The from address does not match a verified Sender Identity."),
    (401, "The provided authorization grant is invalid, expired, or revoked"),
    (403, "access forbidden"),
    (413, "request entity too large"),
])
def test_refusals_stop_at_once_with_the_providers_words(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid, status: int,
        message: str) -> None:
    add_subscribers(engine, 3)
    sendgrid_env.then(error(status, message, "from.email"))
    with pytest.raises(TransportRejected) as caught:
        run_send(engine, project)
    text = str(caught.value)
    assert text.startswith(f"SendGrid answered {status}: {message} (from.email); the send stopped")
    assert caught.value.status == status  # what a caller decides on, not the words
    assert API_KEY not in text
    assert sendgrid_env.attempts == 1  # never retried
    status_now = Ledger(engine, "2024-07-23").status()
    assert status_now.counts["pending"] == 3 and status_now.counts["uncertain"] == 0
    run_send(engine, project)  # the cause fixed, the next run delivers
    assert sorted(sendgrid_env.recipients()) == [f"reader{n}@example.org" for n in range(3)]


def test_repeated_failures_pause_and_the_next_run_resumes(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid) -> None:
    everyone = add_subscribers(engine, 12)
    pub = with_delivery(project.publication, sendgrid={"batch_size": 3})
    sendgrid_env.then(Answer(), *[error(500, "down") for _ in range(20)])
    options = dataclasses.replace(FAST, max_attempts=2, max_failed_batches=2)
    with pytest.raises(SendPaused, match=r"paused after 2 failed batches \(last: batch \d: "
                                         r"SendGrid answered 500: down\)"):
        run_send(engine, project, publication=pub, options=options)
    assert len(sendgrid_env.recipients()) == 3
    sendgrid_env.script.clear()
    report = run_send(engine, project, publication=pub, options=options)
    assert sorted(sendgrid_env.recipients()) == sorted(everyone)
    assert duplicates(sendgrid_env.recipients()) == {}
    assert report.counts == {"pending": 0, "sent": 12, "skipped": 0, "failed": 0, "uncertain": 0}


def test_a_timeout_is_retried_and_flagged(engine: Engine, project: Project,
                                          sendgrid_env: FakeSendGrid) -> None:
    add_subscribers(engine, 2)
    pub = with_delivery(project.publication, sendgrid={"timeout": 0.2})
    sendgrid_env.then(Answer(delay=1.0))
    report = run_send(engine, project, publication=pub)
    assert report.timeouts_retried == 1 and report.counts["sent"] == 2
    [(_, note)] = Ledger(engine, "2024-07-23").errors()
    assert note.startswith("an earlier attempt got no answer")


def test_a_timeout_on_the_last_attempt_leaves_the_batch_uncertain(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid) -> None:
    add_subscribers(engine, 2)
    pub = with_delivery(project.publication, sendgrid={"timeout": 0.2})
    sendgrid_env.then(Answer(delay=1.0), Answer(delay=1.0))
    options = dataclasses.replace(FAST, max_attempts=2, max_failed_batches=1)
    with pytest.raises(SendPaused):
        run_send(engine, project, publication=pub, options=options)
    assert Ledger(engine, "2024-07-23").status().counts["uncertain"] == 2
    # The fake takes each slow request a second after it came, answered or not (as a
    # slow SendGrid may have): wait for both, then count only what comes after them.
    deadline = time.monotonic() + 10
    while len(sendgrid_env.accepted) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sendgrid_env.attempts == 2 and len(sendgrid_env.accepted) == 2
    sendgrid_env.accepted.clear()
    run_send(engine, project, publication=pub, options=options)  # not resent by default
    assert sendgrid_env.attempts == 2 and sendgrid_env.recipients() == []
    run_send(engine, project, publication=pub,
             options=dataclasses.replace(options, resend_uncertain=True))
    assert sendgrid_env.attempts == 3
    assert sorted(sendgrid_env.recipients()) == ["reader0@example.org", "reader1@example.org"]


@pytest.mark.parametrize("then", [error(500, "down"), error(429, "slow down"), error(503, "busy")],
                         ids=["500", "429", "503"])
def test_no_answer_then_a_sure_failure_leaves_the_batch_uncertain(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid, then: Answer) -> None:
    # The first try's answer was lost (the provider may have taken it); the last try
    # surely failed. The batch is not pending: a later run must not send it again unasked.
    add_subscribers(engine, 2)
    sendgrid_env.then(Answer(drop=True), then)
    options = dataclasses.replace(FAST, max_attempts=2, max_failed_batches=1)
    with pytest.raises(SendPaused, match="may have taken it"):
        run_send(engine, project, options=options)
    assert Ledger(engine, "2024-07-23").status().counts["uncertain"] == 2
    report = run_send(engine, project, options=options)
    assert sendgrid_env.attempts == 2 and report.sent == 0
    assert report.counts["uncertain"] == 2 and report.counts["pending"] == 0


def test_no_answer_then_a_refusal_stops_the_send_and_leaves_the_batch_uncertain(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid) -> None:
    add_subscribers(engine, 2)
    sendgrid_env.then(Answer(drop=True), error(400, "bad request"))
    with pytest.raises(TransportRejected, match="400: bad request.*may have taken it"):
        run_send(engine, project)
    counts = Ledger(engine, "2024-07-23").status().counts
    assert counts["uncertain"] == 2 and counts["pending"] == 0
    run_send(engine, project)  # the cause fixed: still not sent again unasked
    assert sendgrid_env.attempts == 2


def test_concurrent_requests_deliver_each_once(engine: Engine, project: Project,
                                               sendgrid_env: FakeSendGrid) -> None:
    everyone = add_subscribers(engine, 2000)
    pub = with_delivery(project.publication, sendgrid={"batch_size": 100})
    report = run_send(engine, project, publication=pub,
                      options=dataclasses.replace(FAST, concurrency=6))
    assert report.requests == 20 and len(sendgrid_env.accepted) == 20
    assert sorted(sendgrid_env.recipients()) == sorted(everyone)


def test_asm_group_replaces_our_unsubscribe_link(engine: Engine, project: Project,
                                                 sendgrid_env: FakeSendGrid,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSLETTER_SECRET")  # not needed when SendGrid handles unsubscribes
    add_subscribers(engine, 2)
    pub = with_delivery(project.publication, sendgrid={"asm_group_id": 42})
    run_send(engine, project, publication=pub)
    [body] = sendgrid_env.accepted
    assert body["asm"] == {"group_id": 42}
    assert "<%asm_group_unsubscribe_raw_url%>" in body["content"][1]["value"]
    # With a group, "Manage your subscription" is SendGrid's preferences page too.
    assert all("<%asm_preferences_raw_url%>" in part["value"] for part in body["content"])
    assert UNSUBSCRIBE_TOKEN not in json.dumps(body) and "%%manage_url%%" not in json.dumps(body)
    assert all("headers" not in p for p in body["personalizations"])


def test_with_a_group_the_greeting_is_the_only_substitution(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # SendGrid makes the links; the greeting is still ours, escaped as any value.
    monkeypatch.delenv("NEWSLETTER_SECRET")
    audience.add(engine, "quote@example.org", name='Zoë "Q" \\ Ünal')
    pub = with_delivery(project.publication, sendgrid={"asm_group_id": 42},
                        greeting="Hello, {name}!")
    email = Renderer(pub).render(project.render(project.resolve("2024-07-23")).parsed.issue)
    run_send(engine, project, publication=pub, email=email)
    [person] = sendgrid_env.accepted[0]["personalizations"]
    assert person["substitutions"] == {"%%greeting%%": 'Hello, Zoë "Q" \\ Ünal!',
                                       "%%greeting_html%%": "Hello, Zoë &quot;Q&quot; \\ Ünal!"}
    assert "headers" not in person


def test_greeting_is_a_per_recipient_substitution(engine: Engine, project: Project,
                                                  sendgrid_env: FakeSendGrid) -> None:
    add_subscribers(engine, 2)  # reader0 has no name, reader1 is "Reader 1"
    pub = with_delivery(project.publication, greeting="Good morning, {name}.")
    email = Renderer(pub).render(project.render(project.resolve("2024-07-23")).parsed.issue)
    run_send(engine, project, publication=pub, email=email)
    people = sendgrid_env.accepted[0]["personalizations"]
    assert [p["substitutions"]["%%greeting%%"] for p in people] == \
        ["Good morning.", "Good morning, Reader 1."]
    assert "%%greeting_html%%" in sendgrid_env.accepted[0]["content"][1]["value"]


ODD_NAMES = ['He said "hi" \\ then left', "Zoë Ünal 🦊", "</script>&amp;", "tab\there",
             "line\u2028sep", "José O'Brien"]


def test_every_value_reaches_sendgrid_exactly_as_stored(engine: Engine, project: Project,
                                                        sendgrid_env: FakeSendGrid) -> None:
    # The request body is written as JSON text, value by value: whatever a name or an
    # address holds, SendGrid must read back exactly what is stored.
    for n, name in enumerate(ODD_NAMES):
        audience.add(engine, f"odd{n}@example.org", name=name)
    audience.add(engine, "jörg@bücher.example", name="Jörg")
    pub = with_delivery(project.publication, greeting="Hello, {name}!")
    email = Renderer(pub).render(project.render(project.resolve("2024-07-23")).parsed.issue)
    run_send(engine, project, publication=pub, email=email)
    people = {p["to"][0]["email"]: p for p in sendgrid_env.accepted[0]["personalizations"]}
    for reader in audience.listing(engine):
        sent = people[reader.email]
        assert sent["to"] == [{"email": reader.email, "name": reader.name}]
        assert sent["custom_args"] == {"issue": "2024-07-23", "subscriber": str(reader.id)}
        assert sent["substitutions"]["%%greeting%%"] == f"Hello, {reader.name}!"
        assert sent["headers"]["List-Unsubscribe"].startswith(
            f"<{sent['substitutions']['%%unsubscribe_url%%']}>")


@pytest.mark.parametrize("greeting", [None, "Hi, {name}."])
def test_links_reach_sendgrid_as_the_personalizer_makes_them(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid,
        greeting: str | None) -> None:
    # The links' JSON is escaped once per send, around each reader's tokens: whatever
    # the link settings hold (non-ASCII, a query, a fragment, quotes, a backslash; set
    # here unchecked), every reader's links and header must read back exactly as made.
    for n in range(3):
        audience.add(engine, f"link{n}@example.org", name=None if n == 0 else f"Link {n}")
    pub = with_delivery(project.publication, greeting=greeting,
                        unsubscribe_url="https://bücher.example/ab?x=1&y=ü#ende",
                        unsubscribe_mailto='"leave"@bücher.example')
    pub = pub.model_copy(update={"readers": pub.readers.model_copy(
        update={"service_url": "https://zoë.example/lëser?q=a\\b"})})
    email = Renderer(pub).render(project.render(project.resolve("2024-07-23")).parsed.issue)
    transport = make_transport(project, publication=pub)
    assert isinstance(transport, SendGridTransport)
    run_send(engine, project, publication=pub, email=email)
    people = {p["to"][0]["email"]: p for p in sendgrid_env.accepted[0]["personalizations"]}
    assert len(people) == 3
    personalizer = transport.personalizer
    for reader in audience.listing(engine):
        recipient = Recipient(reader.id, reader.email, reader.name, reader.timezone,
                              reader.link_key)
        expected = personalizer.values(recipient)
        sent = people[reader.email]
        assert sent["substitutions"] == expected
        assert sent["headers"] == {"List-Unsubscribe": personalizer.list_unsubscribe(recipient)}


def test_no_address_and_no_key_reach_the_clients_log(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid,
        caplog: pytest.LogCaptureFixture) -> None:
    # httpx logs each request, and httpcore each step of it, at DEBUG: never a header
    # or a body, so a log at DEBUG holds no reader's address and no API key.
    add_subscribers(engine, 3)
    caplog.set_level(logging.DEBUG)
    # The command line quiets these two (cli.run): a program that logs at DEBUG gets them.
    for name in ("httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    run_send(engine, project)
    said = [r.getMessage() for r in caplog.records]
    assert any("/v3/mail/send" in line for line in said)  # the client's log was caught
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert not any("@example.org" in line or API_KEY in line for line in said)
    assert len(sendgrid_env.accepted[0]["personalizations"]) == 3


def test_proof_goes_only_to_the_given_addresses(engine: Engine, project: Project,
                                                sendgrid_env: FakeSendGrid) -> None:
    add_subscribers(engine, 5)
    transport = make_transport(project)
    assert proof(example_email(project), transport, ["Me@example.org", "me@example.org",
                                                     "you@example.org"]) == 2
    [body] = sendgrid_env.accepted
    assert sendgrid_env.recipients() == ["Me@example.org", "you@example.org"]
    assert body["subject"].startswith("[Proof] ")
    assert not Ledger(engine, "2024-07-23").exists()


def test_dry_run_touches_nothing(engine: Engine, project: Project,
                                 sendgrid_env: FakeSendGrid) -> None:
    add_subscribers(engine, 2500)
    transport = make_transport(project)
    plan = dry_run(engine, example_email(project), transport)
    assert (plan.recipients, plan.batches, plan.started) == (2500, 3, False)
    assert sendgrid_env.attempts == 0 and not Ledger(engine, "2024-07-23").exists()


def test_real_transports_need_the_secret(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    with pytest.raises(ConfigError, match="NEWSLETTER_SECRET is not set"):
        make_transport(project, "auto")


def test_the_strict_server_rejects_what_sendgrid_would(engine: Engine, project: Project,
                                                       sendgrid_env: FakeSendGrid) -> None:
    # The fake is only worth trusting if it does refuse bad requests.
    transport = make_transport(project)
    body = dict(transport.base_payload(example_email(project)))
    body["personalizations"] = [{"to": [{"email": "a@example.org"}, {"email": "A@example.org"}]}]
    body["content"] = list(reversed(body["content"]))
    with pytest.raises(TransportRejected) as caught:
        transport.post(body)
    assert "an address appears more than once" in str(caught.value)
    assert "text/plain must come before text/html" in str(caught.value)
    body = {"personalizations": [{"to": "nobody"}], "from": {}}
    with pytest.raises(TransportRejected, match="is not of type 'array'"):
        transport.post(body)


def test_worker_processes_deliver_each_once(engine: Engine, project: Project,
                                            sendgrid_env: FakeSendGrid) -> None:
    everyone = add_subscribers(engine, 900)
    pub = with_delivery(project.publication, sendgrid={"batch_size": 100})
    sendgrid_env.then(Answer(), error(500, "once"))  # a retry crosses the process boundary
    options = dataclasses.replace(FAST, workers=2, concurrency=3)
    # What crosses to the workers must pickle: the settings and environment, no project.
    factory = partial(transports.make, "sendgrid", pub, Environment.from_environ(),
                      outbox=project.outbox_dir)
    report = SendRun(engine, example_email(project), factory(), options, factory=factory).run()
    assert report.requests == 9 and sendgrid_env.attempts == 10
    assert sorted(sendgrid_env.recipients()) == sorted(everyone)


def test_workers_started_before_a_plan_that_fails_are_stopped(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A first run starts its workers while it plans. Here another run (alive, on this
    # host) takes the send in the moment between the first run looking and planning:
    # the plan is refused, and the workers must not outlive the refusal.
    add_subscribers(engine, 5)
    email = example_email(project)
    other = Ledger(engine, "2024-07-23")
    other.begin("sendgrid", 1000, Content(email.digest, email.subject), Lease("elsewhere:1:a"))
    monkeypatch.setattr(Ledger, "exists", lambda self: False)  # the moment before
    options = dataclasses.replace(FAST, workers=2)
    factory = partial(transports.make, "sendgrid", project.publication,
                      Environment.from_environ(), outbox=project.outbox_dir)
    with pytest.raises(DeliveryError, match="is being sent by another run"):
        SendRun(engine, email, factory(), options, factory=factory).run()
    assert multiprocessing.active_children() == []
    assert sendgrid_env.attempts == 0


def transport_here_only(publication: Publication, env: Environment,
                        outbox: Path) -> transports.Transport:
    """The SendGrid transport in the sending process; in a worker, the error a worker
    whose environment lacked the key would meet."""
    if multiprocessing.parent_process() is not None:
        raise ConfigError("SENDGRID_API_KEY is not set")
    return transports.make("sendgrid", publication, env, outbox=outbox)


def test_workers_that_cannot_start_stop_the_send_before_it_claims(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid) -> None:
    everyone = add_subscribers(engine, 5)
    email = example_email(project)
    options = dataclasses.replace(FAST, workers=2)
    failing = partial(transport_here_only, project.publication, Environment.from_environ(),
                      project.outbox_dir)
    with pytest.raises(DeliveryError, match=r"^the send's worker processes could not start: "
                                            r"ConfigError: SENDGRID_API_KEY is not set; "
                                            r"nothing was sent"):
        SendRun(engine, email, failing(), options, factory=failing).run()
    status = Ledger(engine, "2024-07-23").status()
    assert status.counts["pending"] == 5 and status.counts["uncertain"] == 0
    assert sendgrid_env.attempts == 0 and multiprocessing.active_children() == []
    working = partial(transports.make, "sendgrid", project.publication,
                      Environment.from_environ(), outbox=project.outbox_dir)
    report = SendRun(engine, email, working(), options, factory=working).run()
    assert report.sent == 5 and sorted(sendgrid_env.recipients()) == sorted(everyone)


def test_the_fake_refuses_to_run_without_the_schema(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    from tests.fakes import sendgrid_server

    monkeypatch.setattr(sendgrid_server, "SCHEMA_FILE", tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match="SendGrid's request schema is missing"):
        FakeSendGrid()
