"""`newsletter report` as a person looks at it: the figures put in come out, in charts
with their tables, at 320 and 1280 px, light and dark, clean under axe (Chromium)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.api import Newsletter
from newsletter.config import Environment
from newsletter.store import db, events
from newsletter.store.events import Detail, Event, Kind
from tests.browser import axe, shot
from tests.helpers import run

LEAD = "https://www.aljazeera.com/news/2024/6/20/putin-says-russia-may-supply-weapons-to-north-korea"


@pytest.fixture
def reported(project_dir: Path, engine: Engine) -> Path:
    """A report over two sent issues with events, clicks and a list that moved."""
    newsletter = Newsletter(project_dir / "newsletter.yaml", env=Environment.from_environ(
        {"DATABASE_URL": engine.url.render_as_string(hide_password=False)}))
    for n in range(12):
        newsletter.subscribers.add(f"r{n}@example.org")
    newsletter.subscribers.remove("r11@example.org")
    with engine.begin() as conn:
        for day, sent in (("2024-07-23", 1000), ("2024-07-24", 1200)):
            conn.execute(db.sends.insert().values(
                issue=day, transport="outbox", batch_size=100, planned=sent,
                created_at=dt.datetime.now(dt.UTC), sent_count=sent))
    made = [Event(f"d{n}", Kind.DELIVERED, "r1@example.org", "2024-07-23", None)
            for n in range(990)]
    made += [Event(f"c{n}", Kind.CLICKED, "r1@example.org", "2024-07-23", None,
                   url=LEAD + "?utm_source=x") for n in range(37)]
    made += [Event(f"m{n}", Kind.CLICKED, "r1@example.org", "2024-07-23", None,
                   Detail.MACHINE, url=LEAD) for n in range(5)]
    made += [Event("b1", Kind.BOUNCED, "r2@example.org", "2024-07-24", None, Detail.HARD)]
    events.record(engine, made)
    return newsletter.report(project_dir / "report")


def test_the_figures_put_in_come_out(reported: Path) -> None:
    html = reported.read_text()
    assert reported.name == "index.html"
    assert "<script" not in html and "<!--" not in html
    assert 'name="robots" content="noindex, nofollow"' in html
    assert "@example.org" not in html  # no reader anywhere
    # The lead's clicks, in the story table and the chart's label.
    assert '<td>lead</td><td>37</td><td>5</td>' in html
    assert "<th scope=\"row\">2024-07-23</th><td>1,000</td><td>99.0%</td>" in html
    assert html.count('role="img"') == 4  # rates, growth, each issue's stories
    assert html.count("<table>") == 4  # each chart's figures
    # Twelve joined today, one of them left: the growth table's first row.
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert f'<th scope="row">{today}</th><td>0</td><td>12</td><td>1</td>' in html


def test_the_command_writes_it(project_dir: Path) -> None:
    code, out = run("report", "--out", "r")
    assert code == 0 and out == f"report written to {Path('r') / 'index.html'}\n"
    assert "No issue has been sent yet." in (project_dir / "r" / "index.html").read_text()
    (project_dir / "taken").write_text("a file")
    code, out = run("report", "--out", "taken")
    assert code == 2 and "'taken' is a file" in out
    code, out = run("report", "--out", "taken/inside")
    assert (code, out) == (1, f"Error: cannot write the report to "
                              f"{Path('taken/inside/index.html')}: Not a directory\n")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [320, 1280])
def test_it_reads_well_and_passes_axe(browser, reported: Path, width: int, scheme: str
                                      ) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page.goto(reported.as_uri())
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert axe(page, impacts=None) == []
    colour = page.evaluate("getComputedStyle(document.querySelector('figure svg')).color")
    body = page.evaluate("getComputedStyle(document.body).color")
    assert colour == body  # the charts' text is the page's own colour, light or dark
    shot(page, reported.parent / f"report-{width}-{scheme}.png", width, "figure svg")
    page.close()


def test_a_german_publication_gets_its_report_in_german(project_dir: Path,
                                                         engine: Engine) -> None:
    settings = project_dir / "newsletter.yaml"
    settings.write_text(settings.read_text().replace("locale: en-US", "locale: de-DE"))
    newsletter = Newsletter(settings, env=Environment.from_environ(
        {"DATABASE_URL": engine.url.render_as_string(hide_password=False)}))
    newsletter.subscribers.add("r1@example.org")
    with engine.begin() as conn:
        conn.execute(db.sends.insert().values(
            issue="2024-07-23", transport="outbox", batch_size=100, planned=1234,
            created_at=dt.datetime.now(dt.UTC), sent_count=1234))
    events.record(engine, [Event(f"c{n}", Kind.CLICKED, "r1@example.org", "2024-07-23",
                                 None, url=LEAD) for n in range(37)])
    html = newsletter.report(project_dir / "report").read_text()
    assert '<html lang="de-DE">' in html
    for german in ("was die Leser taten", "Zustand des Absenders", "Raten je Ausgabe",
                   "Wachstum der Liste", "Klicks je Beitrag", "Aufmacher",
                   "Raten je versandter Nachricht, nach Ausgabe", "1.234",  # a thousand, German
                   "37 Klicks, 3,00\u00a0% der Nachrichten"):
        assert german in html, german
    for english in ("what readers did", "The sender's health", "Rates by issue", "Story",
                    "Clicks per story", "messages; warns from"):
        assert english not in html, english
