"""The welcome email looked at: in Chromium at 320 and 600 px, light and dark, with axe
(axe-core, from npm, run inside the page); by SpamAssassin's local rules as the service
sends it; and ``newsletter check`` on its file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.project import Project
from tests.email.test_wire import spam_score
from tests.helpers import REPO, need, run

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
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


def rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [320, 600])
def test_in_chromium(browser, welcome_html: Path, project_dir: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                     width: int, scheme: str) -> None:
    theme = Project(project_dir / "newsletter.yaml").publication.theme
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page.goto(welcome_html.as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    card = page.evaluate("getComputedStyle(document.querySelector('.nl-card')).backgroundColor")
    text = page.evaluate("getComputedStyle(document.querySelector('.nl-body p')).color")
    expected = (theme.dark_card, theme.dark_text) if scheme == "dark" else \
        (theme.card, theme.text)
    assert (card, text) == tuple(rgb(c) for c in expected)
    shot = tmp_path / f"welcome-{width}-{scheme}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5_000
    need(AXE.is_file(), "axe-core (npm install --no-save axe-core)")
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("axe.run(document).then(r => JSON.stringify(r.violations))")
    violations = [(v["id"], [n["html"][:80] for n in v["nodes"]]) for v in json.loads(found)]
    assert violations == []
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
    page.add_script_tag(path=str(AXE))
    found = json.loads(page.evaluate("axe.run(document).then(r => JSON.stringify(r.violations))"))
    assert {"image-alt", "color-contrast", "html-has-lang"} <= {v["id"] for v in found}
    page.close()
