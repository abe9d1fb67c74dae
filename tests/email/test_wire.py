"""The message on the wire: line lengths, folding, List-Id, headings, the hidden preheader,
image widths, and what SpamAssassin's local rules make of it."""

from __future__ import annotations

import datetime as dt
import email
import re
import shutil
import subprocess
from email import policy
from pathlib import Path

import lxml.html
import pytest
from sqlalchemy import Engine

from newsletter.delivery.providers.outbox.transport import file_name
from newsletter.email.output import write_build
from newsletter.project import Project
from newsletter.store import subscribers as store
from tests.helpers import EXAMPLE_DAY, need, run_send


@pytest.fixture
def messages(engine: Engine, project: Project, tmp_path: Path) -> list[bytes]:
    """The built email.eml of each example issue, and a personal message of each."""
    store.add(engine, "ann@example.org", name="Ann Example")
    found = []
    for path in project.issue_files():
        rendered = project.render(path)
        out = tmp_path / "built" / path.stem
        write_build(rendered.email, project.publication, out)
        found.append((out / "email.eml").read_bytes())
        run_send(engine, project, transport="outbox", email=rendered.email, outbox=tmp_path)
        found.append((tmp_path / path.stem / file_name("ann@example.org")).read_bytes())
    return found


def test_body_lines_fit_rfc_2045_and_headers_are_folded(messages: list[bytes]) -> None:
    for raw in messages:
        head, _, body = raw.partition(b"\r\n\r\n")
        assert max(len(line) for line in body.split(b"\r\n")) <= 76
        long_headers = [line for line in head.split(b"\r\n") if len(line) > 78]
        # Only a List-Unsubscribe URL may be longer: it has nowhere to fold.
        assert all(line.startswith(b"List-Unsubscribe: <https://") for line in long_headers)


def test_list_headers_are_there_and_parse(messages: list[bytes]) -> None:
    for raw in messages:
        message = email.message_from_bytes(raw, policy=policy.default)
        assert message["List-Id"] == '"BIG Media" <brief.bigmedia.example>'
        if message["To"] != "undisclosed-recipients:;":
            urls = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
            assert urls[0].startswith("https://news.bigmedia.example/unsubscribe?t=")
            assert urls[1].startswith("mailto:")


def test_headlines_are_headings_and_the_preheader_uses_no_colour_trick(
        project: Project) -> None:
    rendered = project.render(project.resolve(EXAMPLE_DAY))
    page = lxml.html.document_fromstring(rendered.email.html)
    issue = rendered.parsed.issue
    assert [h.text_content() for h in page.iter("h1")] == [issue.lead.headline]
    assert [h.text_content() for h in page.iter("h3")] == \
        [item.headline for section in issue.sections for item in section.items]
    hidden = page.body[0].get("style").replace(" ", "")
    assert "display:none" in hidden and "color" not in hidden


def test_the_image_is_no_wider_than_its_column(project: Project) -> None:
    rendered = project.render(project.resolve("2024-07-24"))  # the issue with an image
    [image] = lxml.html.document_fromstring(rendered.email.html).iter("img")
    assert int(image.get("width")) <= 552


def spam_score(raw: bytes) -> tuple[float, str]:
    report = subprocess.run(["spamassassin", "-L", "-t"], input=raw, capture_output=True,
                            timeout=120).stdout.decode("utf-8", "replace")
    found = re.search(r"Content analysis details:\s+\((-?[\d.]+) points", report)
    assert found, report[-2000:]
    return float(found.group(1)), report.split("Content analysis details:")[1]


def test_spamassassin_scores_every_message_at_most_1(messages: list[bytes]) -> None:
    need(shutil.which("spamassassin") is not None, "Debian's spamassassin")
    for raw in messages:
        score, rules = spam_score(raw)
        assert score <= 1.0, rules


def test_a_comma_inside_the_unsubscribe_url_stays_in_it(engine: Engine, project_dir: Path,
                                                        tmp_path: Path) -> None:
    config = project_dir / "newsletter.yaml"
    config.write_text(config.read_text() + "delivery:\n  unsubscribe_url: "
                      "https://x.example/u?lists=a,b&x=1\n")
    project = Project(config)
    store.add(engine, "ann@example.org")
    run_send(engine, project, transport="outbox", outbox=tmp_path)
    raw = (tmp_path / EXAMPLE_DAY / file_name("ann@example.org")).read_bytes()
    message = email.message_from_bytes(raw, policy=policy.default)
    urls = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    assert urls[0].startswith("https://x.example/u?lists=a,b&x=1&t=v4.")
    assert " " not in urls[0] and urls[1].startswith("mailto:")


def test_a_message_sent_late_is_dated_when_it_was_made(engine: Engine, project: Project,
                                                      tmp_path: Path) -> None:
    """A resumed or late send of July's issue in November says November: the Date is
    when the message was made, so SpamAssassin finds no date in the past."""
    store.add(engine, "ann@example.org", name="Ann Example")
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    run_send(engine, project, transport="outbox", outbox=tmp_path)
    raw = (tmp_path / EXAMPLE_DAY / file_name("ann@example.org")).read_bytes()
    sent = email.message_from_bytes(raw, policy=policy.default)["Date"].datetime
    assert before <= sent <= dt.datetime.now(dt.UTC)
    assert before.date().isoformat() > EXAMPLE_DAY  # the issue itself is long past
    need(shutil.which("spamassassin") is not None, "Debian's spamassassin")
    score, rules = spam_score(raw)
    assert "DATE_IN_PAST" not in rules and "DATE_IN_FUTURE" not in rules, rules
    assert score <= 1.0, rules


def test_a_build_keeps_the_issue_send_time_and_its_bytes(project: Project,
                                                          tmp_path: Path) -> None:
    rendered = project.render(project.resolve(EXAMPLE_DAY))
    made = []
    for out in (tmp_path / "a", tmp_path / "b"):
        write_build(rendered.email, project.publication, out)
        made.append((out / "email.eml").read_bytes())
    assert made[0] == made[1]
    assert b"\r\nDate: Tue, 23 Jul 2024 06:00:00 +0100\r\n" in made[0]
