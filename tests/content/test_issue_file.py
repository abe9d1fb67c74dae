"""Every kind of bad issue file gets its exact one-line message, all of them at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from newsletter.content import issue
from newsletter.errors import ProblemsFound
from tests.helpers import GOOD_ISSUE


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ProblemsFound) as caught:
        issue.load(path, display=path.name)
    return [str(p) for p in caught.value.problems]


def test_good_file_loads_into_typed_model(write_issue: Callable[..., Path]) -> None:
    loaded = issue.load(write_issue(GOOD_ISSUE))
    assert loaded.date.isoformat() == "2024-08-01"
    assert loaded.subject_line == "Lead headline"
    assert loaded.sections[0].items[0].source == "Source One"
    assert loaded.sections[0].title is None


def test_yaml_syntax_error_has_line_and_column(write_issue: Callable[..., Path]) -> None:
    path = write_issue("date: 2024-08-01\nlead: [unclosed\n")
    [problem] = problems_of(path)
    assert problem.startswith("2024-08-01.yaml:3:1: YAML syntax error:")
    assert "expected ',' or ']'" in problem


def test_missing_fields_point_at_the_mapping(write_issue: Callable[..., Path]) -> None:
    path = write_issue("""\
        date: 2024-08-01
        lead:
          headline: Only a headline
        sections:
          - items:
              - headline: h
                source: s
                url: https://example.com/
                summary: x
        """)
    assert problems_of(path) == [
        "2024-08-01.yaml:3:3: lead.body: required field is missing",
        "2024-08-01.yaml:3:3: lead.source: required field is missing",
        "2024-08-01.yaml:3:3: lead.url: required field is missing",
    ]


def test_wrong_types(write_issue: Callable[..., Path]) -> None:
    path = write_issue("""\
        date: 2024-08-01
        lead: just text
        sections: {items: []}
        """)
    assert problems_of(path) == [
        "2024-08-01.yaml:2:7: lead: expected a mapping of keys, got text",
        "2024-08-01.yaml:3:11: sections: expected a list, got a mapping",
    ]


def test_unknown_key_suggests_the_close_name(write_issue: Callable[..., Path]) -> None:
    path = write_issue(GOOD_ISSUE.replace("  headline: Lead headline", "  headlien: Lead headline"))
    assert "2024-08-01.yaml:3:3: lead.headlien: unknown key 'headlien' (did you mean 'headline'?)" \
        in problems_of(path)


def test_unknown_key_without_close_name_lists_the_known(write_issue: Callable[..., Path]) -> None:
    path = write_issue(GOOD_ISSUE + "weather: sunny\n")
    assert problems_of(path) == [
        "2024-08-01.yaml:17:1: weather: unknown key 'weather'; expected one of: "
        "date, subject, preheader, lead, sections"
    ]


def test_duplicate_key_is_an_error(write_issue: Callable[..., Path]) -> None:
    path = write_issue(GOOD_ISSUE.replace("  source: Lead Source\n",
                                          "  source: Lead Source\n  source: Other\n"))
    assert problems_of(path) == ["2024-08-01.yaml:5:3: lead.source: duplicate key (first given on line 4)"]


def test_date_must_match_file_name(write_issue: Callable[..., Path]) -> None:
    path = write_issue(GOOD_ISSUE, name="2024-08-02.yaml")
    assert problems_of(path) == [
        "2024-08-02.yaml:1:7: date: date 2024-08-01 does not match the file name 2024-08-02.yaml"
    ]


def test_file_name_must_be_a_date(write_issue: Callable[..., Path]) -> None:
    path = write_issue(GOOD_ISSUE, name="monday.yaml")
    assert problems_of(path) == [
        "monday.yaml:1:1: file name must be the issue's date, like 2024-07-23.yaml"
    ]


def test_bad_date_value(write_issue: Callable[..., Path]) -> None:
    path = write_issue(GOOD_ISSUE.replace("date: 2024-08-01", "date: 2024-8-1"))
    assert problems_of(path) == ["2024-08-01.yaml:1:7: date: expected a date like 2024-07-23, not '2024-8-1'"]


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,hi", "/relative/path",
                                 "ftp://example.com/x", "example.com/no-scheme"])
def test_links_must_be_absolute_http(write_issue: Callable[..., Path], url: str) -> None:
    path = write_issue(GOOD_ISSUE.replace("https://example.com/one", url))
    assert problems_of(path) == [
        f"2024-08-01.yaml:14:14: sections[0].items[0].url: must be an absolute http(s) URL, not {url!r}"
    ]


def test_links_inside_markdown_are_checked(write_issue: Callable[..., Path]) -> None:
    path = write_issue(GOOD_ISSUE.replace("(https://example.com/inline)", "(javascript:alert(1))"))
    assert problems_of(path) == [
        "2024-08-01.yaml:6:9: lead.body: link 'javascript:alert(1)' must be an absolute http(s) URL"
    ]


def test_empty_headline(write_issue: Callable[..., Path]) -> None:
    path = write_issue(GOOD_ISSUE.replace("headline: Teaser one", 'headline: "   "'))
    assert problems_of(path) == ["2024-08-01.yaml:12:19: sections[0].items[0].headline: must not be empty"]


def test_empty_section_list_and_items(write_issue: Callable[..., Path]) -> None:
    text = GOOD_ISSUE.split("sections:")[0] + "sections:\n  - title: Empty\n    items: []\n"
    assert problems_of(write_issue(text)) == [
        "2024-08-01.yaml:12:12: sections[0].items: needs at least 1 item(s)"
    ]


def test_image_needs_alt_text(write_issue: Callable[..., Path]) -> None:
    path = write_issue(GOOD_ISSUE.replace("  url: https://example.com/lead\n",
                                          "  url: https://example.com/lead\n"
                                          "  image: {src: https://example.com/a.jpg}\n"))
    assert problems_of(path) == ["2024-08-01.yaml:6:10: lead.image.alt: required field is missing"]


def test_invalid_utf8_names_the_byte(write_issue: Callable[..., Path]) -> None:
    raw = GOOD_ISSUE.encode().replace(b"Summary one.", b"Summary \xff one.")
    assert problems_of(write_issue(raw)) == [
        "2024-08-01.yaml:15:26: not valid UTF-8 (byte 0xff); save the file as UTF-8"
    ]


def test_oversized_file_is_refused_unread(write_issue: Callable[..., Path]) -> None:
    path = write_issue(GOOD_ISSUE + "#" * issue.MAX_ISSUE_BYTES)
    [problem] = problems_of(path)
    assert problem.startswith("2024-08-01.yaml:1:1: file is 2")
    assert problem.endswith(f"bytes; the limit is {issue.MAX_ISSUE_BYTES:,}")


def test_alias_bomb_is_refused(write_issue: Callable[..., Path]) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, 10):
        lines.append(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]")
    path = write_issue("\n".join(lines) + "\n")
    assert problems_of(path) == [
        "2024-08-01.yaml:2:10: YAML aliases (*name) are not allowed; write the value out"
    ]


def test_python_tags_are_refused(write_issue: Callable[..., Path]) -> None:
    path = write_issue(GOOD_ISSUE.replace("Lead Source", "!!python/object/apply:os.system [echo]"))
    [problem] = problems_of(path)
    assert problem.startswith("2024-08-01.yaml:4:11: lead.source: YAML tag")


def test_yaml_one_one_surprises_stay_text(write_issue: Callable[..., Path]) -> None:
    # Unquoted "no" is a boolean and "12:30" a number in YAML 1.1; editors mean text.
    text = GOOD_ISSUE.replace("Teaser one", "no").replace("Source One", "12:30")
    item = issue.load(write_issue(text)).sections[0].items[0]
    assert (item.headline, item.source) == ("no", "12:30")


def test_empty_file(write_issue: Callable[..., Path]) -> None:
    assert problems_of(write_issue("# nothing yet\n")) == ["2024-08-01.yaml:1:1: file is empty"]


def test_all_problems_reported_together(write_issue: Callable[..., Path]) -> None:
    path = write_issue("""\
        date: 2024-08-02
        lead:
          headline: ""
          source: S
          url: javascript:void(0)
          body: b
          sauce: x
        sections: []
        """)
    assert problems_of(path) == [
        "2024-08-01.yaml:1:7: date: date 2024-08-02 does not match the file name 2024-08-01.yaml",
        "2024-08-01.yaml:3:13: lead.headline: must not be empty",
        "2024-08-01.yaml:5:8: lead.url: must be an absolute http(s) URL, not 'javascript:void(0)'",
        "2024-08-01.yaml:7:3: lead.sauce: unknown key 'sauce' (did you mean 'source'?)",
        "2024-08-01.yaml:8:11: sections: needs at least 1 item(s)",
    ]
