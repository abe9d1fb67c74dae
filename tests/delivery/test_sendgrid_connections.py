"""The SendGrid transport keeps its connections open between requests: counted at a real
local server (the strict fake), over plain HTTP and over TLS, with a server that keeps
connections, one that closes each, and one that closes idle ones; and a closed transport
leaves no socket behind."""

from __future__ import annotations

import dataclasses
import gc
import ssl
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from sqlalchemy import Engine

from newsletter.delivery.send import SendReport
from newsletter.project import Project
from newsletter.store.ledger import Ledger
from newsletter.store.recipient import Recipient
from tests.fakes.sendgrid_server import Answer, FakeSendGrid
from tests.helpers import (
    FAST,
    add_subscribers,
    duplicates,
    example_email,
    make_transport,
    run_send,
    with_delivery,
)

BATCHES = 12


def send(engine: Engine, project: Project, fake: FakeSendGrid, concurrency: int,
         **options: object) -> SendReport:
    """A send of BATCHES batches of 10 at ``concurrency``; each answer takes 50 ms, so
    that the requests of a round are in flight together."""
    everyone = add_subscribers(engine, BATCHES * 10)
    fake.then(*[Answer(delay=0.05) for _ in range(BATCHES)])
    pub = with_delivery(project.publication, sendgrid={"batch_size": 10})
    report = run_send(engine, project, publication=pub,
                      options=dataclasses.replace(FAST, concurrency=concurrency, **options))
    assert report.requests == BATCHES and report.failed == 0 and not report.timeouts_retried
    assert sorted(fake.recipients()) == sorted(everyone) and not duplicates(fake.recipients())
    return report


@pytest.mark.parametrize("concurrency", [1, 3])
def test_batches_share_as_many_connections_as_the_send_makes_requests_at_once(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid, concurrency: int) -> None:
    send(engine, project, sendgrid_env, concurrency)
    assert sendgrid_env.connections == concurrency  # not one for each of the 12 batches


def test_a_server_that_keeps_no_connection_gets_one_for_each_request(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid) -> None:
    sendgrid_env.close_each = True  # "Connection: close" on every answer
    send(engine, project, sendgrid_env, 3)
    assert sendgrid_env.connections == BATCHES


def test_a_connection_the_server_closed_while_idle_is_opened_again_unseen(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid) -> None:
    # The server gives up a connection idle for 0.05 s; the send starts a request every
    # 0.5 s (its rate), so each request finds the connection it used closed, unless a
    # request took 0.45 s (one of 0.35 s on a loaded CI machine once kept one open).
    sendgrid_env.idle_timeout = 0.05
    send(engine, project, sendgrid_env, 1, rate=2.0)
    assert sendgrid_env.connections == BATCHES
    assert Ledger(engine, "2024-07-23").errors() == []  # no attempt failed, none was retried
    assert sendgrid_env.attempts == BATCHES  # and none was sent twice


def test_a_finished_send_leaves_no_connection_open(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid) -> None:
    send(engine, project, sendgrid_env, 3)
    assert wait_for(lambda: sendgrid_env.open_connections == 0)


def test_a_closed_transport_leaves_no_socket_for_the_collector(
        project: Project, sendgrid_env: FakeSendGrid) -> None:
    # The same steps without close() do leave sockets: the check can see them.
    assert unclosed_sockets(project, close=False) != []
    assert unclosed_sockets(project, close=True) == []
    assert wait_for(lambda: sendgrid_env.open_connections == 0)


def test_a_closed_transport_opens_a_connection_again_when_used(
        project: Project, sendgrid_env: FakeSendGrid) -> None:
    transport = make_transport(project)
    email = example_email(project)
    for address in ("ann@example.org", "bob@example.org"):
        transport.send(email, [recipient(address)])
        transport.close()
    assert len(sendgrid_env.accepted) == 2 and sendgrid_env.connections == 2


def test_over_tls_one_handshake_serves_every_batch(
        engine: Engine, project: Project, tls_sendgrid: FakeSendGrid) -> None:
    send(engine, project, tls_sendgrid, 1)
    assert tls_sendgrid.connections == 1


def test_a_certificate_not_trusted_is_a_failure_to_connect_and_nothing_is_sent(
        engine: Engine, project: Project, tls_sendgrid: FakeSendGrid,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")  # the system's store, which never heard of our CA
    add_subscribers(engine, 2)
    options = dataclasses.replace(FAST, max_attempts=1, max_failed_batches=1)
    with pytest.raises(Exception, match="cannot reach SendGrid: .*CERTIFICATE_VERIFY_FAILED"):
        run_send(engine, project, options=options)
    counts = Ledger(engine, "2024-07-23").status().counts
    assert counts.get("pending") == 2 and not counts.get("uncertain")  # surely not sent
    assert tls_sendgrid.attempts == 0


# -- helpers -------------------------------------------------------------------------------

@pytest.fixture
def tls_sendgrid(sendgrid_env: FakeSendGrid, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSendGrid]:
    """The strict fake behind TLS, with a certificate of a CA of the test's own, which
    the transport trusts the way it trusts a system's: through SSL_CERT_FILE."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = sendgrid_env.server
    server.socket = context.wrap_socket(server.socket, server_side=True)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SENDGRID_HOST", sendgrid_env.url.replace("http:", "https:"))
    yield sendgrid_env


def recipient(address: str) -> Recipient:
    return Recipient(1, address, link="0f" * 16)


def unclosed_sockets(project: Project, *, close: bool) -> list[str]:
    """The ResourceWarnings the collector gives once a used transport is dropped."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        transport = make_transport(project)
        transport.set_concurrency(2)
        transport.send(example_email(project), [recipient("ann@example.org")])
        if close:
            transport.close()
        del transport
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


def wait_for(condition, seconds: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
