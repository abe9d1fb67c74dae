"""Outbox files are named by a hash of the address, never the address: the longest valid
address (254 characters) is written like any other, an issue and a notice alike."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

from sqlalchemy import Engine

from newsletter.delivery.providers.outbox.transport import file_name
from newsletter.email.message import Notice
from newsletter.project import Project
from newsletter.store import subscribers as store
from tests.helpers import make_transport, run_send

# 64 characters before the @ (the most allowed), 189 after: 254 in all, the longest valid.
LONGEST = f"{'l' * 64}@{'a' * 63}.{'b' * 63}.{'c' * 53}.example"


def test_the_longest_address_is_valid_and_named_like_any_other() -> None:
    assert len(LONGEST) == 254
    assert len(file_name(LONGEST)) == len(file_name("a@example.org")) == 36
    assert file_name(LONGEST) != file_name(LONGEST.replace("l", "m", 1))


def test_an_issue_to_the_longest_address_is_written(engine: Engine, project: Project,
                                                    tmp_path: Path) -> None:
    store.add(engine, LONGEST)
    assert run_send(engine, project, transport="outbox", outbox=tmp_path).complete
    [written] = (tmp_path / "2024-07-23").iterdir()
    assert written.name == file_name(LONGEST)
    message = email.message_from_bytes(written.read_bytes(), policy=policy.default)
    assert str(message["To"]) == LONGEST


def test_a_notice_to_the_longest_address_is_written(project: Project, tmp_path: Path) -> None:
    notice = Notice(LONGEST, None, "Confirm", "Open the link\n", "<p>Open the link</p>",
                    kind="confirm")
    make_transport(project, "outbox", outbox=tmp_path).send_notice(notice)
    [written] = (tmp_path / "notices").iterdir()
    assert written.name.endswith(f"-confirm-{file_name(LONGEST)}")
    assert "@" not in written.name and "lll" not in written.name
