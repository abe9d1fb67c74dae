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
from tests.conftest import with_ses_block
from tests.fakes.sendgrid_server import API_KEY, FakeSendGrid, error
from tests.fakes.ses_server import CONFIGURATION_SET, SECRET_KEY, FakeSes
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


def test_sendgrid_statistics_become_the_issues_figures(engine: Engine, sent: FakeSendGrid,
                                                       tmp_path: Path) -> None:
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

    assert run("report", "--out", str(tmp_path / "report"))[0] == 0
    page = (tmp_path / "report" / "index.html").read_text()
    # sent 4, delivered 75.0%, opened by people not known (SendGrid does not split its
    # opens: "–", never 0), clicked 50.0%, bounced 25.0%, complained 25.0%
    assert f'<th scope="row">{ISSUE}</th><td>4</td><td>75.0%</td><td>–</td><td>50.0%</td>' \
        '<td>25.0%</td><td>25.0%</td>' in page
    code, out = run("stats", "--days", "3660")
    [line] = [x for x in out.splitlines() if x.startswith(f"  {ISSUE}")]
    assert line.split()[1:] == ["4", "75.0%", "25.0%", "25.0%", "-", "50.0%"]
    code, out = run("stats", "--days", "3660", "--markdown")  # the job's summary
    assert "all opens where the provider does not tell people's apart" in out
    assert "    line [150.00]" in out and "    bar [50.00]" in out  # 6 and 2 of 4

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


def test_an_outage_is_told_apart_from_the_rate_limit_by_its_status(
        engine: Engine, sent: FakeSendGrid) -> None:
    # Both are worth trying again; only a 429 (the error's status) is the rate limit.
    sent.stats_answers[CATEGORY] = error(503, "try later")
    code, out = run("stats", "sync", ISSUE)
    assert (code, out) == (1, "Error: stats sync: category issue-2024-07-23: SendGrid "
                              "answered 503: try later; nothing was written\n")
    assert _synced_rows(engine) == []


def test_a_date_without_statistics_is_an_error(engine: Engine, sent: FakeSendGrid) -> None:
    code, out = run("stats", "sync", "2024-07-25")
    assert (code, out) == (1, "Error: stats sync: no statistics for 2024-07-25 at SendGrid's "
                              "category stats (GET /v3/categories/stats): nothing was sent "
                              "then, or the provider has not counted it yet\n")
    assert _synced_rows(engine) == []


