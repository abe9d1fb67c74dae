"""The Python API as docs/api.md shows it: the example runs, and the API says what it did."""

from __future__ import annotations

import datetime as dt
import re
import runpy
from pathlib import Path

import pytest

import newsletter
from newsletter import Newsletter
from newsletter.delivery.providers.outbox.transport import file_name
from newsletter.errors import IssueNotFound, NotReady, ProblemsFound
from tests.helpers import REPO


def test_the_documented_example_runs(project_dir: Path, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    text = (REPO / "docs" / "api.md").read_text()
    [example] = re.findall(r"```python\n(.*?)```", text, re.S)
    script = project_dir / "example.py"
    script.write_text(example)
    runpy.run_path(str(script), run_name="__main__")
    assert sorted(p.name for p in (project_dir / "build" / "2024-07-23").iterdir()) == \
        ["email.eml", "email.html", "email.txt"]
    assert sorted(p.name for p in (project_dir / "outbox" / "2024-07-23").iterdir()) == \
        sorted(file_name(a) for a in ("ann@example.org", "bob@example.org"))
    out = capsys.readouterr().out
    assert "sent to 2 readers" in out and "no such issue file" in out


def test_every_public_name_is_there_and_loaded_on_use() -> None:
    for name in newsletter.__all__:
        assert getattr(newsletter, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        newsletter.Nothing  # noqa: B018


def test_build_of_an_email_with_errors_writes_nothing(newsletter: Newsletter,
                                                      project_dir: Path) -> None:
    big = "word " * 30_000  # far past Gmail's clipping limit
    path = project_dir / "issues" / "2024-07-23.yaml"
    path.write_text(path.read_text().replace("  body: |\n", f"  body: |\n    {big}\n", 1))
    with pytest.raises(NotReady) as caught:
        newsletter.build("2024-07-23", out=project_dir / "out")
    assert any("clip" in p.message for p in caught.value.problems)
    assert not (project_dir / "out").exists()


def test_due_says_why_nothing_is_due(newsletter: Newsletter) -> None:
    early = dt.datetime(2024, 7, 23, 4, 0, tzinfo=dt.UTC)  # 05:00 in London
    due = newsletter.due(early)
    assert (due.day, due.publishing_day, due.due) == (dt.date(2024, 7, 23), True, False)
    assert newsletter.due(early, ahead=dt.timedelta(hours=1)).due
    missing = newsletter.due(dt.datetime(2031, 1, 1, 12, tzinfo=dt.UTC))
    with pytest.raises(IssueNotFound, match="is a publishing day but"):
        missing.require_file()




def test_a_send_with_workers_renders_apart_and_refuses_alike(
        project_dir: Path, engine, sendgrid_env,  # type: ignore[no-untyped-def]
        write_issue, monkeypatch: pytest.MonkeyPatch) -> None:
    # With worker processes the email is rendered in a process of its own (the sender
    # never loads the renderer): what it sends, and what it refuses, must be the same.
    from newsletter import SendOptions
    from tests.helpers import GOOD_ISSUE, add_subscribers

    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    everyone = add_subscribers(engine, 30)
    nl = Newsletter(project_dir / "newsletter.yaml")
    apart = SendOptions(transport="sendgrid", workers=2, concurrency=2)
    report = nl.send("2024-07-23", apart)
    assert report.counts["sent"] == 30 and sorted(sendgrid_env.recipients()) == sorted(everyone)
    assert sendgrid_env.accepted[0]["subject"] == nl.render("2024-07-23").email.subject
    write_issue(GOOD_ISSUE.replace("Teaser one", "TODO teaser"))
    with pytest.raises(NotReady) as in_child:
        nl.send("2024-08-01", apart)
    with pytest.raises(NotReady) as here:
        nl.send("2024-08-01", SendOptions(transport="sendgrid"))
    assert in_child.value.problems == here.value.problems != []
    assert str(in_child.value) == str(here.value)
    # The plan ran while the draft was being rendered; refused, it kept nothing.
    from newsletter.store.ledger import Ledger

    assert not Ledger(engine, "2024-08-01").exists()
    with pytest.raises(IssueNotFound, match="has not been sent"):
        nl.status("2024-08-01")
    # A file not named by the rule (here a date written another way) is rendered first:
    # refused for its name, with no plan made under any day.
    misnamed = write_issue(GOOD_ISSUE, name="20240801.yaml")
    with pytest.raises(ProblemsFound) as named:
        nl.send(misnamed, apart)
    assert "file name must be the issue's date" in str(named.value.problems)
    assert not Ledger(engine, "2024-08-01").exists()
