"""The console script: Python's cyclic collector is paused while a command's modules load,
and collects as usual while the command runs and after it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from newsletter.api import Newsletter
from newsletter.cli import _Group, run
from tests.helpers import EXAMPLE_DAY


@pytest.fixture(autouse=True)
def collector() -> Iterator[None]:
    """Whatever a test does, the test process gets its collector back as it was."""
    frozen = gc.get_freeze_count()
    yield
    gc.enable()
    if gc.get_freeze_count() > frozen:
        gc.unfreeze()


def run_as_script(monkeypatch: pytest.MonkeyPatch, *args: str) -> int | str | None:
    monkeypatch.setattr("sys.argv", ["newsletter", *args])
    with pytest.raises(SystemExit) as exited:
        run()
    return exited.value.code


def test_paused_while_the_command_loads_and_on_while_it_runs(
        project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, bool] = {}
    load, build = _Group.get_command, Newsletter.build

    def loading(self: _Group, ctx: click.Context, name: str) -> click.Command | None:
        seen.setdefault("loading", gc.isenabled())
        return load(self, ctx, name)

    def building(self: Newsletter, *args: Any, **kwargs: Any) -> Any:
        seen["running"] = gc.isenabled()
        return build(self, *args, **kwargs)

    monkeypatch.setattr(_Group, "get_command", loading)
    monkeypatch.setattr(Newsletter, "build", building)
    frozen = gc.get_freeze_count()
    assert run_as_script(monkeypatch, "build", EXAMPLE_DAY, "--out", "out") == 0
    assert seen == {"loading": False, "running": True}
    assert gc.isenabled() and gc.get_freeze_count() > frozen  # what loaded is left alone
    assert (project_dir / "out" / "email.html").is_file()


@pytest.mark.parametrize(("args", "code"), [(["--version"], 0), (["no-such-command"], 2),
                                            (["build"], 2), ([], 2)])
def test_on_again_whether_or_not_a_command_ran(
        project_dir: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int) -> None:
    assert run_as_script(monkeypatch, *args) == code
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off(
        project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gc.disable()
    frozen = gc.get_freeze_count()
    assert run_as_script(monkeypatch, "check", "--strict") == 0
    assert not gc.isenabled() and gc.get_freeze_count() == frozen
