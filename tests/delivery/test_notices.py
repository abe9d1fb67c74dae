"""A single message to one reader (the confirmation email), through every transport."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from newsletter.email.message import Notice
from newsletter.errors import TransportRejected
from newsletter.project import Project
from tests.delivery.test_send_smtp import Inbox, smtp_server  # noqa: F401 - a fixture
from tests.fakes.sendgrid_server import FakeSendGrid, error
from tests.helpers import make_transport

NOTICE = Notice("Zoë@bücher.example", "Zoë Ünal", "Confirm your subscription",
                "Open https://x.example/confirm?t=abc\n", "<p><a href='https://x.example/"
                "confirm?t=abc'>Confirm</a></p>", kind="confirm")


def test_the_outbox_writes_the_notice(project: Project, tmp_path: Path) -> None:
    make_transport(project, "outbox", outbox=tmp_path).send_notice(NOTICE)
    [path] = (tmp_path / "notices").glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert "confirm" in path.name and message["Subject"] == "Confirm your subscription"
    assert "xn--bcher-kva.example" in message["To"] and "Zoë" in str(message["To"])
    assert message.get_body(("plain",)).get_content().splitlines() == \
        NOTICE.text.splitlines()  # type: ignore[union-attr]
    assert message["Message-ID"].endswith("@bigmedia.example>")


def test_smtp_sends_the_notice(project: Project, smtp_server: Inbox) -> None:  # noqa: F811
    plain = Notice("ann@example.org", None, "Confirm", "text\n", "<p>html</p>")
    make_transport(project, "smtp").send_notice(plain)
    [message] = smtp_server.messages
    assert smtp_server.envelopes == [["ann@example.org"]]
    assert message["From"] == "BIG Media Morning Brief <brief@bigmedia.example>"
    assert message["Reply-To"] == "editors@bigmedia.example"


@pytest.mark.parametrize("smtp_server", [{"refuse": "ann@example.org"}], indirect=True)
def test_smtp_says_when_the_reader_is_refused(project: Project,
                                              smtp_server: Inbox) -> None:  # noqa: F811
    with pytest.raises(TransportRejected, match="550"):
        make_transport(project, "smtp").send_notice(
            Notice("ann@example.org", None, "Confirm", "t\n", "<p>h</p>"))


def test_sendgrid_sends_the_notice_untracked(project: Project,
                                             sendgrid_env: FakeSendGrid) -> None:
    make_transport(project, "sendgrid").send_notice(NOTICE)
    [body] = sendgrid_env.accepted  # the fake checks it against SendGrid's schema
    assert body["personalizations"] == [{"to": [{"email": NOTICE.to_email,
                                                 "name": NOTICE.to_name}]}]
    # Click tracking would send the confirmation link through SendGrid's own domain.
    assert body["tracking_settings"]["click_tracking"]["enable"] is False
    assert "confirm" in body["categories"]
    sendgrid_env.then(error(400, "The from address does not match a verified Sender",
                            "from"))
    with pytest.raises(TransportRejected, match="verified Sender"):
        make_transport(project, "sendgrid").send_notice(NOTICE)
