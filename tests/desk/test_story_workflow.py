"""The "Suggest a story" form and its workflow, run here: each step's own shell, on a
copy of the repository, with a real git remote (a bare repository on disk), the real
command line (its guard's stand-in set to the local page server by tests/desk/shim.py),
and, for GitHub's own ``gh``, a stand-in script that records what it was asked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from newsletter.api import Newsletter
from tests.helpers import REPO

WORKFLOW = REPO / ".github" / "workflows" / "story.yml"
FORM = REPO / ".github" / "ISSUE_TEMPLATE" / "story.yml"
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]


def steps() -> dict[str, str]:
    data = yaml.safe_load(WORKFLOW.read_text())
    return {s["name"]: s["run"] for s in data["jobs"]["draft"]["steps"] if "name" in s}


def body(link: str, where: str = "Teaser", note: str = "_No response_") -> str:
    # How GitHub writes an issue form's answers into the issue's body.
    return (f"### Link\r\n\r\n{link}\r\n\r\n### Where\r\n\r\n{where}\r\n\r\n"
            f"### Note for the editor\r\n\r\n{note}")


@pytest.fixture
def repo(project_dir: Path, tmp_path: Path, site: str) -> dict[str, str]:
    """The copy as a git repository with an origin, and the environment of the job."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    for command in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "base"],
                    ["remote", "add", "origin", str(origin)], ["push", "-q", "origin", "main"]):
        subprocess.run([*GIT, *command], cwd=project_dir, check=True)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "newsletter").write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -m tests.desk.shim {site} "$@"\n')
    (tools / "gh").write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{tmp_path}/gh.log"\n'
        'case "$1 $2" in "pr create") echo https://github.example/o/r/pull/9;; esac\n')
    for tool in tools.iterdir():
        tool.chmod(0o755)
    return {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(REPO), "GITHUB_OUTPUT": str(tmp_path / "outputs"),
            "NUMBER": "42", "GH_TOKEN": "not-a-token", "BASE": "main",
            "TITLE": "Story: rivers"}


def run_step(name: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-e", "-c", steps()[name]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def outputs(env: dict[str, str]) -> dict[str, str]:
    lines = Path(env["GITHUB_OUTPUT"]).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_a_suggestion_becomes_a_pull_request(project_dir: Path, repo: dict[str, str],
                                             site: str, tmp_path: Path) -> None:
    env = {**repo, "BODY": body(f"http://{site}/og", note="Follow-up to last week's.")}
    assert run_step("Read the form", project_dir, env).returncode == 0
    env |= {"URL": outputs(env)["url"], "LEAD": outputs(env)["lead"]}
    assert env["URL"] == f"http://{site}/og" and env["LEAD"] == ""
    drafted = run_step("Draft the story", project_dir, env)
    assert drafted.returncode == 0, drafted.stdout + drafted.stderr
    day = Newsletter(project_dir / "newsletter.yaml").next_day()
    assert outputs(env)["file"] == f"issues/{day}.yaml"
    opened = run_step("Open the pull request", project_dir, {**env, "FILE": outputs(env)["file"]})
    assert opened.returncode == 0, opened.stdout + opened.stderr
    # The branch reached the remote with the one file, and the story in it.
    shown = subprocess.run(["git", "show", "--stat", "--format=%s", "story/issue-42"],
                           cwd=tmp_path / "origin.git", capture_output=True, text=True,
                           check=True).stdout
    assert f"Draft the story suggested in #42 into issues/{day}.yaml" in shown
    assert f"issues/{day}.yaml" in shown and shown.count("|") == 1
    gh = (tmp_path / "gh.log").read_text().splitlines()
    assert gh[0] == "pr create --base main --head story/issue-42 --title Story: rivers " \
                    "--body-file pr.md"
    assert gh[1] == "issue comment 42 --body Drafted in https://github.example/o/r/pull/9"
    pr = (project_dir / "pr.md").read_text()
    assert "Closes #42." in pr and "Rivers rise across the north" in pr
    assert "Follow-up to last week's." in pr


def test_a_lead_suggestion(project_dir: Path, repo: dict[str, str], site: str) -> None:
    env = {**repo, "BODY": body(f"http://{site}/oembed", where="Lead")}
    run_step("Read the form", project_dir, env)
    assert outputs(env)["lead"] == "--lead"
    env |= {"URL": outputs(env)["url"], "LEAD": "--lead"}
    assert run_step("Draft the story", project_dir, env).returncode == 0
    text = (project_dir / outputs(env)["file"]).read_text()
    assert "headline: Inside the new tidal power station" in text


@pytest.mark.parametrize("link", [
    "not a link", "https://a.example/x; rm -rf ~", "$(touch pwned)", "-rf", "",
    "ftp://a.example/", "https://a.example/x\r\nhttps://b.example/y"])
def test_what_is_not_one_link_stops_before_anything_runs(project_dir: Path,
                                                         repo: dict[str, str],
                                                         link: str) -> None:
    env = {**repo, "BODY": body(link)}
    result = run_step("Read the form", project_dir, env)
    assert result.returncode == 1
    assert (project_dir / "add.log").read_text().startswith("The form's Link is not one")
    assert not (project_dir / "pwned").exists()


def test_a_link_that_fails_is_said_on_the_issue(project_dir: Path, repo: dict[str, str],
                                                site: str, tmp_path: Path) -> None:
    env = {**repo, "URL": f"http://{site}/forbidden", "LEAD": ""}
    assert run_step("Draft the story", project_dir, env).returncode == 1
    assert run_step("Say why not", project_dir, env).returncode == 0
    why = (project_dir / "why.md").read_text()
    assert "answered 403 Forbidden" in why
    assert (tmp_path / "gh.log").read_text().startswith("issue comment 42 --body-file why.md")


def test_the_form_feeds_the_workflow() -> None:
    form = yaml.safe_load(FORM.read_text())
    labels = {f["attributes"]["label"] for f in form["body"] if f["type"] != "markdown"}
    scripts = " ".join(steps().values())
    assert all(f"section {label}" in scripts or f'section "{label}"' in scripts
               for label in labels), labels
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert "story" in form["labels"] and "'story'" in workflow["jobs"]["draft"]["if"]
    assert "${{" not in scripts  # the form's words come through the environment only
