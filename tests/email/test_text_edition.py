"""The plain-text edition is designed to be read: no markup, links written out, short lines."""

from __future__ import annotations

import email
import re
from collections.abc import Callable
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.content import richtext
from newsletter.delivery.providers.outbox.transport import file_name
from newsletter.email.render import UNSUBSCRIBE_TOKEN, Email
from newsletter.project import Project, Rendered
from newsletter.store import subscribers as store
from tests.helpers import GOOD_ISSUE, run_send


def test_text_edition_carries_every_story_and_link(rendered: Rendered) -> None:
    issue, text = rendered.parsed.issue, rendered.email.text
    assert text.startswith("BIG MEDIA\nTuesday, July 23, 2024\n")
    assert issue.lead.headline in text and f"({issue.lead.source})" in text
    assert f"\n\nRead the full story:\n{issue.lead.url}\n\n" in text
    assert "BIG WRAP" in text
    for item in issue.sections[0].items:
        assert f"* {item.headline}" in text and item.url in text
    assert "BIG Media Ltd, 12 Example Row, London EC1A 1AA" in text
    assert "View in your browser:\nhttps://news.bigmedia.example/2024-07-23/" in text
    assert f"Unsubscribe:\n{UNSUBSCRIBE_TOKEN}" in text


def test_no_html_leftovers_and_lines_fit(email: Email) -> None:
    text = email.text
    assert not re.search(r"<[a-z/][^>]*>|&[a-z]+;|&#\d+;", text)
    long_lines = [line for line in text.splitlines() if len(line) > 72]
    assert all(URL_ALONE.fullmatch(line) for line in long_lines), long_lines


# A line that is a URL and nothing else (in the parentheses of an inline link, say).
URL_ALONE = re.compile(r"\s*\(?(https?://|mailto:)\S+?\)?[.,;:!?]?")
LONG_NAME = "Maximiliane Theodora Wilhelmina von und zu Hohenzollern-Sigmaringen"


def test_every_line_of_every_personal_text_edition_fits(
        engine: Engine, project_dir: Path, tmp_path: Path) -> None:
    """What a reader gets, links and greeting filled in: no line over 78 characters
    (RFC 5322's advice) but a URL alone on its line; a URL never shares a line with words."""
    settings = project_dir / "newsletter.yaml"
    settings.write_text(settings.read_text() + "delivery:\n  greeting: Good morning, {name}\n")
    project = Project(settings)
    store.add(engine, "ann@example.org", name=LONG_NAME)
    for path in project.issue_files():
        run_send(engine, project, transport="outbox", outbox=tmp_path,
                 email=project.render(path).email)
        raw = (tmp_path / path.stem / file_name("ann@example.org")).read_bytes()
        text = next(email.message_from_bytes(raw, policy=policy.default).iter_parts())
        lines = text.get_content().splitlines()
        assert any(LONG_NAME.split()[0] in line for line in lines)
        for line in lines:
            assert len(line) <= 78 or URL_ALONE.fullmatch(line), line
            if "://" in line:
                assert URL_ALONE.fullmatch(line) or line.endswith(")") or \
                    line.endswith(")."), line  # an inline link: words (url)


def test_inline_links_are_written_out(project: Project, write_issue: Callable[..., Path]) -> None:
    text = project.render(write_issue(GOOD_ISSUE)).email.text
    assert "First paragraph with a link (https://example.com/inline)." in text


def test_markdown_to_text_keeps_raw_html_as_words() -> None:
    source = "Cats & dogs <b>bold</b>, *soft*, **hard**, <https://example.com/x>."
    assert richtext.to_text(source) == \
        "Cats & dogs <b>bold</b>, _soft_, *hard*, https://example.com/x."


def test_markdown_to_html_escapes() -> None:
    assert richtext.to_html("a <script>x</script> & [l](https://e.com/?a=1&b=2)") == \
        '<p>a &lt;script&gt;x&lt;/script&gt; &amp; <a href="https://e.com/?a=1&amp;b=2">l</a></p>'


@pytest.mark.parametrize(("source", "plain"), [
    ("*ocean-based carbon removal*", "ocean-based carbon removal"),
    ("_not yet_ and __quite__", "not yet and quite"),
    ("**funded**", "funded"),
    ("say `experts`", "say experts"),
    ("in [a report](https://e.com/r) and <https://e.com/a>", "in a report and https://e.com/a"),
    (r"a \*literal\* star", "a *literal* star"),  # escaped by the editor: theirs to show
    ("a <b>tag</b> &amp; snake_case_name", "a <b>tag</b> & snake_case_name"),
    ("one\nline\n\ntwo", "one line\n\ntwo"),
])
def test_markdown_to_plain_words(source: str, plain: str) -> None:
    """The index's and the feed's excerpts: the words, none of Markdown's marks."""
    assert richtext.to_plain(source) == plain
