"""Shared fixtures: a throwaway copy of the example publication for each test."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from newsletter.project import Project

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_DAY = "2024-07-23"


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repo's publication (settings and issues) as the working folder."""
    shutil.copy(REPO / "newsletter.yaml", tmp_path / "newsletter.yaml")
    shutil.copytree(REPO / "issues", tmp_path / "issues")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSLETTER_CONFIG", raising=False)
    return tmp_path


@pytest.fixture
def project(project_dir: Path) -> Project:
    return Project(project_dir / "newsletter.yaml")


@pytest.fixture
def write_issue(project_dir: Path) -> Callable[..., Path]:
    """Write an issue file (dedented text or bytes) under issues/ and return its path."""

    def write(content: str | bytes, name: str = "2024-08-01.yaml") -> Path:
        path = project_dir / "issues" / name
        if isinstance(content, str):
            content = textwrap.dedent(content).encode("utf-8")
        path.write_bytes(content)
        return path

    return write


GOOD_ISSUE = """\
date: 2024-08-01
lead:
  headline: Lead headline
  source: Lead Source
  url: https://example.com/lead
  body: |
    First paragraph with a [link](https://example.com/inline).

    Second paragraph.
sections:
  - items:
      - headline: Teaser one
        source: Source One
        url: https://example.com/one
        summary: Summary one.
"""
