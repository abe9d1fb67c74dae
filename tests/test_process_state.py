"""The library leaves the process as it found it: what is the whole process's (the
garbage collector's frozen objects, the csv module's field limit, other packages' log
levels, the module table) is set only by the command line, at its edge, or put back."""

from __future__ import annotations

import csv
import gc
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.api import Newsletter
from newsletter.store import subscribers as store

# In a fresh interpreter: every logger's level, and the module table, before and after
# importing every module of the library (the command line aside) and rendering an email.
PROBE = """
import importlib, logging, pkgutil, sys
import newsletter
from pathlib import Path

def levels():
    loggers = logging.Logger.manager.loggerDict
    return {name: logging.getLogger(name).level for name in
            [*loggers, "python_http_client", "CSSUTILS", ""]}

import cssutils  # sets its own logger's level as it loads: its doing, not ours
before = levels()
for info in pkgutil.walk_packages(newsletter.__path__, "newsletter."):
    if not info.name.startswith(("newsletter.cli", "newsletter.__main__")):
        importlib.import_module(info.name)
from newsletter.api import Newsletter
Newsletter(Path(sys.argv[1])).render("2024-07-23")
after = levels()
changed = {n: (before[n], after[n]) for n in before if before[n] != after[n]}
print("changed:", changed)
requests = sys.modules.get("requests")
print("stand-in:", requests is not None and not hasattr(requests, "get"))
"""


def test_importing_and_rendering_change_no_logger_and_no_module(project_dir: Path) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, str(project_dir / "newsletter.yaml")],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    assert "changed: {}" in out and "stand-in: False" in out, out


def test_an_import_puts_the_csv_field_limit_back(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("email\nann@example.org\n", encoding="utf-8")
    before = csv.field_size_limit(12_345)
    try:
        assert store.import_csv(engine, path).added == 1
        assert csv.field_size_limit() == 12_345
    finally:
        csv.field_size_limit(before)


def test_a_send_leaves_what_the_host_froze_frozen(
        project_dir: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from newsletter import SendOptions
    from tests.helpers import add_subscribers

    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    add_subscribers(engine, 3)
    threshold = gc.get_threshold()
    gc.freeze()  # as a host does (gunicorn's preload, say)
    try:
        frozen = gc.get_freeze_count()
        report = Newsletter(project_dir / "newsletter.yaml").send(
            "2024-07-23", SendOptions(transport="outbox", outbox=tmp_outbox(project_dir)))
        assert report.counts["sent"] == 3
        # Frozen objects that are freed leave the count; a thaw would empty it.
        assert frozen - 1_000 < gc.get_freeze_count() <= frozen
        assert gc.get_threshold() == threshold
    finally:
        gc.unfreeze()


def tmp_outbox(project_dir: Path) -> Path:
    return project_dir / "outbox-test"
