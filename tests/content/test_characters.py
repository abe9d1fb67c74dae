"""Characters that cannot travel in an email, line breaks in one-line fields, nesting, and
the YAML slips editors make: each a one-line error at its place, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from newsletter.content import characters, issue
from newsletter.errors import ProblemsFound
from newsletter.project import Project
from tests.helpers import GOOD_ISSUE, run


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ProblemsFound) as caught:
        issue.load(path, display=path.name)
    return [str(p) for p in caught.value.problems]


# Every C0 control but tab and line feed, DEL, every C1 control, noncharacters, surrogates.
FORBIDDEN = [*(c for c in range(0x20) if c not in (0x09, 0x0A)), 0x7F,
             *range(0x80, 0xA0), 0xFFFE, 0xFFFF, 0x1FFFE, 0xFDD0]


@pytest.mark.parametrize("code", FORBIDDEN, ids=lambda c: f"U+{c:04X}")
def test_an_escaped_control_character_is_refused_at_its_field(
        write_issue: Callable[..., Path], code: int) -> None:
    escaped = f"\\U{code:08X}" if code > 0xFFFF else f"\\u{code:04X}"
    path = write_issue(GOOD_ISSUE + f'subject: "A{escaped}B"\n')
    problems = problems_of(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith("2024-08-01.yaml:17:10: subject: ")
    assert f"U+{code:04X}" in problems[0] and "at character 2" in problems[0]


def test_a_lone_surrogate_is_refused_at_its_place(write_issue: Callable[..., Path]) -> None:
    [problem] = problems_of(write_issue(GOOD_ISSUE + 'subject: "A\\uD800B"\n'))
    assert problem.startswith("2024-08-01.yaml:17:")


@pytest.mark.parametrize("code", [*FORBIDDEN, 0x0A, 0x110000 - 1])
def test_a_character_reference_never_puts_a_control_into_the_email(
        project: Project, write_issue: Callable[..., Path], code: int) -> None:
    # Markdown turns some references into the character, others into U+FFFD: either the
    # file is refused at the field, or what reaches the email is clean.
    for form in (f"&#{code};", f"&#x{code:X};"):
        path = write_issue(GOOD_ISSUE.replace("Second paragraph.", f"Second {form} words."))
        try:
            html = project.render(path).email.html
        except ProblemsFound as exc:
            [problem] = [str(p) for p in exc.problems]
            assert problem.startswith(f"issues/2024-08-01.yaml:6:9: lead.body: {form} stands")
            continue
        assert characters.problem(html, multiline=True) is None


@pytest.mark.parametrize("value", ['"A\\r\\nB"', '"A\\nB"', '"A\\u0085B"', '"A\\u2028B"',
                                   '"A\\u2029B"', '|\n  two\n  lines'])
def test_a_line_break_in_a_one_line_field_is_refused(write_issue: Callable[..., Path],
                                                      value: str) -> None:
    path = write_issue(GOOD_ISSUE + f"subject: {value}\n")
    [problem] = problems_of(path)
    assert "subject: line break U+" in problem and "write it on one line" in problem


def test_line_breaks_stay_allowed_in_prose(write_issue: Callable[..., Path]) -> None:
    assert issue.load(write_issue(GOOD_ISSUE)).lead.body.count("\n") >= 2


def test_a_raw_control_byte_in_the_file_has_its_place(write_issue: Callable[..., Path]) -> None:
    path = write_issue(GOOD_ISSUE.encode() + b"subject: a\x07b\n")
    assert problems_of(path) == ["2024-08-01.yaml:17:11: character U+0007 cannot be in a "
                                 "YAML file; remove it"]


def test_deep_nesting_is_refused_not_a_crash(write_issue: Callable[..., Path]) -> None:
    path = write_issue("date: 2024-08-01\nlead: " + "[" * 500 + "]" * 500 + "\n")
    [problem] = problems_of(path)
    assert problem == "2024-08-01.yaml:2:26: nested more than 20 levels deep"


@pytest.mark.parametrize(("text", "hint"), [
    ("subject: Plus: more\n", "a value that contains ': ' must be quoted"),
    ("lead:\n\theadline: x\n", "indent with spaces, not tabs"),
])
def test_the_commonest_slips_get_a_hint(write_issue: Callable[..., Path], text: str,
                                        hint: str) -> None:
    [problem] = problems_of(write_issue(GOOD_ISSUE.replace("preheader: The preheader\n", "")
                                        + text))
    assert "YAML syntax error" in problem and hint in problem


def test_one_broken_file_does_not_stop_check_of_the_others(
        project_dir: Path, write_issue: Callable[..., Path]) -> None:
    write_issue(GOOD_ISSUE + 'subject: "A\\fB"\n')
    write_issue("date: 2024-08-02\nlead: " + "[" * 500 + "]" * 500 + "\n", "2024-08-02.yaml")
    code, out = run("check")
    assert code == 1 and "Traceback" not in out
    assert out.splitlines()[-2] == "Checked 5 files: 2 errors, 0 warnings."


def test_two_files_for_one_date_are_an_error(project_dir: Path) -> None:
    twin = project_dir / "issues" / "2024-07-23.yml"
    twin.write_bytes((project_dir / "issues" / "2024-07-23.yaml").read_bytes())
    code, out = run("check")
    assert code == 1 and "issues/2024-07-23.yml:1:1: a second file for 2024-07-23 (the other " \
                         "is issues/2024-07-23.yaml); keep one" in out
    code, out = run("send", "2024-07-23", "--dry-run")
    assert code == 1 and "a second file for 2024-07-23" in out
    for named in ("2024-07-23", "issues/2024-07-23.yml", "issues/2024-07-23.yaml"):
        code, out = run("build", named)
        assert code == 1 and "a second file for 2024-07-23" in out, named
    code, out = run("build", "2024-07-24")
    assert code == 0 and "second file" not in out
    code, out = run("archive", "--out", "site", "--all")
    assert code == 1 and "wrote 3 issue pages" in out and "left out 1 issue file" in out


def test_one_broken_file_leaves_only_itself_out_of_the_archive(
        project_dir: Path, write_issue: Callable[..., Path]) -> None:
    write_issue(GOOD_ISSUE.replace("2024-08-01", "2024-07-22") + 'subject: "A\\fB"\n',
                "2024-07-22.yaml")
    code, out = run("archive", "--out", "site", "--all")
    assert code == 1 and "Traceback" not in out
    assert "wrote 3 issue pages, index.html and feed.xml to site/" in out
    assert not (project_dir / "site" / "2024-07-22").exists()


@pytest.mark.parametrize("char", sorted(characters.INVISIBLE), ids=lambda c: f"U+{ord(c):04X}")
def test_bidi_and_zero_width_characters_are_warned_about(
        write_issue: Callable[..., Path], project_dir: Path, char: str) -> None:
    write_issue(GOOD_ISSUE.replace("Teaser one", f"Teaser{char}one"))
    code, out = run("check", "--strict", "issues/2024-08-01.yaml")
    assert code == 1
    assert f"warning: sections[0].items[0].headline: contains U+{ord(char):04X}" in out


@pytest.mark.parametrize("multiline", [False, True])
def test_every_code_point_is_judged_alike_by_the_fast_and_the_plain_rule(
        multiline: bool) -> None:
    # The pattern that finds forbidden characters quickly must agree with the rule as
    # written, for all 1,114,112 code points.
    forbidden = characters.forbidden

    disagree = [code for code in range(0x110000)
                if (characters.problem(chr(code), multiline=multiline) is not None)
                != forbidden(chr(code), multiline=multiline)]
    assert disagree == []
