"""The welcome email looked at: in Chromium at 320 and 600 px, light and dark, with axe
(axe-core, from npm, run inside the page); by SpamAssassin's local rules as the service
sends it; and ``newsletter check`` on its file."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine

from newsletter.content import settings
from newsletter.content.welcome import Welcome
from newsletter.email.welcome import Links, WelcomeEmail, render
from newsletter.project import Project
from newsletter.web.pages import Pages
from tests.browser import AXE, axe, rgb, shot
from tests.email.test_wire import spam_score
from tests.helpers import need, run

WELCOME = """\
# comments are fine
subject: Welcome to BIG Media
preheader: What arrives, and when
body: |
  Thank you for confirming. Each issue opens with one story told at some length, then a
  short **wrap** of the others, each with [a link to its source](https://example.com/).
"""


@pytest.fixture
def welcome_html(project_dir: Path, tmp_path: Path) -> Path:
    (project_dir / "welcome.yaml").write_text(WELCOME)
    page = tmp_path / "welcome.html"
    page.write_text(Project(project_dir / "newsletter.yaml").welcome_email().html)
    return page


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [320, 600])
def test_in_chromium(browser, welcome_html: Path, project_dir: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                     width: int, scheme: str) -> None:
    pub = Project(project_dir / "newsletter.yaml").publication
    theme = pub.theme
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page.goto(welcome_html.as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    card = page.evaluate("getComputedStyle(document.querySelector('.nl-card')).backgroundColor")
    text = page.evaluate("getComputedStyle(document.querySelector('.nl-body p')).color")
    expected = (theme.dark_card, theme.dark_text) if scheme == "dark" else \
        (theme.card, theme.text)
    assert (card, text) == tuple(rgb(c) for c in expected)
    masthead = page.inner_text(".nl-mast")  # the service's emails' masthead
    assert pub.tagline in masthead and (pub.name in masthead or pub.logo_url)
    shot(page, tmp_path / f"welcome-{width}-{scheme}.png", width, ".nl-card")
    assert axe(page, impacts=None) == []
    page.close()


def test_spamassassin_scores_it_0(project_dir: Path, engine: Engine) -> None:
    need(shutil.which("spamassassin") is not None, "Debian's spamassassin")
    from newsletter.store import signups
    from newsletter.web.app import create_app
    from newsletter.web.mailer import Mailer
    from tests.web.conftest import service_env

    settings = project_dir / "newsletter.yaml"
    settings.write_text(settings.read_text() + "readers:\n  service_url: "
                        "https://readers.bigmedia.example\n")
    (project_dir / "welcome.yaml").write_text(WELCOME)
    signups.queue(engine, "ann@example.org", source="form test")
    signup = signups.claim(engine)
    assert signup is not None
    signups.mailed(engine, signup)
    signups.confirm(engine, signup, welcome=True)
    Mailer(create_app(settings, service_env(engine)).state.service).beat()
    [sent] = (project_dir / "outbox" / "notices").glob("*-welcome-*.eml")
    score, rules = spam_score(sent.read_bytes())
    assert score <= 0, rules


def test_check_validates_the_file(project_dir: Path) -> None:
    path = project_dir / "welcome.yaml"
    path.write_text(WELCOME)
    code, out = run("check")
    assert code == 0 and "Checked 4 files: 0 errors, 0 warnings." in out
    path.write_text("subject: Welcome\nbody: TODO say what to expect\n")
    code, out = run("check", "--strict")
    assert code == 1
    assert "welcome.yaml:2:7: warning: body: still has a TODO: the welcome is not sent " \
           "until it is written" in out
    path.write_text("subject: [not, text]\n")
    code, out = run("check", "welcome.yaml")
    assert code == 1
    assert "welcome.yaml:1:10: subject:" in out and "welcome.yaml:1:1: body:" in out


def test_axe_does_find_mistakes(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    need(AXE.is_file(), "axe-core (npm install --no-save axe-core)")
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><p style="color:#eee;background:#fff">faint</p>'
                   '<img src="x.png"></body></html>')
    page = browser.new_page()
    page.goto(bad.as_uri())
    found = axe(page, impacts=None)
    assert {"image-alt", "color-contrast", "html-has-lang"} <= {rule for rule, *_ in found}
    page.close()


# -- its words: the publication's language, and the readers' pages' schedule --------------

def publication(project_dir: Path, **changes: object) -> settings.Publication:
    path = project_dir / "newsletter.yaml"
    values = yaml.safe_load(path.read_text())
    values.update(changes)
    path.write_text(yaml.safe_dump(values, allow_unicode=True))
    return settings.load(path)


def welcome_for(pub: settings.Publication) -> WelcomeEmail:
    welcome = Welcome.model_validate(yaml.safe_load(WELCOME))
    links = Links("https://r.example/unsubscribe?t=T", "https://r.example/manage?t=T")
    return render(welcome, pub, links, latest=dt.date(2024, 8, 1))


def words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_german_publications_welcome_is_in_german(project_dir: Path) -> None:
    email = welcome_for(publication(project_dir, locale="de-DE", send_time="07:00",
                                    publishing_days=["fri", "mon", "wed"]))
    # (The file's own words, its subject and body, stay as the editor wrote them.)
    for edition in (words(email.html), " ".join(email.text.split())):
        assert "erscheint jeden Montag, Mittwoch und Freitag um 07:00 Uhr" in edition
        assert "Die neueste Ausgabe lesen (1. August 2024)" in edition
        assert "Falls Sie es sich anders überlegen".upper() in edition.upper()
        assert "Abmelden" in edition and "Abonnement verwalten" in edition
        for english in ("arrives every", "When it arrives", "Read the latest",
                        "change your mind", "Unsubscribe", "Monday", "July"):
            assert english not in edition
    assert '<html lang="de-DE">' in email.html


def pages_sentence(pub: settings.Publication) -> str:
    """The sentence the readers' pages say (the subscribe page's lede)."""
    found = re.search(r'<p class="lede">(.*?)</p>', Pages(pub).text("schedule.html.j2"))
    assert found
    return found.group(1)


@pytest.mark.parametrize("locale", ["en-US", "de-DE"])
@pytest.mark.parametrize("changes", [
    {"publishing_days": ["mon", "tue", "wed", "thu", "fri"], "send_time": "06:30",
     "timezone": "Europe/Berlin"},
    {"publishing_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
], ids=["weekdays-0630-berlin", "every-day"])
def test_the_welcome_tells_the_schedule_as_the_pages_do(project_dir: Path, locale: str,
                                                       changes: dict[str, object]) -> None:
    pub = publication(project_dir, locale=locale, **changes)
    sentence = pages_sentence(pub)
    assert pub.send_time in sentence and pub.timezone in sentence
    email = welcome_for(pub)
    assert f'<p style="margin:0 0 16px;">{sentence}</p>' in email.html
    assert words(sentence) in " ".join(email.text.split())
