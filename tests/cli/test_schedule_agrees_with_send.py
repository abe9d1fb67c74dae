"""`schedule` calls an issue ready exactly when `send` would take it, and says why not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import time_machine

from newsletter.api import Newsletter
from tests.helpers import GOOD_ISSUE, run

NOW = dt.datetime(2024, 7, 23, 12, 0, tzinfo=dt.UTC)  # 2024-07-23 is sent, the rest to come


def good(day: str) -> str:
    return GOOD_ISSUE.replace("2024-08-01", day)


@pytest.fixture
def files(project_dir: Path) -> dict[str, str]:
    """One issue file of each kind, by date, and the state schedule must give it."""
    (project_dir / "people.csv").write_text("email\nann@example.org\n")
    assert run("subscribers", "import", "people.csv")[0] == 0
    issues = project_dir / "issues"
    for extra in ("2024-07-24.yaml", "2024-07-25.yaml"):
        (issues / extra).unlink()  # the fixture's: made again below, one of each kind
    (issues / "2024-07-24.yaml").write_text(good("2024-07-24"))
    (issues / "2024-07-25.yaml").write_text(good("2024-07-25").replace("lead:", "lead: [oops"))
    with time_machine.travel(NOW, tick=False):
        assert run("new", "2024-07-26")[0] == 0  # a draft, straight from the scaffold
    (issues / "2024-07-27.yaml").write_text(good("2024-07-27").replace(
        "preheader: The preheader\n", ""))  # valid, one warning
    (issues / "2024-07-28.yaml").write_text(good("2024-07-28").replace(
        "url: https://example.com/one", "url: javascript:x"))  # parses, one error
    return {"2024-07-24": "ready", "2024-07-25": "NOT READY: 1 error",
            "2024-07-26": "NOT READY: TODO left", "2024-07-27": "NOT READY: 1 warning",
            "2024-07-28": "NOT READY: 1 error", "2024-07-29": "MISSING"}


def schedule(*options: str) -> dict[str, str]:
    """``schedule``'s state of each day, read from its lines."""
    with time_machine.travel(NOW, tick=False):
        code, out = run("schedule", "--days", "7", *options)
    assert code == 0
    return {line.split()[1]: line[26:48].strip() for line in out.splitlines()}


def send_takes(day: str, *options: str) -> bool:
    """Whether `send` would go ahead with the issue now (its dry run answers as it would)."""
    with time_machine.travel(NOW, tick=False):
        code, out = run("send", day, "--dry-run", *options)
    assert code in (0, 1), out
    return code == 0


def test_schedule_says_why_an_issue_is_not_ready(files: dict[str, str]) -> None:
    with time_machine.travel(NOW, tick=False):
        assert run("send", "2024-07-23")[0] == 0
    assert schedule() == {"2024-07-23": "sent", **files}


@pytest.mark.parametrize("options", [(), ("--allow-warnings",)])
def test_ready_is_exactly_what_the_send_takes(files: dict[str, str],
                                              options: tuple[str, ...]) -> None:
    states = schedule(*options)
    if options:
        assert states["2024-07-27"] == "ready"  # warnings allowed; a TODO still never
        assert states["2024-07-26"] == "NOT READY: TODO left"
    for day in files:
        if day != "2024-07-29":  # no file: the send says so, schedule says MISSING
            assert (states[day] == "ready") is send_takes(day, *options), day


def test_the_api_gives_the_same_states_and_why(files: dict[str, str], project_dir: Path) -> None:
    newsletter = Newsletter(project_dir / "newsletter.yaml")
    days = {d.at.date().isoformat(): d for d in newsletter.upcoming(7, NOW)}
    assert {day: d.state for day, d in days.items()} == {"2024-07-23": "ready", **files}
    assert days["2024-07-24"].ready and days["2024-07-24"].problems == ()
    assert [p.code for p in days["2024-07-26"].problems].count("placeholder") == 12
    assert [p.message for p in days["2024-07-27"].problems] == [
        "no preheader: inboxes will show the teasers' headlines after the subject"]
