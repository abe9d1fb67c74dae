"""The job summary (`stats --days 30 --markdown`, which send.yml appends to
$GITHUB_STEP_SUMMARY) as a person looks at it: its Markdown made HTML as GitHub makes it
(markdown-it's CommonMark with tables), its Mermaid chart drawn by Mermaid itself in
Chromium, at 320 and 1280 px, light and dark, clean under axe. A chart Mermaid cannot
parse shows on GitHub as a syntax error: here it fails the test."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import pytest
import time_machine
from markdown_it import MarkdownIt

from newsletter.api import Newsletter
from newsletter.store import db, events
from newsletter.store.events import Event, Kind
from tests.browser import axe, shot
from tests.helpers import REPO, need, run

MERMAID = REPO / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
LEAD = "https://www.aljazeera.com/news/2024/6/20/putin-says-russia-may-supply-weapons-to-north-korea"
DAYS = ("2024-07-20", "2024-07-21", "2024-07-22", "2024-07-23")

# GitHub's frame for a summary, as far as it matters here: its text colours in light
# and dark, tables that scroll rather than widen the page.
FRAME = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Summary</title>
<style>
 :root { color-scheme: light dark; }
 body { margin: 16px; font: 14px/1.5 system-ui, sans-serif; color: #1f2328; background: #fff; }
 @media (prefers-color-scheme: dark) { body { color: #e6edf3; background: #0d1117; } }
 table { display: block; overflow-x: auto; max-width: 100%; border-collapse: collapse; }
 th, td { border: 1px solid #8c959f; padding: 4px 8px; }
</style></head><body><main>BODY</main></body></html>"""


def _summary(project_dir: Path) -> str:
    newsletter = Newsletter(project_dir / "newsletter.yaml")
    newsletter.subscribers.add("r1@example.org")
    with newsletter.engine.begin() as conn:
        for n, day in enumerate(DAYS):
            conn.execute(db.sends.insert().values(
                issue=day, transport="outbox", batch_size=100, planned=1000,
                created_at=dt.datetime(2024, 7, 20 + n, 5, tzinfo=dt.UTC), sent_count=1000))
    events.record(newsletter.engine, [
        Event(f"{day}-{k}-{i}", kind, "r1@example.org", day, None,
              url=LEAD if kind is Kind.CLICKED else None)
        for n, day in enumerate(DAYS)
        for kind, count in ((Kind.DELIVERED, 990), (Kind.CLICKED, 20 + 10 * n))
        for i, k in enumerate([kind.value] * count)])
    with time_machine.travel(dt.datetime(2024, 7, 23, 12, tzinfo=dt.UTC), tick=False):
        code, out = run("stats", "--days", "30", "--markdown")
    assert code == 0, out
    return out


def _as_github_shows_it(markdown: str) -> str:
    body = MarkdownIt("commonmark").enable("table").render(markdown)
    # GitHub draws a ```mermaid block with Mermaid; everything else is plain HTML.
    body = re.sub(r'<pre><code class="language-mermaid">(.*?)</code></pre>',
                  lambda m: f'<pre class="mermaid">{m.group(1)}</pre>', body, flags=re.S)
    return FRAME.replace("BODY", body)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [320, 1280])
def test_the_job_summary_reads_well_and_its_chart_draws(browser, project_dir: Path,  # type: ignore[no-untyped-def]
                                                        width: int, scheme: str) -> None:
    need(MERMAID.is_file(), "mermaid (npm install --no-save mermaid)")
    markdown = _summary(project_dir)
    assert markdown.count("```mermaid") == 1
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page.set_content(_as_github_shows_it(markdown))
    page.add_script_tag(path=str(MERMAID))
    drawn = page.evaluate("""async (dark) => {
        mermaid.initialize({startOnLoad: false, theme: dark ? 'dark' : 'default'});
        try { await mermaid.run({querySelector: 'pre.mermaid'}); return 'ok'; }
        catch (e) { return String(e); }
    }""", scheme == "dark")
    assert drawn == "ok"
    svg = page.locator("pre.mermaid svg")
    assert svg.count() == 1
    text = svg.text_content() or ""
    assert "Syntax error" not in text
    # One bar an issue, as many as were sent in the window, each seen against the page
    # (WCAG's 3:1 for what is not text).
    bars = page.locator("pre.mermaid svg .plot rect")
    assert bars.count() == len(DAYS)
    fill = page.evaluate("getComputedStyle(document.querySelector("
                         "'pre.mermaid svg .plot rect')).fill")
    ground = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert _contrast(fill, ground) >= 3.0, (fill, ground)
    shot(page, project_dir / f"summary-{width}-{scheme}.png", width, "pre.mermaid svg")
    assert axe(page) == []
    page.close()


def test_the_summary_names_no_reader(project_dir: Path) -> None:
    markdown = _summary(project_dir)
    assert "@" not in markdown and "r1" not in html.unescape(markdown)


def _contrast(one: str, other: str) -> float:
    def luminance(css: str) -> float:
        r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)
