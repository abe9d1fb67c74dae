"""What the commands write by default stays out of git: a newcomer who follows the README
in a clone and runs `git status` sees only their own changes (the report, for one, names
the list's figures and is private: docs/figures.md)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO, run


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_every_default_output_is_ignored(project_dir: Path) -> None:
    shutil.copy(REPO / ".gitignore", project_dir / ".gitignore")
    (project_dir / "people.csv").write_text("email\nann@example.org\n")
    git("init", "-q")
    git("add", "-A")
    assert git("status", "--porcelain") != ""  # the publication's files, to be committed
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false",
        "commit", "-q", "-m", "start")
    for command in (["subscribers", "import", "people.csv"], ["send", "2024-07-23"],
                    ["send", "2024-07-24", "--to", "me@example.org"], ["build", "2024-07-23"],
                    ["archive"], ["report"]):
        assert run(*command)[0] == 0, command
    written = {"build", "outbox", "site", "report", "newsletter.sqlite3"}
    assert written <= {p.name for p in project_dir.iterdir()}  # each did write its own
    assert git("status", "--porcelain", "--untracked-files=all", "--ignored=no") == ""
