"""The publication's templates: one copy, at the top of the repository, shipped in the
package as its defaults; a publication's own file of a name wins over the default."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from newsletter import look
from newsletter.project import Project

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "templates"


def test_the_package_reads_the_repositorys_templates_folder() -> None:
    assert look.DEFAULTS.resolve() == TEMPLATES
    assert (TEMPLATES / "issue.mjml.j2").is_file()


def test_each_template_has_one_copy_in_the_repository() -> None:
    names = {path.name for path in TEMPLATES.iterdir()}
    package = REPO / "newsletter"
    copies = [path for path in package.rglob("*.j2")
              if path.name in names and not path.resolve().is_relative_to(TEMPLATES)]
    assert copies == []


def test_every_template_the_publication_renders_with_is_at_the_top() -> None:
    expected = {"issue.mjml.j2", "issue.txt.j2", "archive.html.j2", "archive_issue.html.j2",
                "archive_page.html.j2", "subscribe.html.j2",
                "manage.html.j2", "confirm_email.html.j2", "confirm_email.txt.j2",
                "welcome.html.j2", "welcome.txt.j2", "page.html.j2"}
    assert expected <= {path.name for path in TEMPLATES.iterdir()}


def test_an_installed_package_ships_the_same_folder(tmp_path: Path) -> None:
    # Built from a copy as git holds it (the link a link), so the build's own folders
    # are not left in the repository.
    source = tmp_path / "source"
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        source.mkdir(exist_ok=True)
        shutil.copy(REPO / name, source)
    for folder in ("newsletter", "templates"):
        shutil.copytree(REPO / folder, source / folder, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    assert (source / "newsletter" / "templates").is_symlink()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "--wheel-dir", str(tmp_path), str(source)],
                   check=True, capture_output=True)
    [wheel] = tmp_path.glob("newsletter-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name.removeprefix("newsletter/templates/"): archive.read(name)
                   for name in archive.namelist() if name.startswith("newsletter/templates/")}
    assert shipped == {path.name: path.read_bytes() for path in TEMPLATES.iterdir()}


def test_a_publications_own_template_wins_and_the_rest_are_the_defaults(
        project_dir: Path) -> None:
    own = project_dir / "templates"
    own.mkdir()
    (own / "issue.txt.j2").write_text("Only {{ subject }}\n")
    rendered = Project(project_dir / "newsletter.yaml").render(
        sorted((project_dir / "issues").glob("*.yaml"))[0]).email
    assert rendered.text == f"Only {rendered.subject}\n"
    assert "<mjml" not in rendered.html and "</html>" in rendered.html  # the default's HTML


def test_a_folder_that_is_the_defaults_is_searched_once() -> None:
    assert look.folders(REPO / "templates") == [REPO / "templates"]
    assert look.folders(None) == [look.DEFAULTS]
    assert look.folders(REPO / "no-such-folder") == [look.DEFAULTS]
