"""The docs name only what exists: every ``newsletter ...`` command line in README.md and
docs/ (code blocks and inline code) resolves in the click command tree, subcommand by
subcommand and option by option, and every relative link between the files, with its
``#anchor``, lands somewhere. A failure names the file and line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from newsletter.cli import main
from tests.helpers import REPO

# Options in inline code that belong to another tool, named where the docs use them.
OTHER_TOOLS = {
    "--upgrade": "pip-compile's, in the lock's update command (docs/operators.md)",
}
FENCE = re.compile(r"^(\s*)(```|~~~)(\S*)")
INLINE = re.compile(r"(?<!`)`([^`\n]+(?:\n[^`\n]+)*?)`(?!`)")
# Where a shell line starts a new command.
SEPARATORS = re.compile(r"&&|\|\||;|\||\$\(|`|\(|\)")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S*$")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int
    text: str
    code_block: bool

    def where(self, root: Path) -> str:
        return f"{self.path.relative_to(root)}:{self.line}"


def doc_files(root: Path = REPO) -> list[Path]:
    return [root / "README.md", root / "benchmarks" / "README.md",
            *sorted((root / "docs").rglob("*.md"))]


def split_markdown(path: Path) -> tuple[list[Snippet], list[Snippet]]:
    """The code of a Markdown file (each line of a fenced block that is not YAML or
    Python, each inline span) and its prose (lines outside fences, spans removed)."""
    code: list[Snippet] = []
    prose: list[Snippet] = []
    fence: str | None = None
    language = ""
    outside: list[tuple[int, str]] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        opened = FENCE.match(line)
        if fence is None and opened:
            fence, language = opened.group(2), opened.group(3).lower()
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is not None:
            if language not in ("yaml", "yml", "python", "json", "toml"):
                code.append(Snippet(path, number, line, True))
        else:
            outside.append((number, line))
    for paragraph in _paragraphs(outside):
        first, text = paragraph
        for match in INLINE.finditer(text):
            line = first + text.count("\n", 0, match.start())
            code.append(Snippet(path, line, match.group(1).replace("\n", " "), False))
        stripped = INLINE.sub("``", text)
        for offset, piece in enumerate(stripped.split("\n")):
            prose.append(Snippet(path, first + offset, piece, False))
    return code, prose


def _paragraphs(lines: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """Runs of consecutive non-blank lines (an inline span may cross a line break)."""
    run: list[tuple[int, str]] = []
    for number, line in [*lines, (0, "")]:
        if line.strip() and (not run or number == run[-1][0] + 1):
            run.append((number, line))
            continue
        if run:
            yield run[0][0], "\n".join(text for _, text in run)
        run = [(number, line)] if line.strip() else []


def command_lines(snippet: Snippet) -> Iterator[list[str]]:
    """The words after ``newsletter`` of each command the snippet runs."""
    text = snippet.text.replace("\\|", "|")
    if snippet.code_block:
        text = re.sub(r"\s#\s.*$", "", text)  # a shell comment
    for segment in SEPARATORS.split(text):
        words = [w for w in segment.replace("[", " ").replace("]", " ").split()]
        while words and ASSIGNMENT.match(words[0]):
            words.pop(0)
        if words and (words[0] == "newsletter" or words[0].endswith("/newsletter")):
            yield [w for w in words[1:] if w not in ("...", "|")]


def commands_without_prefix(snippet: Snippet) -> Iterator[list[str]]:
    """Inline code that starts with a command's name and goes on with one of its options
    or subcommands (`send --due`, `subscribers remove --forget`): the same command."""
    if snippet.code_block:
        return
    words = snippet.text.replace("\\|", "|").replace("[", " ").replace("]", " ").split()
    if len(words) < 2:
        return
    command = main.get_command(click.Context(main), words[0])
    if command is None:
        return
    follows = words[1].startswith("-") or (
        isinstance(command, click.Group) and words[1] in command.list_commands(
            click.Context(command)))
    if follows:
        yield words


def _options(command: click.Command) -> dict[str, click.Parameter]:
    names = main.context_settings.get("help_option_names", ["--help"])
    found: dict[str, click.Parameter] = {name: click.Option([name], is_flag=True)
                                         for name in names}
    for parameter in command.params:
        if isinstance(parameter, click.Option):
            for name in [*parameter.opts, *parameter.secondary_opts]:
                found[name] = parameter
    return found


def resolve(words: list[str]) -> str | None:
    """None when ``newsletter WORDS`` names real commands and options, else why not."""
    command: click.Command = main
    path = ["newsletter"]
    chosen = False
    rest = list(words)
    while rest:
        word = rest.pop(0)
        if word == "--":  # the end of the options: what follows is arguments
            return None
        if word.startswith("-") and len(word) > 1:
            name = word.split("=", 1)[0]
            option = _options(command).get(name)
            if option is None:
                return f"{' '.join(path)} has no option {name}"
            if not getattr(option, "is_flag", False) and "=" not in word and rest:
                rest.pop(0)  # its value
        elif isinstance(command, click.Group) and not chosen:
            if word.isupper():  # a placeholder, COMMAND: nothing further to resolve
                return None
            sub = command.get_command(click.Context(command), word)
            if sub is None:
                return f"{' '.join(path)} has no command {word!r}"
            command, path = sub, [*path, word]
            chosen = not isinstance(sub, click.Group)
    return None


def bare_option(snippet: Snippet) -> str | None:
    """An inline span that is an option alone (`--strict`, `--lease-timeout SECONDS`)."""
    if snippet.code_block:
        return None
    match = re.fullmatch(r"(--?[A-Za-z][\w-]*)(?:[ =]\S+)?", snippet.text.strip())
    return match.group(1) if match else None


def every_option() -> set[str]:
    found: set[str] = set()

    def walk(command: click.Command) -> None:
        found.update(_options(command))
        if isinstance(command, click.Group):
            context = click.Context(command)
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                if sub is not None:
                    walk(sub)
    walk(main)
    return found


def command_problems(files: list[Path], root: Path = REPO) -> list[str]:
    options = every_option()
    problems = []
    for path in files:
        code, _ = split_markdown(path)
        for snippet in code:
            for words in [*command_lines(snippet), *commands_without_prefix(snippet)]:
                why = resolve(words)
                if why:
                    problems.append(f"{snippet.where(root)}: {why}: {snippet.text.strip()}")
            # benchmarks/README.md speaks of the scripts' options (checked below).
            option = None if path.parent.name == "benchmarks" else bare_option(snippet)
            if option and option not in options and option not in OTHER_TOOLS:
                problems.append(f"{snippet.where(root)}: no command has the option {option}")
    return problems


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation gone, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a file's headings (outside code blocks), repeats numbered."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    fence = None
    for line in path.read_text().splitlines():
        opened = FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(2)
        elif fence is not None:
            fence = None if line.strip().startswith(fence) else fence
        elif heading := re.match(r"^#{1,6}\s+(.*?)\s*#*$", line):
            name = slug(heading.group(1).replace("`", ""))
            count = seen.get(name, 0)
            seen[name] = count + 1
            found.add(name if count == 0 else f"{name}-{count}")
    return found


def link_problems(files: list[Path], root: Path = REPO) -> list[str]:
    problems = []
    for path in files:
        _, prose = split_markdown(path)
        for snippet in prose:
            for match in LINK.finditer(snippet.text):
                target = match.group(1) or match.group(2)
                why = _broken(path, target, root)
                if why:
                    problems.append(f"{snippet.where(root)}: {target}: {why}")
    return problems


def _broken(source: Path, target: str, root: Path) -> str | None:
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
        return None
    file_part, _, anchor = target.partition("#")
    destination = (source.parent / file_part).resolve() if file_part else source
    if not destination.exists():
        return "no such file"
    if not destination.is_relative_to(root.resolve()):
        return "outside the repository"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"no heading #{anchor} in {destination.relative_to(root.resolve())}"
    return None


def test_every_command_and_option_in_the_docs_exists() -> None:
    assert command_problems(doc_files()) == []


def benchmark_commands(files: list[Path]) -> dict[str, set[str]]:
    """Each benchmark script the docs run, with the options they give it."""
    found: dict[str, set[str]] = {}
    for path in files:
        for snippet in split_markdown(path)[0]:
            for match in re.finditer(r"benchmarks/(\w+\.py)((?:\s+[^`\s]+)*)", snippet.text):
                options = set(re.findall(r"(?<![\w-])(--[\w-]+)", match.group(2)))
                found.setdefault(match.group(1), set()).update(options)
    return found


def test_every_benchmark_the_docs_run_exists_with_its_options() -> None:
    import subprocess
    import sys

    found = benchmark_commands(doc_files())
    assert {"send.py", "membership.py", "web.py"} <= set(found)
    for script, options in sorted(found.items()):
        path = REPO / "benchmarks" / script
        assert path.is_file(), script
        result = subprocess.run([sys.executable, str(path), "--help"], cwd=REPO,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        accepted = set(re.findall(r"(--[\w-]+)", result.stdout))
        assert options <= accepted, (script, options - accepted)


def test_every_relative_link_in_the_docs_resolves() -> None:
    assert link_problems(doc_files()) == []


def test_the_docs_are_scanned_at_all() -> None:
    """The scan finds the README's first command and the docs' commands: an empty scan
    would pass the tests above for nothing."""
    found = [(s.path.name, words) for path in doc_files()
             for s in split_markdown(path)[0] for words in command_lines(s)]
    assert ("README.md", ["subscribers", "import", "examples/subscribers.csv"]) in found
    assert ("README.md", ["send", "2024-07-23"]) in found
    assert len({name for name, _ in found}) >= 5 and len(found) > 50


@pytest.mark.parametrize(("markdown", "expected"), [
    ("Run `newsletter sned 2024-07-23`.\n", "3: newsletter has no command 'sned'"),
    ("```sh\n.venv/bin/newsletter send 2024-07-23 --dryrun\n```\n",
     "4: newsletter send has no option --dryrun"),
    ("```sh\nexport X=1 && newsletter subscribers purge\n```\n",
     "4: newsletter subscribers has no command 'purge'"),
    ("Use `newsletter check [--strict] [--check-links [--link-wait S]]`.\n",
     "3: newsletter check has no option --link-wait"),
    ("A flag, `--no-such-flag`, alone.\n", "3: no command has the option --no-such-flag"),
    ("Then `send --later` again.\n", "3: newsletter send has no option --later"),
    ("Then `subscribers remove --forgt`,\nwrapped over\n`newsletter serve\n--prot 1`.\n",
     "3: newsletter subscribers remove has no option --forgt"),
    ("Then `subscribers remove --forgt`,\nwrapped over\n`newsletter serve\n--prot 1`.\n",
     "5: newsletter serve has no option --prot"),
    ("`newsletter send DATE -t you@example.org`\n", "3: newsletter send has no option -t"),
])
def test_the_scan_names_file_and_line_of_what_does_not_exist(
        tmp_path: Path, markdown: str, expected: str) -> None:
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n" + markdown)
    problems = command_problems([page], root=tmp_path)
    assert any(p.startswith(f"page.md:{expected}") for p in problems), problems


@pytest.mark.parametrize("markdown", [
    "`newsletter send 2024-07-23 --to you@example.org --transport outbox`\n",
    "```sh\nset -a && . /etc/newsletter.env && set +a && newsletter serve --port 8080\n```\n",
    "`newsletter subscribers remove ADDRESS [--status unsubscribed\\|bounced] [--forget]`\n",
    "`newsletter --config site.yaml check --strict`, `newsletter COMMAND --help`\n",
    "```sh\npg_dump -U newsletter -Fc newsletter > backup.dump\n```\n",
    "```yaml\nnewsletter: --not-checked\n```\n",
    "The `newsletter.yaml` file, and `send` in prose, `status DATE`.\n",
])
def test_what_is_real_or_not_a_command_passes(tmp_path: Path, markdown: str) -> None:
    page = tmp_path / "page.md"
    page.write_text(markdown)
    assert command_problems([page], root=tmp_path) == []


def test_a_broken_link_or_anchor_is_named(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(
        "# A\n\n## `newsletter.yaml` and you\n\nSee [b](b.md), [c](c.md#there),\n"
        "[here](#newsletteryaml-and-you), [gone](#gone) and [web](https://x.example/y).\n"
        "`[not a link](nowhere.md)` [up](../../x.md)\n\n```\n## Not a heading\n```\n"
        "[fenced](#not-a-heading)\n")
    (tmp_path / "docs" / "c.md").write_text("# C\n\n## Elsewhere\n")
    problems = link_problems([tmp_path / "docs" / "a.md"], root=tmp_path)
    assert problems == ["docs/a.md:5: b.md: no such file",
                        "docs/a.md:5: c.md#there: no heading #there in docs/c.md",
                        "docs/a.md:6: #gone: no heading #gone in docs/a.md",
                        "docs/a.md:7: ../../x.md: no such file",
                        "docs/a.md:12: #not-a-heading: no heading #not-a-heading in docs/a.md"]


# commands.md's table against each command's own options: the table once listed
# `--transport auto|sendgrid|smtp|outbox` after `ses` had joined the choices.
CELL = re.compile(r"(?<!\\)\|")
CHOICES = re.compile(r"(--[\w-]+)[ =]((?:[\w-]+\\\|)+[\w-]+)")


def table_rows(path: Path = REPO / "docs" / "commands.md") -> list[tuple[int, str, str]]:
    """Each row of the commands table: its line, its first cell and its second."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("| `newsletter"):
            first, second = CELL.split(line)[1:3]
            rows.append((number, first, second))
    return rows


def row_commands(cell: str) -> list[click.Command]:
    """The commands a row's first cell names: `newsletter GROUP SUB ...`, then siblings
    named alone (`list [--status S]`, `count`)."""
    found: list[click.Command] = []
    group: click.Group = main
    for span in INLINE.findall(cell):
        words = span.replace("\\|", "|").split()
        command: click.Command = main
        if words[0] == "newsletter":
            words = words[1:]
        else:
            command = group
        for word in words:
            if not isinstance(command, click.Group):
                break
            sub = command.get_command(click.Context(command), word)
            if sub is None:
                break
            group, command = command, sub
        found.append(command)
    return found


def drift(rows: list[tuple[int, str, str]]) -> list[str]:
    """What the table leaves out of a command's options, or gives as choices that are
    not the option's."""
    named: dict[str, tuple[click.Command, set[str]]] = {}
    problems = []
    for number, first, second in rows:
        commands = row_commands(first)
        options = set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", first + second))
        for command in commands:
            named.setdefault(command.name or "", (command, set()))[1].update(options)
        for option, listed in CHOICES.findall(first + second):
            choices = [set(p.type.choices) for c in commands for p in c.params
                       if option in getattr(p, "opts", ()) and isinstance(p.type, click.Choice)]
            if choices and set(listed.split("\\|")) not in choices:
                problems.append(f"docs/commands.md:{number}: {option} {listed} is not "
                                f"{' or '.join('|'.join(sorted(c)) for c in choices)}")
    for name, (command, options) in sorted(named.items()):
        real = {o for p in command.params if isinstance(p, click.Option) for o in p.opts}
        problems += [f"docs/commands.md: {name} has {o}, which its row does not give"
                     for o in sorted(real - options)]
    return problems


def test_the_commands_table_gives_every_option_and_its_choices() -> None:
    rows = table_rows()
    assert len(rows) > 20
    assert {c.name for _, first, _ in rows for c in row_commands(first)} >= \
        {"send", "check", "build", "schedule", "export", "list", "count", "health"}
    assert drift(rows) == []


def test_the_table_check_finds_a_missing_choice_and_option(tmp_path: Path) -> None:
    table = tmp_path / "commands.md"
    table.write_text("| `newsletter send DATE` | `--transport auto\\|sendgrid\\|smtp\\|outbox` |\n")
    problems = drift(table_rows(table))
    assert problems[0] == ("docs/commands.md:1: --transport auto\\|sendgrid\\|smtp\\|outbox is "
                           "not auto|outbox|sendgrid|ses|smtp")
    assert "docs/commands.md: send has --dry-run, which its row does not give" in problems
