"""The README stays true: every command documented, its quickstart commands real."""

from __future__ import annotations

import re

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
