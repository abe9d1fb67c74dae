"""``newsletter add`` as an editor runs it: arguments or standard input, one-line errors."""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path

import pytest

from newsletter.api import Newsletter
from newsletter.desk import fetch
from newsletter.desk.fetch import Guard
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
    assert "not added: http://10.0.0.1/x: 10.0.0.1 is an internal address; links must " \
        "lead to the public web\n" in out
    assert out.rstrip().endswith("Error: 2 links not added")
    assert "Rivers rise" in (project_dir / "issues" / "2024-08-02.yaml").read_text()


def test_loopback_is_refused_on_the_command_line(project_dir: Path, site: str) -> None:
    code, out = run("add", f"http://{site}/og")
    host = site.rpartition(":")[0]
    assert code == 1 and out.splitlines()[0] == (  # the address once, no class's name
        f"not added: http://{site}/og: {host} is an internal address; links must lead to "
        "the public web")
    code, out = run("add", "http://localhost:1/x")  # a name: the address it leads to, once
    assert code == 1 and re.match(r"not added: http://localhost:1/x: localhost \((127\.0\.0\.1|"
                                  r"::1)\) is an internal address; links", out), out


def test_a_failed_connection_is_said_in_words(newsletter: Newsletter) -> None:
    """Never an exception's class name (ConnectError) in what an editor reads."""
    nothing_there = "127.0.0.1:1"
    result = newsletter.add([f"http://{nothing_there}/x"], day=dt.date(2024, 8, 2),
                            guard=Guard(stand_ins={nothing_there}), dry_run=True)
    [failed] = result.failed
    assert failed.startswith(f"http://{nothing_there}/x: cannot connect: ") and \
        "Error" not in failed, failed


def test_usage_errors(project_dir: Path) -> None:
    assert run("add", input="")[0] == 2
    code, out = run("add", "--lead", "https://a.example/1", "https://a.example/2")
    assert code == 2 and "--lead takes one URL" in out
