"""The README stays true: every command documented, its quickstart commands real."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
import pytest

from newsletter.cli import main
from tests.helpers import REPO

README = (REPO / "README.md").read_text()


@pytest.mark.parametrize("command", main.list_commands(click.Context(main)))
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"`newsletter {command}" in README


def test_every_setting_is_in_the_readme() -> None:
    from newsletter.content.settings import Publication
    for name, info in Publication.model_fields.items():
        assert f"`{info.alias or name}" in README, name


def test_every_issue_field_is_in_the_readme() -> None:
    from newsletter.content.issue import Image, Issue, Item, Lead, Section
    for model in (Issue, Lead, Image, Section, Item):
        for name in model.model_fields:
            assert re.search(rf"^\s*(- )?{name}:", README, re.M), f"{model.__name__}.{name}"


def test_quickstart_builds_an_issue_that_exists() -> None:
    day = re.search(r"newsletter build (\d{4}-\d{2}-\d{2})", README).group(1)
    assert (REPO / "issues" / f"{day}.yaml").is_file()


def _provider_page(name: str) -> str:
    """A provider's own page (docs/providers/NAME.md), where it has one."""
    page = REPO / "docs" / "providers" / f"{name}.md"
    return page.read_text() if page.is_file() else ""


def test_every_transport_setting_is_in_the_readme() -> None:
    from newsletter.delivery.providers.registry import PROVIDERS

    for name, provider in PROVIDERS.items():
        documented = README + _provider_page(name)
        for field in provider.transport.options_model.model_fields:
            assert f"`delivery.{name}.{field}`" in documented or \
                f"`delivery.TRANSPORT.{field}`" in README, f"{name}.{field}"


def test_every_environment_variable_is_in_the_readme() -> None:
    # The environment's own, and each provider's (its settings.py reads them).
    source = "".join(path.read_text() for path in [
        REPO / "newsletter" / "config.py",
        *(REPO / "newsletter" / "delivery" / "providers").glob("*/settings.py")])
    names = set(re.findall(r'"([A-Z][A-Z_]+)"', source)) - {"CHROMIUM"}
    assert {"DATABASE_URL", "SMTP_HOST", "SENDGRID_API_KEY", "SES_REGION"} <= names
    pages = "".join(p.read_text() for p in (REPO / "docs" / "providers").glob("*.md"))
    for name in sorted(names):
        assert f"`{name}`" in README + pages, name


def test_every_public_name_of_the_api_is_documented() -> None:
    import newsletter
    from newsletter.api import Newsletter

    api_doc = (REPO / "docs" / "api.md").read_text()
    methods = [n for n in vars(Newsletter) if not n.startswith("_")]
    for name in methods:
        assert f"`{name}(" in api_doc or f"`{name}." in api_doc or f"`{name}`" in api_doc, name
    assert "newsletter.__all__" in api_doc and len(newsletter.__all__) > 20


def test_the_suite_passes_on_another_publication(tmp_path: Path) -> None:
    """The repository as someone's template: their own settings and issues in place of
    ours, and the tests (which run on tests/fixtures/publication) still pass."""
    import subprocess
    import sys

    copy = tmp_path / "theirs"
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file() and not name.startswith(("issues/", "newsletter.yaml")):
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            (copy / name).write_bytes((REPO / name).read_bytes())
    (copy / "newsletter.yaml").write_text(
        "name: The Valley Ledger\ntagline: Small-town news, every weekday.\n"
        "site_url: https://ledger.example.net\n"
        "from: {name: Valley Ledger, address: desk@ledger.example.net}\n"
        "postal_address: 4 Mill Lane, Valleytown\ntimezone: America/Chicago\n"
        "publishing_days: [mon, tue, wed, thu, fri]\n")
    (copy / "issues").mkdir()
    (copy / "issues" / "2025-03-03.yaml").write_text(
        "date: 2025-03-03\npreheader: Also the bridge, and the school board\nlead:\n"
        "  headline: Council votes on the new library\n  source: Valley Ledger\n"
        "  url: https://ledger.example.net/library\n  body: The vote is on Tuesday.\n"
        "sections:\n  - title: Briefly\n    items:\n      - headline: Bridge reopens\n"
        "        source: County desk\n        url: https://ledger.example.net/bridge\n"
        "        summary: Traffic returns to Mill Lane.\n")
    env = {**os.environ, "PYTHONPATH": str(copy)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         "tests/content", "tests/email/test_render.py", "tests/email/test_lint.py",
         "tests/delivery/test_dates.py", "tests/cli/test_content_commands.py"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout.splitlines()[-1]
