"""The generated reference pages are the code's: docs/reference/cli.md is every
command's --help and docs/reference/python.md every public name's docstring, and a test
fails while the committed files are out of date (run python tools/gen_reference.py)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import click
import pytest

from newsletter.cli import main
from tests.helpers import REPO


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference",
                                                  REPO / "tools" / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


def test_the_committed_reference_is_up_to_date() -> None:
    """In a process of its own: click keeps state on each command once its help has been
    made (the help option), so a page made after other tests could differ from the
    command line's own."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, str(REPO / "tools" / "gen_reference.py"),
                             "--check"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_command_and_option_has_its_place_in_the_cli_page() -> None:
    sections = _sections((REPO / "docs" / "reference" / "cli.md").read_text())
    commands = list(GEN.command_pages(main))
    assert len(commands) > 20
    for path, command in commands:
        section = sections[" ".join(path)]
        assert f"Usage: {' '.join(path)} " in section
        for parameter in command.params:
            if isinstance(parameter, click.Option) and not parameter.hidden:
                assert parameter.opts[0] in section, (path, parameter.opts)


def test_every_public_name_and_method_has_its_place_in_the_python_page() -> None:
    import newsletter
    from newsletter import Newsletter

    sections = _sections((REPO / "docs" / "reference" / "python.md").read_text())
    assert set(newsletter.__all__) <= set(sections)
    text = (REPO / "docs" / "reference" / "python.md").read_text()
    for name in vars(Newsletter):
        if not name.startswith("_"):
            assert f"### Newsletter.{name}\n" in text, name
    assert Newsletter.send.__doc__ is not None
    assert Newsletter.send.__doc__.split("\n")[0].strip() in text


def test_a_stale_page_is_named_and_rewritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "cli.md"
    page.write_text(GEN.cli_page().replace("--strict", "--strikt"))
    monkeypatch.setattr(GEN, "ROOT", tmp_path)
    monkeypatch.setattr(GEN, "PAGES", {page: GEN.cli_page})
    assert GEN.main(["--check"]) == 1
    assert "out of date: cli.md" in capsys.readouterr().err
    assert "--strikt" in page.read_text()  # --check writes nothing
    assert GEN.main([]) == 0
    assert page.read_text() == GEN.cli_page()
    assert GEN.main(["--check"]) == 0
