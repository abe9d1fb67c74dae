"""Sending over SMTP to a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email
import socket
import ssl
import threading
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import Engine

from newsletter.errors import TransportRejected
from newsletter.project import Project
from newsletter.store import subscribers as store
from newsletter.store.ledger import Ledger
from tests.helpers import FAST, add_subscribers, run, run_send

trustme = pytest.importorskip("trustme")


class Inbox:
    """Collects what arrives; can refuse an address or hang up after some messages."""

    def __init__(self, refuse: str | None = None, hang_up_every: int = 0,
                 answers: dict[str, list[str]] | None = None) -> None:
        self.messages: list[email.message.EmailMessage] = []
        # Scripted answers to RCPT per address, one used each time; then 250.
        self.answers = {address: list(said) for address, said in (answers or {}).items()}
        self.envelopes: list[list[str]] = []
        self.sessions: set[int] = set()
        self.refuse = refuse
        self.hang_up_every = hang_up_every
        self.utf8: list[bool] = []  # whether each message came with SMTPUTF8
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address == self.refuse:
            return "550 5.1.1 mailbox unavailable"
        if self.answers.get(address):
            return self.answers[address].pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.utf8.append(bool(envelope.smtp_utf8))
            self.sessions.add(id(session))
            self.envelopes.append(list(envelope.rcpt_tos))
            self.messages.append(email.message_from_bytes(envelope.content,
                                                          policy=policy.default))
            count = len(self.messages)
        if self.hang_up_every and count % self.hang_up_every == 0:
            # Like a relay with a per-connection message limit: answer, then hang up.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 Message accepted"


def _free_port() -> int:
    # aiosmtpd's Controller checks readiness by connecting to its port, so it needs a
    # real number up front rather than 0.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and \
        (auth_data.login, auth_data.password) == (b"newsletter", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
                tmp_path: Path) -> Iterator[Inbox]:
    options = getattr(request, "param", {})
    inbox = Inbox(options.get("refuse"), options.get("hang_up_every", 0),
                  options.get("answers"))
    kwargs: dict[str, object] = {}
    if options.get("tls") or options.get("implicit_tls"):
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(server_context)
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        monkeypatch.setenv("SMTP_CA_FILE", str(ca_file))
    if options.get("implicit_tls"):
        kwargs = {"ssl_context": server_context}
        monkeypatch.setenv("SMTP_SECURITY", "tls")
    elif options.get("tls"):
        kwargs = {"tls_context": server_context, "require_starttls": True,
                  "authenticator": _authenticator, "auth_required": True}
        monkeypatch.setenv("SMTP_SECURITY", "starttls")
        monkeypatch.setenv("SMTP_USERNAME", "newsletter")
        monkeypatch.setenv("SMTP_PASSWORD", options.get("password", "s3cret"))
    else:
        monkeypatch.setenv("SMTP_SECURITY", "none")
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(),
                            enable_SMTPUTF8=options.get("smtputf8", False), **kwargs)
    controller.start()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(controller.port))
    monkeypatch.setenv("NEWSLETTER_SECRET", "test-secret")
    yield inbox
    controller.stop()


def test_one_personal_message_each_over_one_connection(engine: Engine, project: Project,
                                                       smtp_server: Inbox) -> None:
    everyone = add_subscribers(engine, 4)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    report = run_send(engine, project, transport="auto")
    assert report.transport == "smtp" and report.counts["sent"] == 4
    # Dated when made, not at the (long past) issue's send time.
    assert all(before <= m["Date"].datetime <= dt.datetime.now(dt.UTC)
               for m in smtp_server.messages)
    assert sorted(e[0] for e in smtp_server.envelopes) == sorted(everyone)
    assert len(smtp_server.sessions) == 1  # the connection was reused
    links = set()
    for msg in smtp_server.messages:
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        text, html = (p.get_content() for p in msg.iter_parts())
        assert "%%" not in text + html
        unsubscribe = msg["List-Unsubscribe"].split(">")[0].lstrip("<")
        assert unsubscribe in html and unsubscribe in text
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        links.add(unsubscribe)
    assert len(links) == 4  # each reader their own link
    assert {m["To"] for m in smtp_server.messages} >= {"Reader 1 <reader1@example.org>"}


@pytest.mark.parametrize("smtp_server", [{"tls": True}], indirect=True)
def test_starttls_and_login(engine: Engine, project: Project, smtp_server: Inbox) -> None:
    add_subscribers(engine, 2)
    assert run_send(engine, project, transport="smtp").counts["sent"] == 2
    assert len(smtp_server.messages) == 2


@pytest.mark.parametrize("smtp_server", [{"implicit_tls": True}], indirect=True)
def test_implicit_tls(engine: Engine, project: Project, smtp_server: Inbox) -> None:
    add_subscribers(engine, 2)
    assert run_send(engine, project, transport="smtp").counts["sent"] == 2
    assert len(smtp_server.messages) == 2


@pytest.mark.parametrize("smtp_server", [{"tls": True, "password": "wrong"}], indirect=True)
def test_bad_login_stops_the_send(engine: Engine, project: Project, smtp_server: Inbox) -> None:
    add_subscribers(engine, 2)
    with pytest.raises(TransportRejected, match="SMTP login refused: 535"):
        run_send(engine, project, transport="smtp")
    assert smtp_server.messages == []
    assert Ledger(engine, "2024-07-23").status().counts["pending"] == 2


@pytest.mark.parametrize("smtp_server", [{"refuse": "reader1@example.org"}], indirect=True)
def test_a_refused_recipient_is_recorded_failed(engine: Engine, project: Project,
                                                smtp_server: Inbox) -> None:
    add_subscribers(engine, 3)
    report = run_send(engine, project, transport="smtp")
    assert report.counts == {"pending": 0, "sent": 2, "skipped": 0, "failed": 1, "uncertain": 0}
    [(_, why)] = Ledger(engine, "2024-07-23").errors()
    assert "550 5.1.1 mailbox unavailable" in why


@pytest.mark.parametrize("smtp_server", [{"hang_up_every": 2}], indirect=True)
def test_reconnects_when_the_server_hangs_up(engine: Engine, project: Project,
                                             smtp_server: Inbox) -> None:
    everyone = add_subscribers(engine, 5)
    report = run_send(engine, project, transport="smtp")
    assert report.counts["sent"] == 5
    assert sorted(e[0] for e in smtp_server.envelopes) == sorted(everyone)  # none twice
    assert len(smtp_server.sessions) >= 3


INTERNATIONAL = ["josé@exámple.org", "jörg@bücher.example", "ann@bücher.example"]


@pytest.mark.parametrize("smtp_server", [{"smtputf8": True}], indirect=True)
def test_international_addresses_travel_with_smtputf8(engine: Engine, project: Project,
                                                      smtp_server: Inbox) -> None:
    for address in INTERNATIONAL:
        store.add(engine, address, name="Zoë\nLine")
    report = run_send(engine, project, transport="smtp")
    assert report.complete and report.counts["sent"] == 3
    envelopes = sorted(e[0] for e in smtp_server.envelopes)
    # An ASCII local part goes in plain ASCII (the domain in IDNA); the others as UTF-8.
    assert envelopes == ["ann@xn--bcher-kva.example", "josé@xn--exmple-qta.org",
                         "jörg@xn--bcher-kva.example"]
    assert sorted(smtp_server.utf8) == [False, True, True]
    assert {m["To"] for m in smtp_server.messages} >= {"Zoë Line <josé@xn--exmple-qta.org>"}


def test_without_smtputf8_only_those_addresses_fail(engine: Engine, project: Project,
                                                    smtp_server: Inbox) -> None:
    for address in [*INTERNATIONAL, "plain@example.org"]:
        store.add(engine, address)
    report = run_send(engine, project, transport="smtp")
    assert report.counts["sent"] == 2 and report.counts["failed"] == 2
    assert not report.complete and report.failed == 2
    assert sorted(e[0] for e in smtp_server.envelopes) == ["ann@xn--bcher-kva.example",
                                                            "plain@example.org"]
    assert any("needs SMTPUTF8" in error for error in report.errors)
    assert not any("@" in error for error in report.errors)  # no address is kept


GREYLISTED = "450 4.2.0 <reader1@example.org>: Recipient address rejected: Greylisted"


@pytest.mark.parametrize("smtp_server", [{"answers": {"reader1@example.org": [GREYLISTED]}}],
                         indirect=True)
def test_a_greylisted_reader_gets_the_issue_later_in_the_same_run(
        engine: Engine, project: Project, smtp_server: Inbox) -> None:
    everyone = add_subscribers(engine, 3)
    options = dataclasses.replace(FAST, retry_deferred_after=0.01)
    report = run_send(engine, project, transport="smtp", options=options)
    assert report.complete and report.counts["sent"] == 3 and report.counts["failed"] == 0
    assert sorted(e[0] for e in smtp_server.envelopes) == sorted(everyone)  # none twice
    assert report.deferred == 0
    assert any(e.startswith("held for a later attempt: 450 4.2.0 <[address]>") for e in
               report.errors)


@pytest.mark.parametrize("smtp_server", [{"answers": {"reader1@example.org": [GREYLISTED] * 2}}],
                         indirect=True)
def test_a_reader_still_held_waits_for_the_next_run_with_the_servers_words(
        engine: Engine, project: Project, smtp_server: Inbox) -> None:
    everyone = add_subscribers(engine, 3)
    options = dataclasses.replace(FAST, retry_deferred_after=0.01)
    first = run_send(engine, project, transport="smtp", options=options)
    assert first.counts == {"pending": 1, "sent": 2, "skipped": 0, "failed": 0,
                            "uncertain": 0}
    assert first.deferred == 1 and first.failed == 0 and not first.complete
    [(_, why)] = Ledger(engine, "2024-07-23").errors()
    assert why.endswith("450 4.2.0 <[address]>: Recipient address rejected: Greylisted")
    second = run_send(engine, project, transport="smtp", options=options)
    assert second.complete and second.counts["sent"] == 3
    assert sorted(e[0] for e in smtp_server.envelopes) == sorted(everyone)


@pytest.mark.parametrize("smtp_server", [{"answers": {"reader1@example.org": [
    "552 5.2.2 <reader1@example.org>: mailbox full"]}}], indirect=True)
def test_a_final_refusal_says_so_and_no_run_sends_again(
        engine: Engine, project: Project, smtp_server: Inbox,
        monkeypatch: pytest.MonkeyPatch) -> None:
    add_subscribers(engine, 3)
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    code, out = run("send", "2024-07-23", "--transport", "smtp")
    assert code == 3
    assert "error: 552 5.2.2 <[address]>: mailbox full (refused for good: sending again " \
        "will not reach them)" in out
    assert out.rstrip().splitlines()[-1] == (
        "Error: 2024-07-23 is not complete: 1 failed in this run, refused for good by the "
        "provider (see `newsletter status 2024-07-23`); sending again will not reach them")
    assert "run the same command again" not in out
    report = run_send(engine, project, transport="smtp")
    assert report.already_done and report.sent == 0 and report.counts["failed"] == 1
    assert len(smtp_server.envelopes) == 2  # the refused reader was not tried again
