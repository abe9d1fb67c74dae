"""Each lint rule: what would hurt an issue in an inbox, found before it is sent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from newsletter.project import Project
from tests.helpers import GOOD_ISSUE, run


def findings(project: Project, path: Path) -> list[str]:
    return [str(f) for f in project.render(path).findings]


def test_a_good_issue_has_no_findings(project: Project, write_issue: Callable[..., Path]) -> None:
    assert findings(project, write_issue(GOOD_ISSUE)) == []


def test_long_and_shouting_subjects(project: Project, write_issue: Callable[..., Path]) -> None:
    long_subject = "A subject that goes on and on about everything that happened in the world today"
    path = write_issue(GOOD_ISSUE.replace("date: 2024-08-01\n",
                                          f"date: 2024-08-01\nsubject: {long_subject}\n"))
    assert findings(project, path) == [
        f"issues/2024-08-01.yaml:2:10: warning: subject: subject is {len(long_subject)} "
        "characters; inboxes show about 78 at most"]
    path = write_issue(GOOD_ISSUE.replace("headline: Lead headline", "headline: BREAKING NEWS TODAY"))
    assert findings(project, path) == [
        "issues/2024-08-01.yaml:3:13: warning: lead.headline: subject shouts (capitals or '!!'): "
        "it reads as spam and spam filters agree"]


def test_missing_and_long_preheader(project: Project, write_issue: Callable[..., Path]) -> None:
    path = write_issue(GOOD_ISSUE.replace("preheader: The preheader\n", ""))
    assert findings(project, path) == [
        "issues/2024-08-01.yaml:1:1: warning: no preheader: inboxes will show the teasers' "
        "headlines after the subject"]
    path = write_issue(GOOD_ISSUE.replace("The preheader", "x" * 141))
    assert findings(project, path) == [
        "issues/2024-08-01.yaml:16:12: warning: preheader: preheader is 141 characters; "
        "inboxes show about 140 at most"]


def test_http_links_and_images(project: Project, write_issue: Callable[..., Path]) -> None:
    text = GOOD_ISSUE.replace("https://example.com/one", "http://example.com/one")
    text = text.replace("  body: |", "  image: {src: 'http://example.com/a.jpg', alt: A}\n  body: |")
    assert findings(project, write_issue(text)) == [
        "issues/2024-08-01.yaml:6:16: warning: lead.image.src: image is http, not https: "
        "http://example.com/a.jpg",
        "issues/2024-08-01.yaml:15:14: warning: sections[0].items[0].url: link is http, not "
        "https: http://example.com/one",
    ]


def test_duplicate_links(project: Project, write_issue: Callable[..., Path]) -> None:
    text = GOOD_ISSUE.replace("https://example.com/one", "https://example.com/lead")
    assert findings(project, write_issue(text)) == [
        "issues/2024-08-01.yaml:14:14: warning: sections[0].items[0].url: links to "
        "https://example.com/lead again (first at lead.url)"]


def test_overlong_teaser(project: Project, write_issue: Callable[..., Path]) -> None:
    text = GOOD_ISSUE.replace("summary: Summary one.", "summary: " + "word " * 70)
    [finding] = findings(project, write_issue(text))
    assert finding.startswith("issues/2024-08-01.yaml:15:18: warning: sections[0].items[0]."
                              "summary: teaser is 34") and finding.endswith("keep it under 320")


@pytest.mark.parametrize(("cut", "edition", "what"), [
    ('<a href="{{ unsubscribe_url }}">{{ _("Unsubscribe") }}</a>', "HTML", "an unsubscribe link"),
    ("{{ pub.postal_address }}<br><br>", "HTML", "the postal address"),
    ('<a href="{{ web_url }}">{{ _("View in your browser") }}</a> &middot; ', "HTML",
     "the link to the web version"),
])
def test_an_html_template_without_what_the_law_asks_is_an_error(
        project_dir: Path, cut: str, edition: str, what: str) -> None:
    from newsletter.look import DEFAULTS as TEMPLATES

    source = (TEMPLATES / "issue.mjml.j2").read_text()
    assert cut in source
    (project_dir / "templates").mkdir()
    (project_dir / "templates" / "issue.mjml.j2").write_text(source.replace(cut, ""))
    for command in (["check", "--strict"], ["build", "2024-07-23"], ["send", "2024-07-23"]):
        code, out = run(*command)
        assert code == 1, command
        assert f"the {edition} edition lacks {what}" in out, command


@pytest.mark.parametrize(("cut", "what"), [
    ('{{ (_("Unsubscribe") ~ ":") | wrap }}\n{{ unsubscribe_url }}', "the unsubscribe link"),
    ("{{ pub.postal_address | wrap }}", "the postal address"),
])
def test_a_text_template_without_what_the_law_asks_is_an_error(
        project_dir: Path, cut: str, what: str) -> None:
    from newsletter.look import DEFAULTS as TEMPLATES

    source = (TEMPLATES / "issue.txt.j2").read_text()
    assert cut in source
    (project_dir / "templates").mkdir()
    (project_dir / "templates" / "issue.txt.j2").write_text(source.replace(cut, ""))
    code, out = run("check", "issues/2024-07-23.yaml")
    assert code == 1 and f"the text edition lacks {what}" in out


def test_a_postal_address_on_several_lines_is_found(project_dir: Path) -> None:
    config = project_dir / "newsletter.yaml"
    text = config.read_text().replace(
        "postal_address: BIG Media Ltd, 12 Example Row, London EC1A 1AA, United Kingdom",
        "postal_address: |\n  BIG Media Ltd\n  12 Example Row & Sons\n  London")
    config.write_text(text)
    assert run("check", "--strict")[0] == 0
