"""The built email looked at in real headless Chromium, at phone and desktop widths."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.email.output import write_build
from newsletter.project import Project
from tests.browser import axe, rgb, shot


@pytest.fixture
def email_file(project: Project, tmp_path: Path) -> Path:
    rendered = project.render(project.resolve("2024-07-24"))  # the issue with an image
    write_build(rendered.email, project.publication, tmp_path)
    return tmp_path / "email.html"


@pytest.mark.parametrize("width", [320, 375, 480, 600, 800])
def test_no_horizontal_scroll(browser, email_file: Path, width: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(email_file.as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    widest = page.evaluate("Math.max(...[...document.querySelectorAll('body *')]"
                           ".map(e => e.getBoundingClientRect().right))")
    assert widest <= width
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_colours_follow_the_reader_scheme(browser, email_file: Path, project: Project,
                                          scheme: str) -> None:
    theme = project.publication.theme
    page = browser.new_page(viewport={"width": 600, "height": 900}, color_scheme=scheme)
    page.goto(email_file.as_uri())
    body_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    paragraph = page.evaluate("getComputedStyle(document.querySelector('.nl-body p')).color")
    headline = page.evaluate("getComputedStyle(document.querySelector('.nl-headline a')).color")
    if scheme == "dark":
        assert (body_bg, paragraph, headline) == (rgb(theme.dark_background), rgb(theme.dark_text),
                                                  rgb(theme.dark_text))
    else:
        assert (body_bg, paragraph, headline) == (rgb(theme.background), rgb(theme.text),
                                                  rgb(theme.text))
    page.close()


def test_image_scales_down_on_a_phone(browser, email_file: Path) -> None:
    page = browser.new_page(viewport={"width": 320, "height": 900})
    page.goto(email_file.as_uri())
    box = page.evaluate("(() => { const r = document.querySelector('img').getBoundingClientRect();"
                        " return [r.left, r.right]; })()")
    assert box[0] >= 0 and box[1] <= 320
    assert page.get_attribute("img", "alt").startswith("Kamala Harris speaks")
    page.close()


# WCAG's relative luminance and contrast ratio, over the colours Chromium computed.
LUMINANCE = """(colour) => {
  const [r, g, b] = colour.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number).map(c => {
    c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}"""
DIVIDER_CONTRAST = f"""(() => {{
  const lum = {LUMINANCE};
  const rules = [...document.querySelectorAll('.nl-rule p')];
  return rules.map(p => {{
    let card = p; while (card && !card.classList.contains('nl-card')) card = card.parentElement;
    const [a, b] = [lum(getComputedStyle(p).borderTopColor),
                    lum(getComputedStyle(card).backgroundColor)];
    return [getComputedStyle(p).borderTopWidth, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
  }});
}})()"""
HEADLINE_SIZES = """[...document.querySelectorAll('h1, h3')].map(h =>
  [h.tagName, parseFloat(getComputedStyle(h).fontSize)])"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [320, 375, 600])
def test_the_finish(browser, email_file: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                    width: int, scheme: str) -> None:
    """Headlines keep their order of size on a phone, the rules between teasers are seen
    but quiet in both schemes, and axe finds nothing serious."""
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page.goto(email_file.as_uri())
    sizes = page.evaluate(HEADLINE_SIZES)
    [lead] = [size for tag, size in sizes if tag == "H1"]
    teasers = [size for tag, size in sizes if tag == "H3"]
    assert teasers and all(lead >= teaser * 1.25 for teaser in teasers), sizes
    if width < 480:
        assert (lead, set(teasers)) == (24, {18})
    rules = page.evaluate(DIVIDER_CONTRAST)
    assert rules, "no rule between teasers"
    for border, contrast in rules:
        assert border == "1px"
        assert 1.4 <= contrast <= 3.0, (scheme, contrast)  # seen, and quieter than text
    shot(page, tmp_path / f"issue-{width}-{scheme}.png", width, ".nl-card")
    assert axe(page) == []
    page.close()
