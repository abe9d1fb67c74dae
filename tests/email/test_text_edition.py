"""The plain-text edition is designed to be read: no markup, links written out, short lines."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from newsletter.content import richtext
from newsletter.email.render import UNSUBSCRIBE_TOKEN, Email
from newsletter.project import Project, Rendered
from tests.helpers import GOOD_ISSUE


def test_text_edition_carries_every_story_and_link(rendered: Rendered) -> None:
    issue, text = rendered.parsed.issue, rendered.email.text
    assert text.startswith("BIG MEDIA\nTuesday, July 23, 2024\n")
    assert issue.lead.headline in text and f"({issue.lead.source})" in text
    assert f"Read the full story: {issue.lead.url}" in text
    assert "BIG WRAP" in text
    for item in issue.sections[0].items:
        assert f"* {item.headline}" in text and item.url in text
    assert "BIG Media Ltd, 12 Example Row, London EC1A 1AA" in text
    assert "View in your browser: https://news.bigmedia.example/2024-07-23/" in text
    assert f"Unsubscribe: {UNSUBSCRIBE_TOKEN}" in text


def test_no_html_leftovers_and_lines_fit(email: Email) -> None:
    text = email.text
    assert not re.search(r"<[a-z/][^>]*>|&[a-z]+;|&#\d+;", text)
    long_lines = [line for line in text.splitlines() if len(line) > 72]
    assert all("http" in line for line in long_lines), long_lines  # only unbreakable URLs


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
