"""The commands as an editor runs them: exact output lines and exit codes."""

from __future__ import annotations

import email
from collections.abc import Callable
from email import policy
from pathlib import Path

import pytest

from tests.helpers import EXAMPLE_DAY, GOOD_ISSUE, run


def test_check_passes_on_examples(project_dir: Path) -> None:
    code, out = run("check", "--strict")
    files = len(list((project_dir / "issues").glob("*.yaml")))
    assert files >= 3
    assert (code, out) == (0, f"Checked {files} files: 0 errors, 0 warnings.\n")


def test_check_reports_errors_and_fails(project_dir: Path, write_issue: Callable[..., Path]) -> None:
    write_issue(GOOD_ISSUE.replace("url: https://example.com/one", "url: javascript:x"))
    code, out = run("check", "issues/2024-08-01.yaml")
    assert code == 1
    assert out.splitlines() == [
        "issues/2024-08-01.yaml:14:14: sections[0].items[0].url: must be an absolute http(s) "
        "URL, not 'javascript:x'",
        "Checked 1 file: 1 error, 0 warnings.",
        "Error: 1 error found",
    ]


def test_strict_fails_on_warnings(project_dir: Path, write_issue: Callable[..., Path]) -> None:
    write_issue(GOOD_ISSUE.replace("Teaser one", "TODO teaser"))
    code, out = run("check", "issues/2024-08-01.yaml")
    assert code == 0 and "warning: sections[0].items[0].headline: still contains" in out
    code, out = run("check", "--strict", "issues/2024-08-01.yaml")
    assert code == 1 and out.endswith("Error: aborted with 1 warning in strict mode\n")


def test_check_missing_file(project_dir: Path) -> None:
    code, out = run("check", "issues/1999-01-01.yaml")
    assert code == 1 and out.startswith("issues/1999-01-01.yaml:1:1: no such file\n")


def test_missing_settings_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = run("check")
    assert code == 1
    assert out == ("Error: newsletter.yaml: settings file not found (run in the folder that "
                   "holds newsletter.yaml, or pass --config)\n")


def test_build_writes_three_files(project_dir: Path) -> None:
    code, out = run("build", EXAMPLE_DAY)
    assert code == 0
    target = project_dir / "build" / EXAMPLE_DAY
    for name in ("email.html", "email.txt", "email.eml"):
        size = (target / name).stat().st_size
        assert f"wrote build/{EXAMPLE_DAY}/{name} ({size:,} bytes)" in out
    msg = email.message_from_bytes((target / "email.eml").read_bytes(), policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative"


def test_build_to_chosen_folder_by_path(project_dir: Path, tmp_path: Path) -> None:
    code, _ = run("build", f"issues/{EXAMPLE_DAY}.yaml", "--out", str(tmp_path / "out"))
    assert code == 0 and (tmp_path / "out" / "email.html").is_file()


def test_build_refuses_invalid_issue_and_writes_nothing(project_dir: Path,
                                                        write_issue: Callable[..., Path]) -> None:
    write_issue(GOOD_ISSUE.replace("  source: Lead Source\n", ""))
    code, out = run("build", "2024-08-01")
    assert code == 1
    assert out == ("issues/2024-08-01.yaml:3:3: lead.source: required field is missing\n"
                   "Error: 1 error in issues/2024-08-01.yaml\n")
    assert not (project_dir / "build").exists()


def test_build_unknown_date(project_dir: Path) -> None:
    assert run("build", "2030-01-01") == (1, "Error: issues/2030-01-01.yaml: no such issue file\n")


def test_new_scaffolds_a_valid_file_and_never_overwrites(project_dir: Path) -> None:
    code, out = run("new", "2024-08-05")
    assert code == 0 and out.startswith("created issues/2024-08-05.yaml")
    code, out = run("check", "issues/2024-08-05.yaml")
    assert code == 0 and "0 errors" in out and "warning" in out  # TODOs left to fill
    before = (project_dir / "issues" / "2024-08-05.yaml").read_text()
    code, out = run("new", "2024-08-05")
    assert (code, out) == (1, "Error: issues/2024-08-05.yaml: already exists; not overwriting it\n")
    assert (project_dir / "issues" / "2024-08-05.yaml").read_text() == before


def test_new_rejects_a_bad_date(project_dir: Path) -> None:
    code, out = run("new", "next week")
    assert code == 2 and "'next week' is not a date like 2024-07-24" in out


@pytest.mark.parametrize("command", ["check", "build", "new"])
def test_every_command_has_help_with_examples(command: str) -> None:
    code, out = run(command, "--help")
    assert code == 0 and "Examples:" in out and f"newsletter {command}" in out


def test_config_option_points_elsewhere(project_dir: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = run("--config", str(project_dir / "newsletter.yaml"), "check")
    assert code == 0 and "0 errors" in out
