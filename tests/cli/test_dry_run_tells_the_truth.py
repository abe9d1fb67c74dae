"""A dry run answers what the send would answer, in every state a send can find: each
case below makes a state, asks `send --dry-run`, then runs the same `send` on the same
state, and compares what the two say (line by line, the dry run's first line read as the
send's) and their exit statuses."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import time_machine

from newsletter.api import Newsletter
from newsletter.cli.delivery import WOULD_LEAVE
from newsletter.store import db, events, overrides
from newsletter.store.events import Event, Kind
from newsletter.store.ledger import Ledger
from tests.fakes.sendgrid_server import Answer, FakeSendGrid, error
from tests.helpers import run

DAY = "2024-07-23"
# The send's first line, and the dry run's: both read as (what, issue, transport, n, m).
SENT = re.compile(r"sent (\S+) via (\S+) to ([\d,]+) recipients in [\d.]+ s "
                  r"\((\d+) requests?\)")
WOULD = re.compile(r"dry run \((?:new send|resuming)\) of (\S+) via (\S+): ([\d,]+) of "
                   r"[\d,]+ recipients left, in (\d+) batch(?:es)?; nothing was sent")
DONE = re.compile(r"(?:dry run: )?(\S+) was already sent \(([\d,]+) delivered\); "
                  "nothing to do")
NOT_SAID_BY_A_DRY_RUN = ("messages are in ", "sending to ", "progress: ")  # what it did
NOT_SAID_BY_THE_SEND = ("dry run: the provider would deliver",)


def said(out: str) -> list[tuple[str, ...] | str]:
    """What a run said, the first line made comparable and the lines only one of the
    two can say left out."""
    found: list[tuple[str, ...] | str] = []
    for line in out.splitlines():
        if line.startswith(NOT_SAID_BY_A_DRY_RUN + NOT_SAID_BY_THE_SEND):
            continue
        if match := SENT.fullmatch(line) or WOULD.fullmatch(line):
            found.append(("go", *match.groups()))
        elif match := DONE.fullmatch(line):
            found.append(("done", *match.groups()))
        elif line.startswith(WOULD_LEAVE):  # the dry run's figures, said to be the send's
            found.append(line.replace(WOULD_LEAVE, "ledger: ", 1))
        else:
            found.append(line)
    return found


@pytest.fixture
def readers(project_dir: Path, sendgrid_env: FakeSendGrid) -> FakeSendGrid:
    """Five readers, batches of two (three batches), a SendGrid that answers 202."""
    config = project_dir / "newsletter.yaml"
    config.write_text(config.read_text() + "delivery:\n  sendgrid:\n    batch_size: 2\n")
    for n in range(5):
        run("subscribers", "add", f"reader{n}@example.org")
    return sendgrid_env


def fresh(fake: FakeSendGrid, project_dir: Path) -> list[str]:
    return []


def already_sent(fake: FakeSendGrid, project_dir: Path) -> list[str]:
    assert run("send", DAY)[0] == 0
    return []


def paused(fake: FakeSendGrid, project_dir: Path) -> list[str]:
    """The first batch went, the next two failed every attempt: the send paused."""
    fake.then(Answer(), *[error(500, "mail backend down") for _ in range(4)])
    assert run("send", DAY, "--max-attempts", "1", "--concurrency", "1")[0] == 3
    return []


def uncertain(fake: FakeSendGrid, project_dir: Path) -> list[str]:
    """A batch whose request got no answer: the rest goes, that one stays uncertain."""
    fake.then(Answer(drop=True))
    assert run("send", DAY, "--max-attempts", "1", "--concurrency", "1")[0] == 3
    assert Ledger(Newsletter(project_dir / "newsletter.yaml").engine, DAY) \
        .status().counts["uncertain"] == 2
    return []


def uncertain_resent(fake: FakeSendGrid, project_dir: Path) -> list[str]:
    uncertain(fake, project_dir)
    return ["--resend-uncertain"]


def left_since(fake: FakeSendGrid, project_dir: Path) -> list[str]:
    """Paused, then a reader of a batch still to go left: the send skips them."""
    paused(fake, project_dir)
    assert run("subscribers", "remove", "reader4@example.org")[0] == 0
    return []


def changed(fake: FakeSendGrid, project_dir: Path) -> list[str]:
    """Paused, then the issue was edited: the send refuses to resume."""
    paused(fake, project_dir)
    issue = project_dir / "issues" / f"{DAY}.yaml"
    issue.write_text(issue.read_text().replace("subject: ", "subject: Edited, ", 1))
    return []


def lint_warning(fake: FakeSendGrid, project_dir: Path) -> list[str]:
    issue = project_dir / "issues" / f"{DAY}.yaml"
    issue.write_text(issue.read_text().replace("preheader:", "# preheader:", 1))
    return []


def unhealthy(fake: FakeSendGrid, project_dir: Path) -> list[str]:
    """Complaints above Gmail's 0.3% in the last sends: the health gate stops a new send."""
    newsletter = Newsletter(project_dir / "newsletter.yaml")
    with newsletter.engine.begin() as conn:
        conn.execute(db.sends.insert().values(
            issue="2024-07-20", transport="outbox", batch_size=100, planned=1000,
            created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2), sent_count=1000))
    events.record(newsletter.engine, [
        Event(f"h{n}", Kind.COMPLAINED if n < 4 else Kind.DELIVERED, "r1@example.org",
              "2024-07-20", None) for n in range(1000)])
    return []


