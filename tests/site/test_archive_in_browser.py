"""The archive as a visitor sees it: its index and an issue's page in headless Chromium at
a phone's width and a desktop's, light and dark, with no sideways scroll, the theme's
colours for the scheme, and nothing serious or critical by axe-core (contrast included:
the footer's grey on the dark background was once 2.8:1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.project import Project
from newsletter.site import archive
from tests.browser import axe, rgb, shot
from tests.site.test_archive import SERVICE, TODAY, with_settings

PAGES = ["index.html", "2024-07-24/index.html"]  # the issue between two, with an image


@pytest.fixture
def served_site(project: Project, tmp_path: Path) -> Path:
    """The archive of a publication with a readers' service (so the pages carry the
    subscribe form, the most they can carry), every issue in it."""
    out = tmp_path / "site"
    archive.build(with_settings(project, SERVICE), out, TODAY, include_future=True)
    return out


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [320, 1280])
@pytest.mark.parametrize("name", PAGES)
def test_the_archive_looked_at(browser, served_site: Path, project: Project,  # type: ignore[no-untyped-def]
                               tmp_path: Path, name: str, width: int, scheme: str) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page.route("http*://**", lambda route: route.abort())  # the story's image: offline
    page.goto((served_site / name).as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    theme = project.publication.theme
    dark = scheme == "dark"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == \
        rgb(theme.dark_background if dark else theme.background)
    assert page.evaluate("getComputedStyle(document.querySelector('main')).backgroundColor") == \
        rgb(theme.dark_card if dark else theme.card)
    assert page.evaluate("getComputedStyle(document.querySelector('footer')).color") == \
        rgb(theme.dark_muted if dark else theme.muted)
    shot(page, tmp_path / f"{name.replace('/', '-')}-{width}-{scheme}.png", width, "main")
    assert axe(page) == []
    page.close()
