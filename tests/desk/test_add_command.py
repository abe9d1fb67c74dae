"""``newsletter add`` as an editor runs it: arguments or standard input, one-line errors."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from newsletter.desk import fetch
from tests.helpers import run


@pytest.fixture
def stand_in(site: str, monkeypatch: pytest.MonkeyPatch) -> str:
    # The command has no way to reach loopback (on purpose); in-process, the guard's
    # stand-in is set as the workflow test's shim sets it for a subprocess.
    monkeypatch.setattr(fetch, "Guard", functools.partial(fetch.Guard, stand_ins={site}))
    return site


def test_links_from_standard_input(project_dir: Path, stand_in: str) -> None:
    code, out = run("add", "--date", "2024-08-02",
                    input=f"# a comment line\nhttp://{stand_in}/og\n\nhttp://{stand_in}/jsonld\n")
    assert code == 0, out
    assert "added to issues/2024-08-02.yaml (BIG Wrap): Rivers rise across" in out
    assert "added to issues/2024-08-02.yaml (BIG Wrap): Parliament passes" in out
    assert "created issues/2024-08-02.yaml from the scaffold: fill in its TODOs" in out
    assert run("check", "issues/2024-08-02.yaml")[0] == 0  # TODOs warn; nothing is wrong


def test_dry_run_prints_the_story(project_dir: Path, stand_in: str) -> None:
    code, out = run("add", "--dry-run", "--date", "2024-08-02", f"http://{stand_in}/og")
    assert code == 0, out
    assert "- headline: Rivers rise across the north as rain keeps falling\n" in out
    assert "  url: https://courier.example/rivers-rise?id=7\n" in out
    assert not (project_dir / "issues" / "2024-08-02.yaml").exists()


def test_a_link_that_fails_is_named_and_the_rest_go_in(project_dir: Path,
                                                      stand_in: str) -> None:
    code, out = run("add", "--date", "2024-08-02", f"http://{stand_in}/og",
                    f"http://{stand_in}/forbidden", "http://10.0.0.1/x")
    assert code == 1
    assert f"not added: http://{stand_in}/forbidden: answered 403 Forbidden" in out
    assert "not added: http://10.0.0.1/x: InternalAddress: 10.0.0.1 is an internal" in out
    assert out.rstrip().endswith("Error: 2 links not added")
    assert "Rivers rise" in (project_dir / "issues" / "2024-08-02.yaml").read_text()


def test_loopback_is_refused_on_the_command_line(project_dir: Path, site: str) -> None:
    code, out = run("add", f"http://{site}/og")
    assert code == 1 and "is an internal address" in out


def test_usage_errors(project_dir: Path) -> None:
    assert run("add", input="")[0] == 2
    code, out = run("add", "--lead", "https://a.example/1", "https://a.example/2")
    assert code == 2 and "--lead takes one URL" in out