def unhealthy_overridden(fake: FakeSendGrid, project_dir: Path) -> list[str]:
    unhealthy(fake, project_dir)
    return ["--override-health", "list cleaned on Monday"]


def scheduled(fake: FakeSendGrid, project_dir: Path) -> list[str]:
    return ["--at-send-time"]


def cannot_schedule(fake: FakeSendGrid, project_dir: Path) -> list[str]:
    return ["--at-send-time", "--transport", "outbox"]


Case = Callable[[FakeSendGrid, Path], list[str]]
CASES: list[Case] = [fresh, already_sent, paused, uncertain, uncertain_resent, left_since,
                     changed, lint_warning, unhealthy, unhealthy_overridden, scheduled,
                     cannot_schedule]
# The scheduled cases run the night before the issue's send time (06:00 in London).
BEFORE_SEND_TIME = dt.datetime(2024, 7, 23, 1, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
def test_a_dry_run_says_what_the_send_would(readers: FakeSendGrid, project_dir: Path,
                                            case: Case) -> None:
    with time_machine.travel(BEFORE_SEND_TIME if "schedul" in case.__name__ else
                             dt.datetime.now(dt.UTC), tick=True):
        args = case(readers, project_dir)
        before = readers.attempts
        dry_code, dry_out = run("send", DAY, *args, "--dry-run")
        assert readers.attempts == before  # a dry run asks the provider nothing
        engine = Newsletter(project_dir / "newsletter.yaml").engine
        assert overrides.listing(engine) == []  # nor keeps an override of the health gate
        code, out = run("send", DAY, *args)
    assert (dry_code, said(dry_out)) == (code, said(out)), f"{dry_out}\n---\n{out}"
    if case is scheduled:
        assert "dry run: the provider would deliver it at 2024-07-23 06:00 BST" in dry_out


def test_the_lines_are_the_publications_words(project_dir: Path) -> None:
    """The count's plural from the catalogue (no "batchs"), in German too."""
    run("subscribers", "add", "ann@example.org")
    assert "in 1 batch; nothing was sent" in run("send", DAY, "--dry-run")[1]
    for n in range(1, 3):
        run("subscribers", "add", f"reader{n}@example.org")
    config = project_dir / "newsletter.yaml"
    config.write_text(config.read_text() + "delivery:\n  outbox:\n    batch_size: 2\n")
    assert "3 of 3 recipients left, in 2 batches; nothing" in run("send", DAY, "--dry-run")[1]
    config.write_text(config.read_text().replace("locale: en-US", "locale: de-DE"))
    code, out = run("send", DAY, "--dry-run")
    assert code == 0 and out.splitlines()[1] == (
        "Probelauf (neuer Versand) von 2024-07-23 über outbox: 3 von 3 Empfängern offen, "
        "in 2 Paketen; nichts wurde gesendet")
    out = run("send", DAY)[1]
    assert "\n2024-07-23 über outbox an 3 Empfänger gesendet, in " in out
    assert "\ndie Nachrichten liegen in " in out
