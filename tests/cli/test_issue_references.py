"""One reading of an issue or a day by every command that takes one: a date, today,
tomorrow, an impossible date (a usage error, exit status 2, never "no such file" or "has
not been sent") and a path (an issue file where the command takes one, a usage error
where it takes a day)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import time_machine

from newsletter.site import preview
from tests.helpers import run

# 13:00 BST on Tuesday 2024-07-23: today is the 23rd, tomorrow the 24th; both have files.
NOW = dt.datetime(2024, 7, 23, 12, 0, tzinfo=dt.UTC)
PATH = "issues/2024-07-24.yaml"
BAD = "2024-13-01"
BAD_DATE = f"'{BAD}' is not a date like 2024-07-24\n"


@pytest.fixture(autouse=True)
def sent(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One reader, the 23rd's issue sent to them, and screenshots that only say which
    file they would show (no Chromium needed to see how preview read its argument)."""
    (project_dir / "people.csv").write_text("email\nann@example.org\n")
    assert run("subscribers", "import", "people.csv")[0] == 0
    with time_machine.travel(NOW, tick=False):
        assert run("send", "2024-07-23")[0] == 0
    monkeypatch.setattr(preview, "screenshots",
                        lambda source, out, chromium: [source.issue])


def command(*args: str) -> tuple[int, str]:
    with time_machine.travel(NOW, tick=False):
        return run(*args)


# (the command line with REF where the issue goes; for REF = a date, today, tomorrow, an
# impossible date, a path: the exit status and a line the output must hold)
TAKES_AN_ISSUE = {
    "check REF": [(0, "Checked 1 file: 0 errors"), (0, "Checked 1 file: 0 errors"),
                  (0, "Checked 1 file: 0 errors")],
    "build REF": [(0, "wrote build/2024-07-23/email.html"),
                  (0, "wrote build/2024-07-23/email.html"),
                  (0, "wrote build/2024-07-24/email.html")],
    "preview REF --screenshot shots": [(0, "wrote issues/2024-07-23.yaml"),
                                       (0, "wrote issues/2024-07-23.yaml"),
                                       (0, "wrote issues/2024-07-24.yaml")],
    "send REF --dry-run": [(0, "2024-07-23 was already sent"),
                           (0, "2024-07-23 was already sent"),
                           (0, "dry run (new send) of 2024-07-24")],
}
TAKES_A_DAY = {
    "status REF": [(0, "2024-07-23 via outbox: 1 recipients, finished"),
                   (0, "2024-07-23 via outbox: 1 recipients, finished"),
                   (1, "Error: 2024-07-24 has not been sent")],
    "cancel REF": [(1, "Error: 2024-07-23 has no send scheduled"),
                   (1, "Error: 2024-07-23 has no send scheduled"),
                   (1, "Error: 2024-07-24 has no send scheduled")],
    "stats REF": [(0, "sent"), (0, "sent"), (1, "Error: 2024-07-24 has not been sent")],
    "stats sync REF": [(1, "no provider"), (1, "no provider"), (1, "no provider")],
    "new REF": [(1, "issues/2024-07-23.yaml: already exists"),
                (1, "issues/2024-07-23.yaml: already exists"),
                (1, "issues/2024-07-24.yaml: already exists")],
    "archive --through REF --out site": [(0, "wrote 1 issue page"), (0, "wrote 1 issue page"),
                                         (0, "wrote 2 issue pages")],
    # The guard refuses the link: the day was read, the page was never fetched.
    "add --dry-run --date REF http://127.0.0.1/": [(1, "not added"), (1, "not added"),
                                                   (1, "not added")],
}
HINTS = {"archive": "--through", "add": "--date"}


def cases() -> list[tuple[str, str, int, str]]:
    out = []
    for table in (TAKES_AN_ISSUE, TAKES_A_DAY):
        for line, (date, today, tomorrow) in table.items():
            out += [(line, "2024-07-23", *date), (line, "today", *today),
                    (line, "tomorrow", *tomorrow)]
    return out


@pytest.mark.parametrize(("line", "ref", "code", "expected"), cases())
def test_a_date_today_and_tomorrow_are_read_alike(line: str, ref: str, code: int,
                                                  expected: str) -> None:
    found, out = command(*line.replace("REF", ref).split())
    assert found == code and expected in out, out


@pytest.mark.parametrize("line", [*TAKES_AN_ISSUE, *TAKES_A_DAY])
def test_an_impossible_date_is_a_bad_argument(line: str) -> None:
    hint = HINTS.get(line.split()[0], "DATE|PATH" if line in TAKES_AN_ISSUE else "DATE")
    code, out = command(*line.replace("REF", BAD).split())
    assert code == 2 and out.endswith(f"Error: Invalid value for {hint}: {BAD_DATE}"), out


@pytest.mark.parametrize("line", TAKES_AN_ISSUE)
def test_a_path_names_the_issue_file(line: str) -> None:
    code, out = command(*line.replace("REF", PATH).split())
    assert code == 0 and ("2024-07-24" in out or line.startswith("check")), out
    for missing in ("issues/2031-01-01.yaml", "2031-01-01"):  # the file a date names
        code, out = command(*line.replace("REF", missing).split())
        expected = "issues/2031-01-01.yaml:1:1: no such file" if line.startswith("check") \
            else "Error: issues/2031-01-01.yaml: no such issue file"
        assert code == 1 and expected in out, out


@pytest.mark.parametrize("line", TAKES_A_DAY)
def test_a_path_where_a_day_is_asked_is_a_bad_argument(line: str) -> None:
    code, out = command(*line.replace("REF", PATH).split())
    assert code == 2 and f"'{PATH}' is not a date like 2024-07-24, today, tomorrow or next" \
        in out, out


@pytest.mark.parametrize("line", TAKES_AN_ISSUE)
def test_a_misspelt_word_is_neither_a_day_nor_a_file(line: str) -> None:
    code, out = command(*line.replace("REF", "tomorow").split())
    assert code == 2 and "'tomorow' is not a date like 2024-07-24, today, tomorrow or " \
        "next, nor the path of an issue file" in out, out


def test_every_command_that_takes_a_day_or_an_issue_is_here() -> None:
    """A new command (or a new DATE argument) must join the tables above."""
    from newsletter.cli import COMMANDS

    tested = {line.split()[0] for line in [*TAKES_AN_ISSUE, *TAKES_A_DAY]}
    assert {name for name in COMMANDS if "DATE" in run(name, "--help")[1]} == tested
