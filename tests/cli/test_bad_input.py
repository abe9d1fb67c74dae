"""Bad values at the command line's edge: one line each, a non-zero exit, nothing leaked."""

from __future__ import annotations

import csv
import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.delivery.personalize import DEV_SECRET, sign
from newsletter.store import db
from tests.helpers import add_subscribers, run


@pytest.fixture(autouse=True)
def in_project(project_dir: Path) -> None:
    """Every command here runs in a copy of the publication."""


FORMULAS = ["=HYPERLINK(\"http://x.example\",\"y\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)",
            "\tTAB", "\rCR"]


def put_names(project_dir: Path, names: list[str]) -> None:
    """Subscribers with these names, as another tool or an older release may have stored
    them (add and import clean names; the store need not have been written by them)."""
    engine = db.connect(f"sqlite:///{project_dir / 'newsletter.sqlite3'}")
    add_subscribers(engine, len(names))
    with engine.begin() as conn:
        for n, name in enumerate(names):
            conn.execute(db.subscribers.update().where(db.subscribers.c.id == n + 1)
                         .values(name=name))
    engine.dispose()


def test_export_neutralizes_formulas_and_imports_back(project_dir: Path) -> None:
    put_names(project_dir, FORMULAS)
    code, out = run("subscribers", "export")
    assert code == 0
    names = [row["name"] for row in csv.DictReader(io.StringIO(out))]
    assert names == [f"'{name}" for name in FORMULAS]
    (project_dir / "again.csv").write_text(out)
    code, out = run("subscribers", "import", "again.csv")
    assert code == 0 and f"{len(FORMULAS)} already subscribed" in out


@pytest.mark.parametrize("url", [
    "postgresql://user:hunter22@127.0.0.1:5432/test?sslmode=disable&password=hunter22",
    "postgresql://user@127.0.0.1:5432/nowhere?password=hunter22",
])
def test_a_password_in_the_query_is_never_shown(monkeypatch: pytest.MonkeyPatch,
                                                url: str) -> None:
    assert "hunter22" not in db.safe_url(url)
    monkeypatch.setenv("DATABASE_URL", url.replace("127.0.0.1:5432", "127.0.0.1:9"))
    code, out = run("subscribers", "count")
    assert code == 1 and "hunter22" not in out and out.startswith("Error: cannot use database")
    assert len(out.strip().splitlines()) == 1


@pytest.mark.parametrize("url", ["postgresql://u@h:notaport/db", "nosuchdb://x", "sqlite:::"])
def test_a_bad_database_url_is_one_line(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    code, out = run("subscribers", "count")
    assert code == 1 and out.startswith("Error: ") and len(out.strip().splitlines()) == 1


@pytest.mark.parametrize(("url", "shown"), [
    ("mysql://user:hunter22@db.example/news", "DATABASE_URL mysql://user:***@db.example/news "
                                              "cannot be used: "),
    ("mysql+pymysql://user@db.example/news?password=hunter22",
     "DATABASE_URL mysql+pymysql://user@db.example/news?password=%2A%2A%2A cannot be used: "),
    ("oracle://user:hunter22@db.example/news", "DATABASE_URL oracle://user:***@db.example/news "
                                               "cannot be used: "),
    ("mysql://user:hunter22@db.example:notaport/news", "DATABASE_URL is not a database URL; "),
])
def test_an_unsupported_database_names_the_supported_ones(
        monkeypatch: pytest.MonkeyPatch, url: str, shown: str) -> None:
    """Not "No module named 'MySQLdb'", and never the password."""
    monkeypatch.setenv("DATABASE_URL", url)
    code, out = run("subscribers", "count")
    assert (code, out) == (1, f"Error: {shown}SQLite (sqlite:///FILE) and PostgreSQL "
                              "(postgresql://USER@HOST/NAME) are the supported databases\n")


def test_a_postgresql_driver_not_installed_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+nosuchdriver://user:hunter22@h/news")
    code, out = run("subscribers", "count")
    assert code == 1 and "hunter22" not in out and out.startswith(
        "Error: DATABASE_URL postgresql+nosuchdriver://user:***@h/news cannot be used: ")


def test_a_damaged_database_is_one_line(project_dir: Path) -> None:
    (project_dir / "newsletter.sqlite3").write_bytes(b"this is not a database" * 100)
    code, out = run("subscribers", "count")
    assert code == 1 and out.startswith("Error: cannot use database sqlite:///")
    assert "file is not a database" in out and len(out.strip().splitlines()) == 1


def test_a_dropped_table_is_one_line_and_shows_no_data(project_dir: Path) -> None:
    run("subscribers", "add", "private@example.org")
    import sqlite3

    with sqlite3.connect(project_dir / "newsletter.sqlite3") as conn:
        conn.execute("DROP TABLE deliveries")
    code, out = run("send", "2024-07-23")
    assert code == 1 and "Traceback" not in out and "private@example.org" not in out
    assert out.strip().splitlines()[-1].startswith("Error: database error: no such table")


def test_development_key_tokens_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    run("subscribers", "add", "ann@example.org")
    token = sign(DEV_SECRET, "ann@example.org")
    assert run("unsubscribe", token) == (
        1, "Error: NEWSLETTER_SECRET is not set: it signs the unsubscribe links (set a long "
           "random value, and keep it)\n")
    monkeypatch.setenv("NEWSLETTER_SECRET", DEV_SECRET.decode())
    assert run("unsubscribe", token) == (1, "Error: NEWSLETTER_SECRET is the development key; "
                                            "set a secret of your own\n")
    monkeypatch.setenv("NEWSLETTER_SECRET", "a real one")
    code, out = run("unsubscribe", token)
    assert code == 1 and "does not verify" in out


@pytest.mark.parametrize("token", ["ünïcode.tökén", "", ".", "a.b.c", "%%%", "x" * 5000])
def test_odd_tokens_are_one_line(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET", "s")
    code, out = run("unsubscribe", token)
    assert code == 1 and out.startswith("Error: ") and len(out.strip().splitlines()) == 1


def test_names_cannot_drive_the_terminal(project_dir: Path) -> None:
    put_names(project_dir, ["Eve\x1b[2J\x1b]0;owned\x07"])
    code, out = run("subscribers", "list")
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "Eve\\x1b[2J\\x1b]0;owned\\x07" in out


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_written_files_follow_the_umask(project_dir: Path, umask: int, mode: int) -> None:
    # In a child process: the umask is the process's own.
    newsletter = str(Path(sys.executable).with_name("newsletter"))
    script = f"umask {umask:03o} && {newsletter} build 2024-07-23 && {newsletter} archive"
    subprocess.run(["sh", "-c", script], cwd=project_dir, check=True, capture_output=True,
                   env={**os.environ, "NEWSLETTER_SECRET": "s"})
    written = [*(project_dir / "build").rglob("*.*"), *(project_dir / "site").rglob("*.*")]
    assert written and {stat.S_IMODE(p.stat().st_mode) for p in written} == {mode}
