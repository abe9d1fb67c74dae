"""The SQLite library Python links is checked when a database is opened: one too old for
the claim's UPDATE ... RETURNING (3.35) is refused with a one-line error, not at the first
claim of a send."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from newsletter.errors import ConfigError
from newsletter.store import db


def test_an_sqlite_older_than_3_35_is_refused_before_anything_is_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    path = tmp_path / "news.sqlite3"
    with pytest.raises(ConfigError) as refused:
        db.connect(f"sqlite:///{path}")
    assert str(refused.value) == ("SQLite 3.34.1 is too old: newsletter needs SQLite 3.35.0 "
                                  "or newer (Python's sqlite3 module; or use PostgreSQL)")
    assert not path.exists()


@pytest.mark.parametrize("version", ["3.35.0", "3.45.1"])
def test_3_35_and_newer_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             version: str) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version", version)
    engine = db.connect(f"sqlite:///{tmp_path / 'news.sqlite3'}")
    engine.dispose()
