"""The rendered email: structure a reader relies on, escaping, determinism, size limits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lxml.html

from newsletter.email import lint
from newsletter.email.render import UNSUBSCRIBE_TOKEN
from newsletter.project import Project, Rendered
from tests.helpers import EXAMPLE_DAY, GOOD_ISSUE


def test_html_has_lead_sections_and_footer(rendered: Rendered) -> None:
    issue, email = rendered.parsed.issue, rendered.email
    page = lxml.html.document_fromstring(email.html)
    text = page.text_content()
    assert issue.lead.headline in text and issue.lead.source in text
    assert "Tuesday, July 23, 2024" in text
    for section in issue.sections:
        assert (section.title or "").upper() in text.upper()
        for item in section.items:
            assert item.headline in text and item.source in text
    assert "BIG Media Ltd, 12 Example Row" in text  # postal address
    hrefs = [a.get("href") for a in page.iter("a")]
    assert issue.lead.url in hrefs
    assert all(item.url in hrefs for s in issue.sections for item in s.items)
    assert "https://news.bigmedia.example/2024-07-23/" in hrefs  # view in browser
    assert UNSUBSCRIBE_TOKEN in hrefs


def test_html_head_declares_language_dark_mode_and_viewport(rendered: Rendered) -> None:
    html = rendered.email.html
    page = lxml.html.document_fromstring(html)
    assert html.startswith("<!doctype html>")
    assert page.get("lang") == "en-US"
    assert page.xpath('//meta[@name="color-scheme"]/@content') == ["light dark"]
    assert page.xpath('//meta[@name="viewport"]')
    assert "@media (prefers-color-scheme: dark)" in html
    assert "[data-ogsc]" in html  # Outlook.com's dark mode
    assert page.findtext(".//title") == rendered.email.subject


def test_preheader_is_hidden_and_first_in_body(rendered: Rendered) -> None:
    page = lxml.html.document_fromstring(rendered.email.html)
    first = page.body[0]
    assert "display:none" in first.get("style").replace(" ", "")
    assert first.text_content().startswith("Plus Netanyahu's Washington trip")


def test_css_is_inlined(rendered: Rendered) -> None:
    page = lxml.html.document_fromstring(rendered.email.html)
    links = [a for a in page.iter("a") if a.get("href") == rendered.parsed.issue.lead.url]
    assert all("color:" in (a.get("style") or "") for a in links)


def test_content_is_escaped_never_rendered(project: Project, write_issue: Callable[..., Path]) -> None:
    text = GOOD_ISSUE.replace("Lead headline", "Tom & Jerry <script>alert(1)</script>")
    text = text.replace("Second paragraph.", "Second <b>bold?</b> & <img src=x onerror=alert(1)>")
    email = project.render(write_issue(text)).email
    assert "<script>" not in email.html and "<img src=x" not in email.html
    assert "Tom &amp; Jerry &lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "Second &lt;b&gt;bold?&lt;/b&gt; &amp; &lt;img src=x" in email.html
    page = lxml.html.document_fromstring(email.html)
    assert "Tom & Jerry <script>alert(1)</script>" in page.text_content()


def test_markdown_emphasis_and_links(project: Project, write_issue: Callable[..., Path]) -> None:
    text = GOOD_ISSUE.replace("Second paragraph.", "Some *soft* and **hard** words.")
    page = lxml.html.document_fromstring(project.render(write_issue(text)).email.html)
    assert page.xpath("//em/text()") == ["soft"]
    assert "hard" in page.xpath("//strong/text()")
    assert page.xpath('//a[@href="https://example.com/inline"]/text()') == ["link"]


def test_image_keeps_alt_text(project: Project, write_issue: Callable[..., Path]) -> None:
    text = GOOD_ISSUE.replace("  body: |", "  image: {src: 'https://example.com/a.jpg', alt: 'Two leaders'}\n  body: |")
    page = lxml.html.document_fromstring(project.render(write_issue(text)).email.html)
    images = page.xpath("//img")
    assert [(i.get("src"), i.get("alt")) for i in images] == [("https://example.com/a.jpg", "Two leaders")]


def test_default_section_title_and_preheader(project: Project, write_issue: Callable[..., Path]) -> None:
    email = project.render(write_issue(GOOD_ISSUE.replace("preheader: The preheader\n", ""))).email
    assert "BIG Wrap" in lxml.html.document_fromstring(email.html).text_content()
    assert email.preheader == "Plus: Teaser one"
    assert email.subject == "Lead headline"


def test_same_inputs_give_same_bytes(project: Project) -> None:
    path = project.resolve(EXAMPLE_DAY)
    first = project.render(path).email
    again = Project(project.config).render(path).email
    assert (first.html, first.text) == (again.html, again.text)


def test_size_limits(project: Project, write_issue: Callable[..., Path]) -> None:
    item = ("      - headline: Filler headline {n}\n        source: Filler\n"
            "        url: https://example.com/{n}\n        summary: " + "words " * 60 + "\n")

    def findings(count: int) -> list[str]:
        items = "".join(item.format(n=n) for n in range(count))
        text = GOOD_ISSUE.replace("preheader:", items + "preheader:")
        rendered = project.render(write_issue(text))
        return [f"{f.severity.value}: {f.message}" for f in rendered.findings
                if "Gmail" in f.message], rendered.email.html_bytes

    small, size = findings(0)
    assert small == [] and size < lint.CLIP_WARNING_BYTES
    near, size = findings(46)
    assert lint.CLIP_WARNING_BYTES < size < lint.CLIP_BYTES
    assert near == [f"warning: email HTML is {size:,} bytes, close to Gmail's clipping limit "
                    "of 102,000 bytes"]
    over, size = findings(52)
    assert size >= lint.CLIP_BYTES
    assert over == [f"error: email HTML is {size:,} bytes; Gmail clips messages at 102,000 "
                    "bytes, hiding the rest and the unsubscribe link: shorten the issue"]


def test_project_templates_override_packaged_ones(project: Project, project_dir: Path) -> None:
    (project_dir / "templates").mkdir()
    (project_dir / "templates" / "issue.txt.j2").write_text("Only {{ subject }}\n")
    email = Project(project.config).render(project.resolve(EXAMPLE_DAY)).email
    assert email.text == f"Only {email.subject}\n"
