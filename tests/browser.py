"""What the browser tests share: axe-core's findings on a page, and a screenshot taken
only after what it shows is asserted (the page fits its viewport, with no sideways
scroll, and its key element is in view), so a blank or broken page fails here rather
than leaving a picture nobody looks at."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers import REPO, need

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")

Finding = tuple[str, str, list[str]]  # axe's rule, its impact, the first nodes' HTML


def rgb(hex_colour: str) -> str:
    """``#1a2b3c`` as getComputedStyle gives it."""
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def axe(page: Any, impacts: tuple[str, ...] | None = SERIOUS) -> list[Finding]:
    """axe-core's violations on ``page`` of ``impacts`` (None: of every impact)."""
    need(AXE.is_file(), "axe-core (npm install --no-save axe-core)")
    page.add_script_tag(path=str(AXE))
    found = json.loads(page.evaluate("axe.run(document).then(r => JSON.stringify(r.violations))"))
    return [(v["id"], v["impact"], [n["html"][:80] for n in v["nodes"]]) for v in found
            if impacts is None or v["impact"] in impacts]


def fits(page: Any, width: int, key: str) -> None:
    """The page is as wide as the viewport, and no wider (nothing to scroll sideways),
    and its ``key`` element (a CSS selector) is visible and inside that width."""
    inner, scrolled = page.evaluate(
        "[window.innerWidth, document.documentElement.scrollWidth]")
    assert (inner, scrolled <= width) == (width, True), (inner, scrolled)
    element = page.locator(key).first
    assert element.is_visible(), key
    box = element.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0, key
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (key, box)


def shot(page: Any, path: Path, width: int, key: str) -> None:
    """:func:`fits`, then a screenshot of the whole page at ``path`` to look at."""
    fits(page, width, key)
    page.screenshot(path=str(path), full_page=True)
