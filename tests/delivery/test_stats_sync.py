"""`stats sync`: the providers' own statistics of each issue, read into the figures that
`stats`, `report` and `health` show, for publications without the webhook. SendGrid's
against the strict local SendGrid (its stats schema checks every query and every answer);
SES's against the front of tests/fakes/ses_server.py (moto has no BatchGetMetricData).
Both databases."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from newsletter.store import db
from newsletter.store.vocabulary import Kind
from tests.fakes.sendgrid_server import API_KEY, FakeSendGrid, error
from tests.helpers import add_subscribers, run, run_send

ISSUE = "2024-07-23"
CATEGORY = f"issue-{ISSUE}"


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _synced_rows(engine: Engine) -> list[tuple[str, str, str, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(db.synced_counts.c.issue, db.synced_counts.c.provider,
                                   db.synced_counts.c.kind, db.synced_counts.c.detail,
                                   db.synced_counts.c.count)
                            .order_by(db.synced_counts.c.kind, db.synced_counts.c.detail))
        return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.fixture
def sent(engine: Engine, project_dir: Path, sendgrid_env: FakeSendGrid,
         monkeypatch: pytest.MonkeyPatch) -> FakeSendGrid:
    """Four readers sent the issue through the local SendGrid."""
    from newsletter.project import Project

    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    add_subscribers(engine, 4)
    report = run_send(engine, Project(project_dir / "newsletter.yaml"), "sendgrid")
    assert report.sent == 4
    return sendgrid_env


def test_sendgrid_statistics_become_the_issues_figures(engine: Engine,
                                                       sent: FakeSendGrid) -> None:
    # What SendGrid learnt after the send: the day of the send and the day after.
    sent.count(CATEGORY, _today(), delivered=3, bounces=1, opens=6, clicks=2)
    sent.count(CATEGORY, _today(), spam_reports=1, unique_opens=2)
    code, out = run("stats", "sync", ISSUE)
    assert code == 0, out
    out_of_sync = out.splitlines()[0]
    assert out.startswith(f"{ISSUE} sendgrid  delivered 3, deferred 0, bounced 1, dropped 0, "
                          "complained 1, unsubscribed 0, opened 6, clicked 2")
    [query] = [q for p, q in sent.gets if p == "/v3/categories/stats"]
    assert query == {"categories": CATEGORY, "start_date": "2024-07-22",
                     "end_date": _today(), "aggregated_by": "day"}

    code, out = run("stats", ISSUE)
    assert code == 0, out
    assert "  delivered             3   75.0%" in out
    assert "  bounced               1   25.0%  (hard 1)" in out
    assert "  opened                6" in out
    assert "from the provider's statistics (" in out and "no provider events" not in out
    code, out = run("stats", ISSUE, "--json")
    figures = json.loads(out)
    assert (figures["sent"], figures["events"]["delivered"]["count"]) == (4, 3)
    assert figures["events"]["complained"]["rate"] == 0.25
    assert figures["events"]["accepted"]["count"] == 4  # processed, from the send itself
    assert "delivered" in figures["synced"] and figures["synced_at"]
    code, out = run("stats", "--days", "3660", "--json")
    [line] = [i for i in json.loads(out)["issues"] if i["issue"] == ISSUE]
    assert line["events"]["delivered"]["count"] == 3
    code, out = run("health", "--json")
    # Delivery events from the provider: 4 accepted, 3 delivered, 1 bounce, 1 complaint.
    assert json.loads(out)["reported"] == 9
    assert {c["name"]: c["count"] for c in json.loads(out)["checks"]} == {
        "complaints": 1, "hard bounces": 1}

    before = _synced_rows(engine)
    assert ("2024-07-23", "sendgrid", "delivered", "", 3) in before
    code, again = run("stats", "sync", ISSUE)  # the same figures, the same rows
    assert (code, again.splitlines()[0]) == (0, out_of_sync) and _synced_rows(engine) == before


def test_a_webhooks_larger_count_is_kept(engine: Engine, sent: FakeSendGrid) -> None:
    from newsletter.store import events
    from newsletter.store.vocabulary import Detail, Event

    events.record(engine, [Event(f"e{n}", Kind.OPENED, f"r{n}@example.org", ISSUE, None,
                                 Detail.PERSON) for n in range(8)])
    sent.count(CATEGORY, _today(), delivered=4, opens=5)
    assert run("stats", "sync", ISSUE)[0] == 0
    code, out = run("stats", ISSUE, "--json")
    assert code == 0, out
    found = json.loads(out)["events"]
    assert found["opened"] == {"count": 8, "rate": 2.0, "by_detail": {"person": 8}}
    assert found["delivered"]["count"] == 4


def test_a_key_without_stats_read_is_named_and_nothing_is_kept(
        engine: Engine, sent: FakeSendGrid) -> None:
    sent.count(CATEGORY, _today(), delivered=4)
    sent.stats_answers[CATEGORY] = error(403, "access forbidden")
    code, out = run("stats", "sync", ISSUE)
    assert (code, out) == (1, "Error: stats sync: SendGrid refused the API key (403) for "
                              "category issue-2024-07-23: the key needs the stats.read "
                              "permission (Settings > API Keys)\n")
    assert API_KEY not in out and _synced_rows(engine) == []


def test_a_rate_limit_part_way_writes_nothing(engine: Engine, sent: FakeSendGrid,
                                              project_dir: Path) -> None:
    from newsletter.project import Project
    from tests.helpers import example_email

    project = Project(project_dir / "newsletter.yaml")
    run_send(engine, project, "sendgrid", email=example_email(project, "2024-07-24"))
    for issue in (ISSUE, "2024-07-24"):
        sent.count(f"issue-{issue}", _today(), delivered=4)
    # The first issue is read; SendGrid's limit stops the second.
    sent.stats_answers["issue-2024-07-24"] = error(429, "too many requests",
                                                   **{"Retry-After": "30"})
    code, out = run("stats", "sync", "--days", "3660")
    assert code == 1
    assert out == ("Error: stats sync: SendGrid's rate limit was reached asking for category "
                   "issue-2024-07-24; try again in 30 s; nothing was written\n")
    assert _synced_rows(engine) == []  # not even the first issue's


def test_a_date_without_statistics_is_an_error(engine: Engine, sent: FakeSendGrid) -> None:
    code, out = run("stats", "sync", "2024-07-25")
    assert (code, out) == (1, "Error: stats sync: no statistics for 2024-07-25 at SendGrid's "
                              "category stats (GET /v3/categories/stats): nothing was sent "
                              "then, or the provider has not counted it yet\n")
    assert _synced_rows(engine) == []


def test_without_a_provider_with_statistics_it_says_so(engine: Engine,
                                                       monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    code, out = run("stats", "sync")
    assert (code, out) == (1, "Error: stats sync: no provider with statistics is set up: set "
                              "SENDGRID_API_KEY or SES_REGION\n")


def test_sync_takes_a_date_or_days(sendgrid_env: FakeSendGrid) -> None:
    code, out = run("stats", "sync", ISSUE, "--days", "3")
    assert code == 2 and "stats sync takes a DATE or --days N, not both" in out
    code, out = run("stats", "sync", "--json")
    assert code == 2 and "--json and --markdown go with the figures" in out


def test_only_figures_above_zero_are_kept(engine: Engine, sent: FakeSendGrid) -> None:
    sent.count(CATEGORY, _today(), delivered=4)
    run("stats", "sync", ISSUE)
    with engine.connect() as conn:  # a row per figure above zero: processed, delivered
        assert conn.execute(select(func.count()).select_from(db.synced_counts)
                            ).scalar_one() == 2
