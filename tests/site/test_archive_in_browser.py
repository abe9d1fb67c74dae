"""The archive as a visitor sees it: its index and an issue's page in headless Chromium at
a phone's width and a desktop's, light and dark, with no sideways scroll, the theme's
colours for the scheme, and nothing serious or critical by axe-core (contrast included:
the footer's grey on the dark background was once 2.8:1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter.project import Project
from newsletter.site import archive
from tests.helpers import REPO, need
from tests.site.test_archive import SERVICE, TODAY, with_settings

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
PAGES = ["index.html", "2024-07-24/index.html"]  # the issue between two, with an image


def rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


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
    need(AXE.is_file(), f"axe-core at {AXE}")
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
    shot = tmp_path / f"{name.replace('/', '-')}-{width}-{scheme}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5_000
    page.add_script_tag(path=str(AXE))
    found = json.loads(page.evaluate(
        "axe.run(document).then(r => JSON.stringify(r.violations))"))
    serious = [(v["id"], v["impact"], [n["html"][:80] for n in v["nodes"]])
               for v in found if v["impact"] in ("serious", "critical")]
    assert serious == []
    page.close()
