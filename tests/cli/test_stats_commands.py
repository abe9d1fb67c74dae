"""`stats` and `health` as a person runs them, on a real send through the outbox and the
events a provider would report: the figures that were put in come out, with their rates,
per story, over days, as JSON, and the health gate stops a send with exit status 4."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from newsletter.api import Newsletter
from newsletter.store import db, events
from newsletter.store.events import Detail, Event, Kind
from tests.helpers import run

DAY = "2024-07-23"
LEAD = "https://www.aljazeera.com/news/2024/6/20/putin-says-russia-may-supply-weapons-to-north-korea"
WRAP = "https://www.bbc.com/news/articles/harris-nomination-challengers"


@pytest.fixture(autouse=True)
def in_project(project_dir: Path) -> None:
    """Every command here runs in a copy of the publication (the environment is clean)."""


def _sent_to(project_dir: Path, count: int, day: str = DAY) -> Newsletter:
    lines = "".join(f"r{n}@example.org\n" for n in range(count))
    (project_dir / "people.csv").write_text("email\n" + lines)
    assert run("subscribers", "import", "people.csv")[0] == 0
    code, out = run("send", day)
    assert code == 0, out
    return Newsletter(project_dir / "newsletter.yaml")


def _events(newsletter: Newsletter, made: list[tuple[Kind, Detail | None, str | None]],
            day: str = DAY) -> None:
    events.record(newsletter.engine, [
        Event(f"{day}-{n}", kind, f"r{n % 10}@example.org", day, None, detail, url=url)
        for n, (kind, detail, url) in enumerate(made)])


def test_an_issues_figures_with_rates_and_clicks_per_story(project_dir: Path) -> None:
    newsletter = _sent_to(project_dir, 10)
    _events(newsletter, [(Kind.DELIVERED, None, None)] * 9 +
            [(Kind.BOUNCED, Detail.HARD, None), (Kind.OPENED, Detail.PERSON, None),
             (Kind.OPENED, Detail.MACHINE, None),
             (Kind.CLICKED, None, LEAD + "?utm_source=newsletter&utm_medium=email"),
             (Kind.CLICKED, None, LEAD), (Kind.CLICKED, Detail.MACHINE, LEAD),
             (Kind.CLICKED, None, WRAP.replace("www.bbc.com", "BBC.com") + "#top"),
             (Kind.CLICKED, None, "https://elsewhere.example/x?utm_campaign=a&id=3")])
    code, out = run("stats", DAY)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith(f"{DAY}: sent to 10 readers, began ")
    assert "  delivered             9   90.0%" in lines
    assert "  bounced               1   10.0%  (hard 1)" in lines
    assert "  opened                2   20.0%  (machine 1, person 1)" in lines
    assert "  clicked               5   50.0%  (machine 1)" in lines
    stories = lines[lines.index("clicks per story (person, machine):") + 1:]
    assert stories[0].split()[:2] == ["2", "1"] and "(lead)" in stories[0]
    assert any(s.split()[:2] == ["1", "0"] and "Harris" in s and "(BIG Wrap)" in s
               for s in stories)
    # A link that is no story is listed under its own URL, tracking taken off.
    assert any(s.endswith("https://elsewhere.example/x?id=3") for s in stories)
    assert any(s.startswith("note: opens are an estimate") for s in lines)

    code, out = run("stats", DAY, "--json")
    found = json.loads(out)
    assert found["sent"] == 10 and found["events"]["clicked"]["count"] == 5
    assert found["events"]["bounced"]["rate"] == pytest.approx(0.1)
    assert found["stories"][0]["clicks"] == 2
    assert "@" not in out  # no reader is named anywhere


def test_stats_refuses_what_is_not_there(project_dir: Path) -> None:
    assert run("stats", "2024-07-24") == (1, "Error: 2024-07-24 has not been sent\n")
    code, out = run("stats", "2024-13-40")
    assert code == 2 and "is not a date" in out
    code, out = run("stats")
    assert code == 2 and "give either DATE or --days N" in out
    code, out = run("stats", DAY, "--days", "3")
    assert code == 2
    assert run("stats", "--days", "0")[0] == 2


def test_days_give_a_line_per_issue_and_the_lists_growth(project_dir: Path) -> None:
    newsletter = _sent_to(project_dir, 10)
    code, out = run("send", "2024-07-24")
    assert code == 0, out
    _events(newsletter, [(Kind.COMPLAINED, None, None)], day="2024-07-24")
    run("subscribers", "remove", "r1@example.org")
    today = newsletter.today()
    span = newsletter.trend(3, today=dt.date(2024, 7, 25))
    assert [f.issue for f in span.issues] == [DAY, "2024-07-24"]
    assert [f.sent for f in span.issues] == [10, 10]
    joined = newsletter.trend(1, today=today)
    # Ten joined; one left by the operator, one by a complaint.
    assert (joined.total.joined, joined.total.unsubscribed, joined.total.complained,
            joined.total.net) == (10, 1, 1, 8)
    code, out = run("stats", "--days", "400", "--json")
    assert code == 0
    found = json.loads(out)
    assert found["total"]["net"] == 8
    # The trend counts issues by their date: these are of 2024, beyond 400 days.
    assert found["issues"] == []
    code, out = run("stats", "--days", "1")
    assert "list growth: net +8 (joined 10, asked 0, unsubscribed 1, bounced 0, " \
        "complained 1, erased 0)" in out


def _health_at(newsletter: Newsletter, complaints: int, sent: int) -> None:
    with newsletter.engine.begin() as conn:
        conn.execute(db.sends.insert().values(
            issue="2024-07-20", transport="outbox", batch_size=100, planned=sent,
            created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2), sent_count=sent))
    events.record(newsletter.engine, [
        Event(f"h{n}", Kind.COMPLAINED if n < complaints else Kind.DELIVERED,
              "r1@example.org", "2024-07-20", None) for n in range(sent)])


def test_the_health_gate_stops_a_send_with_exit_4_until_overridden(
        project_dir: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine) -> None:
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    run("subscribers", "add", "ann@example.org")
    newsletter = Newsletter(project_dir / "newsletter.yaml")
    _health_at(newsletter, complaints=4, sent=1000)  # 0.4%: above Gmail's 0.3%
    code, out = run("health")
    assert code == 4
    assert "  stop    complaints 0.40% (4 of 1,000 messages" in out
    code, out = run("send", DAY)
    assert code == 4
    (error,) = [line for line in out.splitlines() if line.startswith("Error:")]
    assert error.startswith("Error: the sends of the last 30 days are above the limit: "
                            "complaints 0.40%")
    assert error.endswith("--override-health REASON")
    assert not (project_dir / "outbox" / DAY).exists()  # nothing went
    assert run("send", DAY, "--override-health", "  ")[0] == 2
    monkeypatch.setenv("GITHUB_ACTOR", "editor-on-duty")
    code, out = run("send", DAY, "--override-health", "list cleaned on Monday")
    assert code == 0, out
    with newsletter.engine.connect() as conn:
        kept = conn.execute(select(db.health_overrides)).one()
    assert (kept.issue, kept.by, kept.reason) == (DAY, "editor-on-duty",
                                                  "list cleaned on Monday")
    assert "complaints 0.40%" in kept.figures
    # A send begun goes on whatever the figures: a rerun is no new send.
    assert run("send", DAY)[0] == 0


@pytest.mark.parametrize(("complaints", "sent", "level", "code"), [
    (0, 1000, "ok", 0), (1, 1000, "warn", 0), (2, 1000, "warn", 0), (3, 1000, "stop", 4),
    (3, 999, "warn", 0),  # too few messages for a rate to stop a send
    (0, 0, "unknown", 0)])
def test_health_levels_at_their_edges(project_dir: Path, complaints: int, sent: int,
                                      level: str, code: int) -> None:
    newsletter = Newsletter(project_dir / "newsletter.yaml")
    if sent:
        _health_at(newsletter, complaints, sent)
    got, out = run("health", "--json")
    assert got == code
    found = json.loads(out)
    assert found["checks"][0]["level"] == level


def test_markdown_for_a_jobs_summary(project_dir: Path) -> None:
    newsletter = _sent_to(project_dir, 10)
    _events(newsletter, [(Kind.DELIVERED, None, None)] * 10 + [(Kind.CLICKED, None, LEAD)] * 3)
    import time_machine

    with time_machine.travel(dt.datetime(2024, 7, 23, 12, tzinfo=dt.UTC), tick=False):
        code, out = run("stats", "--days", "30", "--markdown")
    assert code == 0, out
    assert "**2024-07-23**: sent to 10 readers." in out
    assert "| delivered | 10 | 100.0% |" in out and "| clicked | 3 | 30.0% |" in out
    chart = out[out.index("```mermaid"):]
    assert 'x-axis ["07-23"]' in chart and "bar [30.00]" in chart
    assert run("stats", DAY, "--markdown")[0] == 2


def test_health_reads_dns_only_when_asked(project_dir: Path) -> None:
    code, out = run("health")
    assert code == 0 and "DNS" not in out
    assert run("health", "--dkim-selector", "s1")[0] == 2
    for bad in ("a;b", "a\nb", "x" * 64, "a..b", "", "-x", "a/b", "é"):
        code, out = run("health", "--dns", "--dkim-selector", bad)
        assert code == 2 and "is not a DKIM selector" in out, bad
        assert "\n" not in out.split("Error: ")[1].rstrip("\n"), bad
    code, out = run("health", "--dns", "--dkim-selector", "k1")
    assert code == 0, out
    shown = out[out.index("the sender's domain in DNS:"):].splitlines()[1:4]
    # Whatever this machine's DNS answers (often nothing, in a sandbox), each record is
    # named with what was found or why it could not be asked.
    assert [line.split()[1].rstrip(":") for line in shown] == ["SPF", "DMARC", "DKIM"]
    assert all(line.split()[0] in {"ok", "warn", "missing", "unknown"} for line in shown)


def test_unique_openers_and_clickers_where_kept_per_reader(project_dir: Path) -> None:
    newsletter = _sent_to(project_dir, 10)
    _events(newsletter, [(Kind.OPENED, Detail.PERSON, None)] * 3 +
            [(Kind.CLICKED, Detail.PERSON, LEAD)])  # the aggregate level: no reader kept
    code, out = run("stats", DAY)
    assert "unique" not in out and "not per reader" in out
    assert json.loads(run("stats", DAY, "--json")[1])["unique"] is None

    def event(n: int, kind: Kind, who: str, detail: Detail) -> Event:
        return Event(f"i{n}", kind, who, DAY, None, detail,
                     url=LEAD if kind is Kind.CLICKED else None)

    events.record(newsletter.engine, [  # the individual level
        event(1, Kind.OPENED, "r0@example.org", Detail.PERSON),
        event(2, Kind.OPENED, "r0@example.org", Detail.PERSON),  # the same reader again
        event(3, Kind.OPENED, "R4@Example.org", Detail.PERSON),
        event(4, Kind.OPENED, "r1@example.org", Detail.MACHINE),  # a proxy: no reader's
        event(5, Kind.CLICKED, "r2@example.org", Detail.PERSON),
        event(6, Kind.CLICKED, "r3@example.org", Detail.MACHINE),
        event(7, Kind.CLICKED, "stranger@example.org", Detail.PERSON)], individual=True)
    code, out = run("stats", DAY)
    assert code == 0, out
    assert "  unique                2 opened, 1 clicked (readers, kept per reader)" in \
        out.splitlines()
    assert "@" not in out and "not per reader" not in out
    assert any(line.startswith("note: clicks are counted per link; unique openers")
               for line in out.splitlines())
    code, out = run("stats", DAY, "--json")
    assert json.loads(out)["unique"] == {"openers": 2, "clickers": 1} and "@" not in out
    span = newsletter.trend(3, today=dt.date(2024, 7, 25)).as_dict()  # what --days prints
    assert [i["unique"] for i in span["issues"]] == [  # type: ignore[attr-defined]
        {"openers": 2, "clickers": 1}]
    assert "@" not in json.dumps(span)
