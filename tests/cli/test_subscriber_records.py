"""`subscribers import`, `add` and `remove --forget` as a person runs them, around the
records the law asks for; and the help says what the docs say (docs/readers.md, where
subscribers' data is explained, and docs/commands.md)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from tests.helpers import REPO, run

READERS = (REPO / "docs" / "readers.md").read_text()
COMMANDS = (REPO / "docs" / "commands.md").read_text()


@pytest.fixture(autouse=True)
def in_project(project_dir: Path) -> None:
    """Every command here runs in a copy of the publication (the environment is clean)."""


def test_an_erased_reader_is_refused_by_add_and_skipped_by_import(project_dir: Path) -> None:
    run("subscribers", "add", "eve@example.org")
    assert run("subscribers", "remove", "eve@example.org", "--forget") == \
        (0, "erased eve@example.org\n")
    day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    code, out = run("subscribers", "add", "eve@example.org", "--reactivate")
    assert (code, out) == (1, f"Error: eve@example.org was erased on {day} at their request; "
                              "they come back only by subscribing again and confirming (the "
                              "subscribe form, /subscribe); --reactivate cannot bring them "
                              "back\n")
    (project_dir / "people.csv").write_text("email,timezone\nann@example.org,Mars/Base\n"
                                            "eve@example.org,\n")
    code, out = run("subscribers", "import", "people.csv")
    assert code == 0  # warnings, not failures: every other row was imported
    assert out.splitlines() == [
        "people.csv:2: warning: unknown timezone 'Mars/Base'; imported without a timezone",
        f"people.csv:3: eve@example.org was erased on {day} at their request; they come "
        "back only by subscribing again and confirming",
        "Read 2 rows: 1 added, 0 reactivated, 0 already subscribed, 1 erased (not brought "
        "back), 0 skipped."]


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("phrase", [
    "OPTIN_TIME", "CONFIRM_TIME", "OPTIN_IP", "TAGS", "creation_date", "ip_address",
    "opted_in_at", "confirmed_at", "opt_in_ip", "consent_source", "--reactivate",
    "is not added, whatever its status", "a warning", "erased at its owner's request",
])
def test_the_import_help_and_the_docs_tell_the_same(phrase: str) -> None:
    code, help_text = run("subscribers", "import", "--help")
    assert code == 0
    assert phrase in _words(help_text), phrase
    assert phrase in _words(READERS) or phrase in _words(COMMANDS), phrase


def test_each_tools_columns_in_the_help_are_in_the_docs_table() -> None:
    _, help_text = run("subscribers", "import", "--help")
    table = READERS[READERS.index("## Subscribers' data"):READERS.index("### Erased readers")]
    for tool in ("Mailchimp", "Substack", "Buttondown", "listmonk"):
        line = re.search(rf"^\s+{tool}\s+(.*)$", help_text, re.M)
        assert line is not None, tool
        row = next(r for r in table.splitlines() if r.startswith(f"| {tool} "))
        for column in re.findall(r"[A-Za-z_]+_[A-Za-z_]+|[A-Z]{4,}", line.group(1)):
            if column not in ("UNSUB_TIME", "CLEAN_TIME", "TIMEZONE", "email_disabled",
                              "subscriber_type"):  # statuses, in the command table
                assert f"`{column}`" in row, (tool, column)