def test_without_a_provider_with_statistics_it_says_so(project_dir: Path, engine: Engine,
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


# -- SES ------------------------------------------------------------------------------------

@pytest.fixture
def ses_sent(engine: Engine, project_dir: Path, ses_env: FakeSes,
             monkeypatch: pytest.MonkeyPatch) -> FakeSes:
    """Three readers sent the issue through SES (moto, behind the strict front)."""
    from newsletter.project import Project

    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    with_ses_block(project_dir)
    add_subscribers(engine, 3)
    assert run_send(engine, Project(project_dir / "newsletter.yaml"), "ses").sent == 3
    return ses_env


def test_moto_still_lacks_the_metrics_call(ses_env: FakeSes) -> None:
    # Why the front serves BatchGetMetricData itself: when moto learns it, test there.
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as refused:
        ses_env.client("sesv2", direct=True).batch_get_metric_data(Queries=[{
            "Id": "send", "Namespace": "VDM", "Metric": "SEND",
            "StartDate": dt.datetime(2024, 7, 23), "EndDate": dt.datetime(2024, 7, 24)}])
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_ses_metrics_become_the_issues_figures(engine: Engine, ses_sent: FakeSes) -> None:
    ses_sent.count(CONFIGURATION_SET, _today(), DELIVERY=2, PERMANENT_BOUNCE=1, OPEN=2,
                   CLICK=1)
    ses_sent.count("another-set", _today(), DELIVERY=50)  # not the publication's
    code, out = run("stats", "sync", ISSUE)
    assert code == 0, out
    assert out == (f"{ISSUE} ses       delivered 2, deferred 0, bounced 1, dropped 0, "
                   "complained 0, unsubscribed 0, opened 2, clicked 1\n")
    [queries] = ses_sent.metric_queries
    assert {q["Metric"] for q in queries} == {"SEND", "DELIVERY", "PERMANENT_BOUNCE",
                                             "TRANSIENT_BOUNCE", "COMPLAINT", "OPEN", "CLICK"}
    assert {json.dumps(q["Dimensions"]) for q in queries} == {
        json.dumps({"CONFIGURATION_SET": CONFIGURATION_SET})}
    # From the issue's day to today: no later issue was sent.
    start = dt.datetime.fromtimestamp(queries[0]["StartDate"], dt.UTC)
    end = dt.datetime.fromtimestamp(queries[0]["EndDate"], dt.UTC)
    assert (start.date().isoformat(), end.date()) == (ISSUE, dt.datetime.now(dt.UTC).date()
                                                      + dt.timedelta(days=1))
    code, out = run("stats", ISSUE, "--json")
    found = json.loads(out)
    assert found["sent"] == 3
    assert {k: v["count"] for k, v in found["events"].items() if v["count"]} == {
        "accepted": 3, "delivered": 2, "bounced": 1, "opened": 2, "clicked": 1}
    assert found["events"]["bounced"]["by_detail"] == {"hard": 1}


def test_ses_refusing_the_metrics_says_what_is_needed(engine: Engine,
                                                       ses_sent: FakeSes) -> None:
    ses_sent.metrics_answer = (403, "AccessDeniedException",
                               "User is not authorized to perform ses:BatchGetMetricData")
    code, out = run("stats", "sync", ISSUE)
    assert code == 1
    assert out.startswith("Error: stats sync: SES refused the metrics of 2024-07-23: the "
                          "credentials need ses:BatchGetMetricData, and the account Virtual "
                          "Deliverability Manager turned on\n")
    assert SECRET_KEY not in out and _synced_rows(engine) == []


def test_a_query_ses_denies_is_an_error_too(engine: Engine, ses_sent: FakeSes) -> None:
    ses_sent.query_errors = [{"Id": "open", "Code": "ACCESS_DENIED", "Message": "VDM is off"}]
    code, out = run("stats", "sync", ISSUE)
    assert code == 1 and "the credentials need ses:BatchGetMetricData" in out
    assert _synced_rows(engine) == []


def test_ses_words_that_name_a_denial_are_not_one(engine: Engine, ses_sent: FakeSes
                                                   ) -> None:
    # SES's code decides, not its message: this one only quotes a denial's code.
    ses_sent.metrics_answer = (400, "ValidationException",
                               "Dimension value ACCESS_DENIED is not valid")
    code, out = run("stats", "sync", ISSUE)
    assert code == 1 and "the credentials need" not in out
    assert out.startswith("Error: stats sync: SES refused the metrics of 2024-07-23: SES "
                          "answered 400 ValidationException: Dimension value ACCESS_DENIED")


def test_ses_throttling_writes_nothing(engine: Engine, ses_sent: FakeSes) -> None:
    ses_sent.metrics_answer = (429, "TooManyRequestsException", "Rate exceeded")
    code, out = run("stats", "sync", ISSUE)
    assert code == 1 and out.startswith("Error: stats sync: SES's rate limit or an outage "
                                        "stopped the metrics of 2024-07-23: SES answered 429 "
                                        "TooManyRequestsException")
    assert _synced_rows(engine) == []


def test_ses_counts_an_issues_days_up_to_the_next_issue(engine: Engine, project_dir: Path,
                                                         ses_sent: FakeSes) -> None:
    from newsletter.project import Project
    from tests.helpers import example_email

    project = Project(project_dir / "newsletter.yaml")
    run_send(engine, project, "ses", email=example_email(project, "2024-07-24"))
    ses_sent.count(CONFIGURATION_SET, "2024-07-23", DELIVERY=3, OPEN=1)
    ses_sent.count(CONFIGURATION_SET, "2024-07-24", DELIVERY=3, OPEN=2)  # the next issue's
    code, out = run("stats", "sync", ISSUE)
    assert code == 0, out
    assert "delivered 3," in out and "opened 1," in out
    [queries] = ses_sent.metric_queries
    assert {(q["StartDate"], q["EndDate"]) for q in queries} == {
        (dt.datetime(2024, 7, 23, tzinfo=dt.UTC).timestamp(),
         dt.datetime(2024, 7, 24, tzinfo=dt.UTC).timestamp())}


def test_an_answer_that_quotes_the_key_is_cleaned(engine: Engine, sent: FakeSendGrid,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    # A proxy or a stand-in may echo the request's Authorization header in its error.
    sent.stats_answers[CATEGORY] = error(400, f"bad request; you sent Bearer {API_KEY}")
    code, out = run("stats", "sync", ISSUE)
    assert out == ("Error: stats sync: category issue-2024-07-23: SendGrid answered 400: "
                   "bad request; you sent Bearer [redacted]\n") and code == 1
    assert API_KEY not in out and API_KEY not in caplog.text
    assert _synced_rows(engine) == []
