"""The readers' service in other words: every sentence a reader sees is in the templates,
marked for translation, and a publication with ``locale: de-DE`` reads German throughout
(the package's catalogue, newsletter/locales), while English pages stay exactly as they
were. That the catalogue holds every word of every template is tests/test_words.py's."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import httpx
import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from sqlalchemy import Engine

from newsletter import words
from newsletter.content import settings
from newsletter.store.status import Status
from newsletter.web.app import create_app
from newsletter.web.pages import Message, Pages
from newsletter.web.recent import Recent
from tests.web.conftest import service_env
from tests.web.server import serving
from tests.web.test_readers import notices, settled, subscribe, wait_for

LOCALES = words.LOCALES
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
ADDRESS, MASKED = "ann.smith@example.org", "a*******h@example.org"


def catalogue(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file)


def with_locale(project_dir: Path, locale: str) -> Path:
    path = project_dir / "newsletter.yaml"
    path.write_text(path.read_text().replace("locale: en-US", f"locale: {locale}"))
    return path


def pages_for(project_dir: Path, locale: str) -> Pages:
    return Pages(settings.load(with_locale(project_dir, locale)))


def every_page(pages: Pages) -> Iterator[tuple[str, str]]:
    """Every page and state the service shows, the note in a reader's data download, and
    the confirmation email's three parts: (what it is, the words rendered)."""
    values = {"address": ADDRESS, "masked": MASKED, "days": 7, "manage_token": "m.t",
              "status_code": 400}
    for message in get_args(Message):
        yield message, pages.text("message.html.j2", message=message, **values)
    form = {"values": {"email": "", "name": "", "timezone": ""}, "zones": ["Europe/Paris"],
            "altcha_script": None, "tracking": "aggregate",
            "latest": [Recent(dt.date(2024, 7, 25), "A headline", "https://x.example/")]}
    for error in ("", "no_address", "bad_address", "bad_timezone", "challenge"):
        yield f"subscribe {error}", pages.text("subscribe.html.j2", error=error, **form)
    for error in ("", "no_address", "bad_address", "challenge"):
        yield f"link {error}", pages.text("link.html.j2", address="", error=error,
                                          altcha_script=None)
    for status in Status:
        for error in ("", "bad_timezone", "not_sure"):
            yield f"manage {status} {error}", pages.text(
                "manage.html.j2", masked=MASKED, reader_status=str(status),
                active=status == Status.ACTIVE, token="t", unsubscribe_token="u", name="",
                timezone="", saved=not error, error=error, zones=["Europe/Paris"],
                tracking="aggregate")
    for tracking in ("off", "individual"):  # what the page says is kept, at each level
        yield f"manage {tracking}", pages.text(
            "manage.html.j2", masked=MASKED, reader_status="active", active=True, token="t",
            unsubscribe_token="u", name="", timezone="", saved=False, error="",
            zones=["Europe/Paris"], tracking=tracking)
    for tracking in ("aggregate", "off", "individual"):  # the note in a reader's download
        yield f"{tracking} opens_and_clicks.txt.j2", pages.text("opens_and_clicks.txt.j2",
                                                                tracking=tracking)
    for error in ("", "bad_name", "bad_timezone"):
        yield f"confirm {error}".strip(), pages.text(
            "confirm.html.j2", masked=MASKED, token="t", error=error,
            values={"name": "Ann", "timezone": "Europe/Paris"}, zones=["Europe/Paris"])
    yield "unsubscribe", pages.text("unsubscribe.html.j2", masked=MASKED, token="t",
                                    action="unsubscribe")
    mail = {"confirm_url": "https://x.example/confirm?t=t", "days": 7, "subject": "S",
            "manage_url": "https://x.example/manage?t=m"}
    for part in ("confirm_email.txt.j2", "confirm_email.html.j2",
                 "confirm_email_subject.txt.j2", "link_email.txt.j2", "link_email.html.j2",
                 "link_email_subject.txt.j2"):
        yield part, pages.text(part, **mail)


def english_fragments() -> set[str]:
    """The catalogue's English words as a page shows them: each msgid's stretches between
    its placeholders and tags, long enough to be a phrase of ours, and not also German."""
    german = catalogue(LOCALES / "de" / "LC_MESSAGES" / "messages.po")
    translated = " ".join(str(m.string) for m in german if m.id)
    fragments = set()
    for message in german:
        if not message.id or message.string == message.id:
            continue  # "Name" is German too
        for part in re.split(r"%\(\w+\)s|<[^>]+>", str(message.id)):
            part = part.strip(" ,.;:?")
            if len(part) >= 6 and part not in translated:
                fragments.add(part)
    return fragments


