"""The built email looked at in real headless Chromium, at phone and desktop widths."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.email.output import write_build
from newsletter.project import Project


def rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


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
