"""At ``tracking: individual`` every transport fills each reader's click links and open
pixel with that reader's own token (``?r=``), in the HTML and the text; at ``aggregate``
no link carries a reader part and no value is sent."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine

from newsletter import tokens
from newsletter.clicks import READER
from newsletter.project import Project
from newsletter.store import subscribers as audience
from tests.conftest import with_ses_block
from tests.delivery.test_send_smtp import Inbox, smtp_server  # noqa: F401 (a fixture)
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.ses_server import FakeSes
from tests.helpers import add_subscribers, example_email, run_send, with_delivery

SECRET = b"test-secret"  # what the transports' fixtures set
_READER_PART = re.compile(r"/[co]/[A-Za-z0-9_.-]+\?r=([^\"'\s<>&]*)")


def _tracking(project_dir: Path, level: str) -> Project:
    path = project_dir / "newsletter.yaml"
    settings = yaml.safe_load(path.read_text())
    settings.setdefault("readers", {})["service_url"] = "https://readers.example.org"
    settings.update(tracking=level, open_pixel=True)
    path.write_text(yaml.safe_dump(settings, allow_unicode=True))
    return Project(path)


def _reader_parts(text: str) -> set[str]:
    return set(_READER_PART.findall(text))


def _check_own(message: email.message.EmailMessage, keys: dict[str, str]) -> str:
    """The one reader part of a whole message, checked to name its own reader; returned."""
    text, html = (p.get_content() for p in message.iter_parts())
    found = _reader_parts(text) | _reader_parts(html)
    assert len(found) == 1, found
    (part,) = found
    assert html.count(f"?r={part}") >= 3 and f"?r={part}" in text  # links and the pixel
    address = email.utils.parseaddr(message["To"])[1]
    assert tokens.read(SECRET, part, "reader").key == keys[address]
    return part


def _keys(engine: Engine) -> dict[str, str]:
    return {r.email: r.link_key for r in audience.listing(engine)}


def test_smtp_fills_each_reader_s_own_part(engine: Engine, project_dir: Path,
                                           smtp_server: Inbox) -> None:  # noqa: F811
    project = _tracking(project_dir, "individual")
    add_subscribers(engine, 3)
    assert run_send(engine, project, transport="smtp").counts["sent"] == 3
    parts = {_check_own(m, _keys(engine)) for m in smtp_server.messages}
    assert len(parts) == 3


def test_ses_fills_each_reader_s_own_part(engine: Engine, project_dir: Path,
                                          ses_env: FakeSes) -> None:
    with_ses_block(project_dir)
    project = _tracking(project_dir, "individual")
    add_subscribers(engine, 3)
    assert run_send(engine, project, "ses").sent == 3
    parts = {_check_own(email.message_from_string(d["raw_data"], policy=email.policy.default),
                        _keys(engine)) for d in ses_env.delivered()}
    assert len(parts) == 3


@pytest.mark.parametrize("asm", [False, True])
def test_sendgrid_substitutes_each_reader_s_own_part(engine: Engine, project_dir: Path,
                                                     sendgrid_env: FakeSendGrid,
                                                     asm: bool) -> None:
    project = _tracking(project_dir, "individual")
    add_subscribers(engine, 3)
    pub = with_delivery(project.publication, sendgrid={"asm_group_id": 42}) if asm else None
    run_send(engine, project, publication=pub, email=example_email(project))
    [body] = sendgrid_env.accepted
    assert all(part["value"].count(f"?r={READER}") >= 3 for part in body["content"][1:]) \
        and f"?r={READER}" in body["content"][0]["value"]
    keys = _keys(engine)
    made = set()
    for person in body["personalizations"]:
        given = person["substitutions"][READER]
        assert tokens.read(SECRET, given, "reader").key == keys[person["to"][0]["email"]]
        made.add(given)
    assert len(made) == 3


@pytest.mark.parametrize("level", ["aggregate", "off"])
def test_at_aggregate_and_off_no_link_names_a_reader(engine: Engine, project_dir: Path,
                                                     smtp_server: Inbox,  # noqa: F811
                                                     level: str) -> None:
    project = _tracking(project_dir, level)
    add_subscribers(engine, 2)
    run_send(engine, project, transport="smtp")
    assert len(smtp_server.messages) == 2
    for message in smtp_server.messages:
        whole = "".join(p.get_content() for p in message.iter_parts())
        tracked = level == "aggregate"  # through the service, but by no reader
        assert ("/c/" in whole and "/o/" in whole) is tracked
        assert "?r=" not in whole and READER not in whole and "%%" not in whole


def test_at_aggregate_sendgrid_gets_no_reader_value(engine: Engine, project_dir: Path,
                                                    sendgrid_env: FakeSendGrid) -> None:
    project = _tracking(project_dir, "aggregate")
    add_subscribers(engine, 2)
    run_send(engine, project, email=example_email(project))
    [body] = sendgrid_env.accepted
    assert READER not in str(body) and "?r=" not in str(body)