def shown(page: str) -> str:
    """What a reader reads: the text without tags, with entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", page,
                                                        flags=re.S)))


def test_with_locale_de_every_page_is_german(project_dir: Path) -> None:
    pages = pages_for(project_dir, "de-DE")
    english = english_fragments()
    assert len(english) > 60
    german = {str(m.string) for m in catalogue(LOCALES / "de" / "LC_MESSAGES" / "messages.po")
              if m.id and m.string != m.id}
    for what, page in every_page(pages):
        text = " ".join(shown(page).split())
        left = sorted(phrase for phrase in english if phrase in text)
        assert not left, (what, left)
        assert any(" ".join(PLACEHOLDER.sub("", g).split()[:2]) in text for g in german), what
        if not what.endswith(".txt.j2"):  # the pages and the emails' HTML
            assert '<html lang="de-DE">' in page, what
    sent = dict(every_page(pages))
    assert "Bitte sehen Sie in Ihr Postfach" in sent["sent"]
    assert "Abonnement verwalten" in sent["subscribed"]
    assert "Ihr Abonnement: <strong>a*******h@example.org</strong>, angemeldet." in \
        sent["manage active "]
    assert sent["confirm_email_subject.txt.j2"].strip() == \
        "Bestätigen Sie Ihr Abonnement von BIG Media"


def test_another_country_of_the_language_reads_it_too(project_dir: Path) -> None:
    page = pages_for(project_dir, "de-AT").text("message.html.j2", message="not_found")
    assert '<html lang="de-AT">' in page and "<h1>Nicht gefunden</h1>" in page


def test_a_language_without_a_catalogue_is_english_and_says_so(project_dir: Path) -> None:
    page = pages_for(project_dir, "fr-FR").text("message.html.j2", message="not_found")
    assert '<html lang="en">' in page and "<h1>Not found</h1>" in page


def test_english_pages_are_as_they_were(project_dir: Path) -> None:
    pages = dict(every_page(pages_for(project_dir, "en-US")))
    assert '<html lang="en-US">' in pages["sent"]
    assert "<title>Check your inbox · BIG Media</title>" in pages["sent"]
    assert (f"<p>If {ADDRESS} can receive BIG Media, a message with a link to confirm is on "
            "its way. Nothing is sent until you confirm.</p><p>The link works for 7 days. "
            "Nothing there? Look in the spam folder; you may ask again in an hour.</p>"
            ) in pages["sent"]
    assert ('<p><a href="/manage?t=m.t">Manage your subscription</a></p>'
            in pages["subscribed"])
    assert "<h1>Get BIG Media by email</h1>" in pages["subscribe "]
    assert ("<p>We will send you a link to confirm first; nothing else comes until you "
            "press it.</p>") in pages["subscribe "]
    assert ('<p class="error" id="timezone-error">That timezone is not one we know: choose '
            "one from the list, e.g. Europe/Paris.</p>") in pages["subscribe bad_timezone"]
    assert ("<p>Your subscription: <strong>a*******h@example.org</strong>, stopped: your "
            "inbox refused mail.</p>") in pages["manage bounced "]
    assert '<p role="status"><strong>Saved.</strong></p>' in pages["manage active "]
    assert "<p>Start sending BIG Media to <strong>a*******h@example.org</strong>?</p>" in \
        pages["confirm"]
    assert "we will email you the link" in pages["link "]
    assert pages["confirm_email.txt.j2"].startswith(
        "Hello,\n\n\nSomeone, we hope you, asked to receive BIG Media at this address.\n"
        "To confirm, open this link and press the button on the page it opens:\n\n"
        "https://x.example/confirm?t=t\n\nThe link works for 7 days. If you did not ask, "
        "ignore this message:\nnothing more will be sent.\n\n--\nBIG Media - ")
    assert pages["confirm_email_subject.txt.j2"].strip() == \
        "Confirm your subscription to BIG Media"


def test_a_page_copied_from_an_earlier_release_still_renders(project_dir: Path) -> None:
    overrides = project_dir / "templates"
    overrides.mkdir()
    (overrides / "unsubscribe.html.j2").write_text(
        '{% extends "page.html.j2" %}{% block content %}<p>Stop?</p>{% endblock %}')
    page = Pages(settings.load(project_dir / "newsletter.yaml"), overrides).text(
        "unsubscribe.html.j2")
    assert "<title>BIG Media · BIG Media</title>" in page and "<p>Stop?</p>" in page


def test_values_in_the_words_are_escaped(project_dir: Path) -> None:
    for locale in ("en-US", "de-DE"):
        page = pages_for(project_dir, locale).text(
            "message.html.j2", message="sent", address="<b>x</b>@example.org", days=7)
        assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;@example.org" in page
        page = pages_for(project_dir, locale).text(
            "confirm.html.j2", masked="<b>x</b>", token="t", error="", zones=[],
            values={"name": '"><b>n</b>', "timezone": "<b>z</b>"})
        assert "<b>x</b>" not in page and "<strong>&lt;b&gt;x&lt;/b&gt;</strong>" in page
        # A stranger's words are shown in the fields, as text.
        assert "<b>n</b>" not in page and 'value="&#34;&gt;&lt;b&gt;n&lt;/b&gt;"' in page
        assert "<b>z</b>" not in page


@pytest.fixture
def german_service(project_dir: Path, engine: Engine) -> Iterator[str]:
    path = with_locale(project_dir, "de-DE")
    with serving(create_app(path, service_env(engine))) as url:
        yield url


def test_the_service_speaks_the_publications_language(german_service: str, engine: Engine,
                                                      project_dir: Path) -> None:
    form = httpx.get(f"{german_service}/subscribe")
    assert '<html lang="de-DE">' in form.text and "<h1>BIG Media per E-Mail erhalten</h1>" in form.text
    missing = httpx.get(f"{german_service}/nowhere")
    assert missing.status_code == 404 and "Nicht gefunden" in missing.text
    broken = httpx.get(f"{german_service}/c/not-a-token")  # a click link cut short
    assert broken.status_code == 404 and "Dieser Link funktioniert nicht" in broken.text
    assert "location" not in broken.headers
    answer = subscribe(german_service, ADDRESS)
    assert "Bitte sehen Sie in Ihr Postfach" in answer.text
    wait_for(lambda: settled(engine))
    (mail,) = notices(project_dir)
    assert mail["Subject"] == "Bestätigen Sie Ihr Abonnement von BIG Media"
    body = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert body.startswith("Hallo,\n\n\nJemand, hoffentlich Sie, möchte BIG Media")
