"""What a relay or a provider says is kept without the addresses in it: in the ledger,
the send's report and the log. A class of messages through the function, then a real
SMTP server (aiosmtpd) and the stand-in SendGrid that quote the reader's address."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from newsletter.errors import TransportRejected
from newsletter.project import Project
from newsletter.redact import PLACEHOLDER, addresses
from newsletter.store import subscribers as store
from newsletter.store.ledger import Ledger
from tests.fakes.sendgrid_server import FakeSendGrid, error
from tests.helpers import run_send

# (what the relay said, what is kept): the address in each spelling a relay uses.
MESSAGES = [
    ("550 5.1.1 <ann@example.org>: Recipient address rejected",
     "550 5.1.1 <[address]>: Recipient address rejected"),
    ("550 5.1.1 ann@example.org... User unknown", "550 5.1.1 [address]... User unknown"),
    ("550 ANN.SMITH@EXAMPLE.ORG: mailbox unavailable", "550 [address]: mailbox unavailable"),
    ('553 5.1.3 "ann smith"@example.org: not allowed', "553 5.1.3 [address]: not allowed"),
    ('553 <"a\\"b"@example.org> bad', "553 <[address]> bad"),
    ("550 josé@exámple.org unknown", "550 [address] unknown"),
    ("550 josé@xn--exmple-qta.org unknown", "550 [address] unknown"),
    ("550 用户@例子.广告 unknown", "550 [address] unknown"),
    ("451 4.7.1 <o'brien+news@mail.example.co.uk>: greylisted",
     "451 4.7.1 <[address]>: greylisted"),
    ("refused: 'ann@example.org' is on a list.", "refused: '[address]' is on a list."),
    ("mailbox of ann@example.org.", "mailbox of [address]."),
    ("550 ann@[192.0.2.1] no relaying", "550 [address] no relaying"),
    ("see https://relay.example/why?rcpt=ann%40example.org", "see https:[address]"),
    ("550 <a@example.org>, <b@example.org>: both refused",
     "550 <[address]>, <[address]>: both refused"),
]


@pytest.mark.parametrize(("said", "kept"), MESSAGES)
def test_every_spelling_of_an_address_is_replaced(said: str, kept: str) -> None:
    assert addresses(said) == kept


@pytest.mark.parametrize("said", [
    "250 2.0.0 Ok: queued as 4F2B1C", "421 4.7.0 Try again later, closing connection.",
    "550 5.7.1 see https://support.example/mail/?p=NoSuchUser", "user @ host is not one",
])
def test_messages_without_an_address_are_kept_as_they_are(said: str) -> None:
    assert addresses(said) == said


SPACES = [chr(code) for code in range(0x110000) if chr(code).isspace()]


@pytest.mark.parametrize("space", SPACES, ids=[f"U+{ord(c):04X}" for c in SPACES])
def test_every_kind_of_space_ends_an_address(space: str) -> None:
    said = f"550{space}ann@example.org{space}unknown{space}<bob@example.org>"
    assert addresses(said) == f"550{space}{PLACEHOLDER}{space}unknown{space}<{PLACEHOLDER}>"


MiB = 1024 * 1024
# Text of a megabyte in the shapes that make a backtracking engine retry every start
# (a run of 60,000 letters with no "@" took 20 s): each is read in one pass, and what is
# kept is what a short text of the same shape keeps.
LONG = [("x" * MiB, "x" * MiB), ("'" * MiB, "'" * MiB), ("a%4" * (MiB // 3), "a%4" * (MiB // 3)),
        ("x@" + "." * MiB, "x@" + "." * MiB), ('"\\' * (MiB // 2), '"\\' * (MiB // 2)),
        ('"' * MiB, '"' * MiB), ("é" * MiB + "@", "é" * MiB + "@"),
        ("<a@b.c> " * (MiB // 8), f"<{PLACEHOLDER}> " * (MiB // 8)),
        ("x" * MiB + "@example.org", PLACEHOLDER)]


@pytest.mark.parametrize(("said", "kept"), LONG, ids=[said[:6] for said, _ in LONG])
def test_a_megabyte_of_any_shape_is_read_in_one_pass(said: str, kept: str) -> None:
    assert addresses(said) == kept


class Refusing:
    """An SMTP server that refuses readers whose address starts ``no``, quoting the
    address back as relays do, and refuses the whole message for ``stop@...``."""

    async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        if address.lower().startswith("no"):
            return f"550 5.1.1 <{address}>: Recipient address rejected ({address.upper()})"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if envelope.rcpt_tos[0].startswith("stop"):
            return f"554 5.7.1 <{envelope.mail_from}>: Sender address rejected"
        return "250 Message accepted"


@pytest.fixture
def relay(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    for name, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port),
                        "SMTP_SECURITY": "none", "NEWSLETTER_SECRET": "x" * 32}.items():
        monkeypatch.setenv(name, value)
    yield
    controller.stop()


def test_a_relays_refusals_are_kept_without_the_addresses(
        engine: Engine, project: Project, relay: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "newsletter")
    refused = ["nobody@example.org", "no.one@bücher.example", "NoMore@Example.org"]
    for address in [*refused, "reader@example.org"]:
        store.add(engine, address)
    report = run_send(engine, project, transport="smtp")
    reasons = [why for _, why in Ledger(engine, "2024-07-23").errors()]
    assert report.counts["sent"] == 1 and report.counts["failed"] == 3 and len(reasons) == 3
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("newsletter")]
    kept = " ".join([*reasons, *report.errors, *ours])
    assert all(why.endswith(": 550 5.1.1 <[address]>: Recipient address rejected ([address])"
                            " (refused for good: sending again will not reach them)")
               for why in reasons)
    assert "@" not in kept and "xn--" not in kept


def test_a_relay_that_refuses_the_message_is_quoted_without_the_sender(
        engine: Engine, project: Project, relay: None) -> None:
    store.add(engine, "stop@example.org")
    with pytest.raises(TransportRejected) as caught:
        run_send(engine, project, transport="smtp")
    assert "554 5.7.1 <[address]>: Sender address rejected" in str(caught.value)
    assert "@" not in str(caught.value)


def test_sendgrids_own_words_are_kept_without_the_address(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid) -> None:
    store.add(engine, "ann@example.org")
    sendgrid_env.then(error(400, "Does not contain a valid address: Ann@Example.org",
                            "personalizations.0.to.0.email"))
    with pytest.raises(TransportRejected) as caught:
        run_send(engine, project)
    assert str(caught.value).startswith(
        f"SendGrid answered 400: Does not contain a valid address: {PLACEHOLDER} "
        "(personalizations.0.to.0.email)")
    assert "@" not in str(caught.value)
