"""UTM tagging: applied to story links alike in both editions, and to nothing else."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import lxml.html

from newsletter.content.settings import Campaign
from newsletter.email.render import Email, Renderer
from newsletter.project import Project
from tests.helpers import EXAMPLE_DAY


def tagged(project: Project) -> tuple[Project, object]:
    pub = project.publication.model_copy(
        update={"utm": Campaign(source="bigmedia", campaign="brief-{date}")})
    parsed = project.render(project.resolve(EXAMPLE_DAY)).parsed
    return pub, Renderer(pub).render(parsed.issue)


def test_story_links_carry_utm_in_both_editions(project: Project) -> None:
    _, email = tagged(project)
    page = lxml.html.document_fromstring(email.html)
    stories = [h for h in page.xpath("//a/@href") if "aljazeera" in h or "bbc.com" in h]
    assert stories
    for href in stories:
        query = parse_qs(urlsplit(href).query)
        assert query == {"utm_source": ["bigmedia"], "utm_medium": ["email"],
                         "utm_campaign": ["brief-2024-07-23"]}
        assert href in email.text  # the text edition links to exactly the same address


def test_site_and_unsubscribe_links_are_left_alone(project: Project) -> None:
    _, email = tagged(project)
    hrefs = lxml.html.document_fromstring(email.html).xpath("//a/@href")
    assert "https://news.bigmedia.example/2024-07-23/" in hrefs
    assert "%%unsubscribe_url%%" in hrefs


def test_links_inside_markdown_and_existing_tags(project: Project, write_issue) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import GOOD_ISSUE
    text = GOOD_ISSUE.replace("(https://example.com/inline)",
                              "(https://example.com/inline?utm_source=partner&x=1)")
    pub = project.publication.model_copy(update={"utm": Campaign(source="bigmedia")})
    email = Renderer(pub).render(project.render(write_issue(text)).parsed.issue)
    expected = ("https://example.com/inline?utm_source=partner&x=1&utm_medium=email"
                "&utm_campaign=2024-08-01")
    assert f'href="{expected.replace("&", "&amp;")}"' in email.html
    assert f"link ({expected})" in " ".join(email.text.split())  # wrapping aside


def test_without_utm_links_are_untouched(email: Email) -> None:
    assert "utm_" not in email.html and "utm_" not in email.text
