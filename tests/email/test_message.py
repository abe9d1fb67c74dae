"""email.eml parsed back with the standard library: a complete, well-formed message."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

from newsletter.email import message
from newsletter.email.output import write_build
from newsletter.project import Project
from tests.helpers import EXAMPLE_DAY


def built(project: Project, out: Path) -> tuple[email.message.EmailMessage, bytes]:
    rendered = project.render(project.resolve(EXAMPLE_DAY))
    write_build(rendered.email, project.publication, out)
    raw = (out / "email.eml").read_bytes()
    return email.message_from_bytes(raw, policy=policy.default), raw


def test_eml_headers_and_structure(project: Project, tmp_path: Path) -> None:
    msg, raw = built(project, tmp_path)
    assert msg["From"] == "BIG Media Morning Brief <brief@bigmedia.example>"
    assert msg["To"] == message.PLACEHOLDER_TO
    assert msg["Reply-To"] == "editors@bigmedia.example"
    assert msg["Subject"] == "Putin raises the prospect of arming North Korea"
    # 06:00 in London on a July day is 06:00 +0100 (summer time).
    assert msg["Date"] == "Tue, 23 Jul 2024 06:00:00 +0100"
    assert msg["Message-ID"].startswith("<2024-07-23.") and msg["Message-ID"].endswith("@bigmedia.example>")
    assert msg["MIME-Version"] == "1.0"
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_eml_bodies_equal_the_built_files(project: Project, tmp_path: Path) -> None:
    msg, _ = built(project, tmp_path)
    text, html = (p.get_content() for p in msg.iter_parts())
    assert text.replace("\r\n", "\n") == (tmp_path / "email.txt").read_text()
    assert html.replace("\r\n", "\n") == (tmp_path / "email.html").read_text()


def test_eml_is_deterministic(project: Project, tmp_path: Path) -> None:
    _, first = built(project, tmp_path / "a")
    _, second = built(Project(project.config), tmp_path / "b")
    assert first == second
