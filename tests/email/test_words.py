"""The issue email, its text edition and the archive in the publication's language: with
``locale: de-DE`` a reader finds no English sentence of ours left (the words come from
newsletter/locales through the templates), and an English publication's email reads as
it always did."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from newsletter import words
from newsletter.api import Newsletter
from newsletter.email.render import Email
from newsletter.project import Project

GERMAN_ISSUE = """\
date: 2024-08-01
subject: Hitzewelle erreicht den Norden
lead:
  headline: Hitzewelle erreicht den Norden
  source: Nordkurier
  url: https://example.com/hitze
  body: |
    Die Temperaturen steigen auf über 35 Grad, [Wetterdienst](https://example.com/dwd).

    Kommunen öffnen kühle Räume.
sections:
  - items:
      - headline: Bahn kündigt neue Strecke an
        source: Tagesblatt
        url: https://example.com/bahn
        summary: Die Verbindung soll 2030 fertig sein.
      - headline: Museum zeigt alte Karten
        source: Kulturseite
        url: https://example.com/karten
        summary: Eine Ausstellung über Landkarten aus drei Jahrhunderten.
"""


def catalogue(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file)


def english_words() -> set[str]:
    """Every msgid of the catalogue as a page shows it: its stretches between placeholders
    and tags, long enough to be a phrase of ours ("Name" is German too, and left out)."""
    german = catalogue(words.LOCALES / "de" / "LC_MESSAGES" / "messages.po")
    fragments = set()
    for message in german:
        if message.id and message.string != message.id:
            for part in re.split(r"%\(\w+\)s|<[^>]+>", str(message.id)):
                part = part.strip(" ,.;:?\"")
                if len(part) >= 4:
                    fragments.add(part)
    return fragments


def shown(page: str) -> str:
    """What a reader reads: no style, no tags, entities decoded, spaces made one."""
    page = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def german(project_dir: Path) -> Newsletter:
    config = project_dir / "newsletter.yaml"
    text = config.read_text().replace("locale: en-US", "locale: de-DE")
    config.write_text(text.replace("default_section_title: BIG Wrap\n", ""))
    for old in (project_dir / "issues").iterdir():
        old.unlink()
    (project_dir / "issues" / "2024-08-01.yaml").write_text(GERMAN_ISSUE)
    return Newsletter(config)


@pytest.fixture
def german_email(project_dir: Path) -> Email:
    newsletter = german(project_dir)
    return newsletter.project.render(newsletter.resolve("2024-08-01")).email


def left_in(text: str) -> list[str]:
    return sorted(phrase for phrase in english_words() if phrase in text)


def test_the_german_email_has_no_english_sentence_left(german_email: Email) -> None:
    assert len(english_words()) > 90
    for edition in (shown(german_email.html), german_email.text, german_email.preheader):
        assert not left_in(edition), left_in(edition)


def test_the_german_email_says_it_in_german(german_email: Email) -> None:
    page = shown(german_email.html)
    assert '<html lang="de-DE"' in german_email.html
    assert "Donnerstag, 1. August 2024" in page  # Babel's date, as before
    assert "Den ganzen Artikel bei Nordkurier lesen →" in page
    assert ("Im Browser ansehen · Abonnement verwalten · Abmelden "
            "Weitergeleitet bekommen? Abonnieren") in page
    assert "Der Überblick" in page  # the section's title, newsletter.yaml giving none
    text = german_email.text
    assert "\nDER ÜBERBLICK\n" in text
    assert "Den ganzen Artikel lesen:\nhttps://example.com/hitze" in text
    assert "Im Browser ansehen:\nhttps://news.bigmedia.example/2024-08-01/" in text
    assert "Abmelden:\n%%unsubscribe_url%%" in text
    assert "Weitergeleitet bekommen? Abonnieren:\n" in text
    # No preheader in the file: the teasers' headlines, after the catalogue's word.
    assert german_email.preheader == \
        "Außerdem: Bahn kündigt neue Strecke an; Museum zeigt alte Karten"


def test_the_german_archive_has_no_english_sentence_left(project_dir: Path) -> None:
    german(project_dir)
    config = project_dir / "newsletter.yaml"  # a readers' service: the subscribe form too
    config.write_text(config.read_text() + "readers:\n  service_url: https://r.example\n")
    newsletter = Newsletter(config)
    newsletter.archive(project_dir / "site", today=dt.date(2024, 8, 1))
    index = (project_dir / "site" / "index.html").read_text()
    page = shown(index)
    assert not left_in(page), left_in(page)
    assert "<title>BIG Media: alle Ausgaben</title>" in index
    assert "Donnerstag, 1. August 2024" in page
    assert "BIG Media per E-Mail erhalten:" in page
    assert "Link „Abonnement verwalten“ am Ende jeder E-Mail" in page
    issue_page = (project_dir / "site" / "2024-08-01" / "index.html").read_text()
    shown_issue = shown(issue_page)
    assert not left_in(shown_issue), left_in(shown_issue)
    assert "Donnerstag, 1. August 2024" in shown_issue
    assert "Den ganzen Artikel bei Nordkurier lesen →" in shown_issue
    assert 'aria-label="Weitere Ausgaben"' in issue_page and "Alle Ausgaben" in shown_issue
    (project_dir / "issues" / "2024-08-01.yaml").unlink()
    newsletter.archive(project_dir / "empty", today=dt.date(2024, 8, 1))
    assert "Noch keine Ausgaben erschienen." in (project_dir / "empty" / "index.html").read_text()


def test_the_english_email_reads_as_it_did(project: Project,
                                          write_issue: Callable[..., Path]) -> None:
    email = project.render(write_issue(GERMAN_ISSUE)).email
    assert '<html lang="en-US"' in email.html
    assert ">Read the full story at Nordkurier \u2192</a>" in email.html
    assert ('<a href="https://news.bigmedia.example/2024-08-01/" style="color:#b3122e">'
            "View in your browser</a> \u00b7 ") in email.html
    assert ">Unsubscribe</a><br>\n          Forwarded to you? <a " in email.html
    assert email.text.endswith(
        "View in your browser:\nhttps://news.bigmedia.example/2024-08-01/\n"
        "Manage your subscription:\n%%manage_url%%\nUnsubscribe:\n%%unsubscribe_url%%\n"
        "Forwarded to you? Subscribe:\nhttps://news.bigmedia.example/subscribe\n")
    assert email.preheader == "Plus: Bahn kündigt neue Strecke an; Museum zeigt alte Karten"


def test_a_value_in_the_words_is_escaped(project_dir: Path) -> None:
    newsletter = german(project_dir)
    path = newsletter.resolve("2024-08-01")
    path.write_text(path.read_text().replace("source: Nordkurier", 'source: "<b>Nord</b> & Co"'))
    email = newsletter.project.render(path).email
    assert "<b>Nord</b>" not in email.html
    assert "Den ganzen Artikel bei &lt;b&gt;Nord&lt;/b&gt; &amp; Co lesen" in email.html


@pytest.mark.parametrize(("locale", "mark"), [("en-US", "[Proof] "), ("de-DE", "[Probe] ")])
def test_a_proof_is_marked_in_the_publications_words(project_dir: Path, locale: str,
                                                     mark: str) -> None:
    from email import message_from_bytes, policy

    config = project_dir / "newsletter.yaml"
    config.write_text(config.read_text().replace("locale: en-US", f"locale: {locale}"))
    newsletter = Newsletter(config)
    sent = newsletter.proof("2024-07-23", ["editor@example.org"], transport="outbox")
    assert sent.addresses == 1
    [path] = (project_dir / "outbox" / "proofs" / "2024-07-23").iterdir()
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["Subject"] == mark + "Putin raises the prospect of arming North Korea"


def test_a_new_issue_of_a_german_publication_titles_its_section_in_german(
        project_dir: Path) -> None:
    import yaml

    newsletter = german(project_dir)
    path = newsletter.new_issue(dt.date(2024, 8, 2))
    assert yaml.safe_load(path.read_text())["sections"][0]["title"] == "Der Überblick"


def test_without_a_default_section_title_english_says_the_wrap(
        project_dir: Path, write_issue: Callable[..., Path]) -> None:
    config = project_dir / "newsletter.yaml"
    config.write_text(config.read_text().replace("default_section_title: BIG Wrap\n", ""))
    email = Project(config).render(write_issue(GERMAN_ISSUE)).email
    assert ">The Wrap</h2>" in email.html and "\nTHE WRAP\n" in email.text
