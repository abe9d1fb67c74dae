"""`suppressions sync` against a local SendGrid that serves the suppression lists with
paging, on both databases: each list read to its end, then only what is new."""

from __future__ import annotations

import logging
import pickle
import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.api import Newsletter
from newsletter.delivery.providers.base import SuppressionList
from newsletter.delivery.providers.sendgrid.suppressions import SendGridSuppressions
from newsletter.delivery.providers.sendgrid.transport import SendGridTransport
from newsletter.errors import TransportRejected, TransportUnavailable
from newsletter.project import Project
from newsletter.store import subscribers as store
from newsletter.store.states import Status
from tests.fakes.sendgrid_server import API_KEY, FakeSendGrid, error
from tests.helpers import add_subscribers, make_transport, run


def entries(addresses: list[str], created: int) -> list[dict[str, object]]:
    return [{"created": created, "email": a, "reason": "550 5.1.1 no such user",
             "status": "5.1.1"} for a in addresses]


def test_every_list_is_read_page_by_page_and_applied(engine: Engine, project_dir: Path,
                                                     sendgrid_env: FakeSendGrid,
                                                     monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    everyone = add_subscribers(engine, 1300)
    past = int(time.time()) - 3600
    sendgrid_env.suppressions = {
        "bounces": entries(everyone[:1100], past),           # three pages of 500
        "blocks": entries(everyone[1100:1110], past),
        "invalid_emails": entries(["stranger@example.org"], past),  # not a subscriber
        "spam_reports": entries(everyone[1110:1120], past),
        "unsubscribes": entries(everyone[1120:1130], past),
    }
    code, out = run("suppressions", "sync")
    assert code == 0, out
    assert "sendgrid:bounces                1,100 read    1,100 marked" in out
    status = {s.email: s.status for s in store.listing(engine)}
    assert sum(s == "bounced" for s in status.values()) == 1110
    assert sum(s == "complained" for s in status.values()) == 10
    assert sum(s == "unsubscribed" for s in status.values()) == 10
    assert sum(s == "active" for s in status.values()) == 170
    bounce_pages = [q for path, q in sendgrid_env.gets if path.endswith("/bounces")]
    assert [q["offset"] for q in bounce_pages] == ["0", "500", "1000"]
    assert {q["limit"] for q in bounce_pages} == {"500"}

    sendgrid_env.gets.clear()  # the next sync asks only for what came after
    sendgrid_env.suppressions["bounces"] += entries([everyone[1200]], int(time.time()) + 1)
    time.sleep(1.1)
    newsletter = Newsletter(project_dir / "newsletter.yaml")
    synced = {s.source: s for s in newsletter.sync_suppressions()}
    assert (synced["sendgrid:bounces"].read, synced["sendgrid:bounces"].marked) == (1, 1)
    starts = {int(q["start_time"]) for _, q in sendgrid_env.gets}
    assert len(starts) == 1 and starts.pop() > past


def test_the_unsubscribe_group_is_read_when_set(engine: Engine, project_dir: Path,
                                                sendgrid_env: FakeSendGrid,
                                                monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    config = project_dir / "newsletter.yaml"
    config.write_text(config.read_text() + "delivery:\n  sendgrid:\n    asm_group_id: 77\n")
    everyone = add_subscribers(engine, 3)
    sendgrid_env.group_suppressions = {"77": [everyone[0].upper()]}
    synced = {s.source: s for s in Newsletter(config).sync_suppressions()}
    assert (synced["sendgrid:group 77"].read, synced["sendgrid:group 77"].marked) == (1, 1)
    assert store.find(engine, everyone[0]).status == "unsubscribed"  # type: ignore[union-attr]


def test_without_a_provider_that_keeps_lists_it_says_so(project_dir: Path) -> None:
    code, out = run("suppressions", "sync")
    assert code == 1 and out == ("Error: no provider with suppression lists is set up: set "
                                 "SENDGRID_API_KEY or SES_REGION\n")


# -- through the sendgrid package's client ------------------------------------------------

BOUNCES = SuppressionList("bounces", Status.BOUNCED)


def lists(project: Project) -> SendGridSuppressions:
    transport = make_transport(project)
    assert isinstance(transport, SendGridTransport)
    return SendGridSuppressions(transport)


def test_the_package_reads_the_lists_and_its_debug_log_never_shows_the_key(
        project: Project, sendgrid_env: FakeSendGrid, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="python_http_client")
    sendgrid_env.suppressions = {"bounces": entries(["ann@example.org"], 1000)}
    assert lists(project).read(BOUNCES, 0, 2000) == ["ann@example.org"]
    logged = caplog.text
    assert "GET Request: " in logged and "'User-agent': 'sendgrid/" in logged  # the package's
    assert "'Authorization': '[redacted]'" in logged
    assert API_KEY not in logged and API_KEY.split(".")[1] not in logged


@pytest.mark.parametrize(("answer", "kind", "said"), [
    (error(401, "authorization required"), TransportRejected,
     "SendGrid answered 401: authorization required"),
    (error(400, f"bad request; you sent Bearer {API_KEY}"), TransportRejected,
     "SendGrid answered 400: bad request; you sent Bearer [redacted]"),
    (error(429, "too many requests", **{"Retry-After": "7"}), TransportUnavailable,
     "SendGrid answered 429: too many requests"),
    (error(503, "try later"), TransportUnavailable, "SendGrid answered 503: try later"),
])
def test_an_error_of_the_suppression_api_is_ours_typed_in_one_line(
        project: Project, sendgrid_env: FakeSendGrid, answer: object, kind: type,
        said: str) -> None:
    sendgrid_env.odd_listings["bounces"] = answer  # type: ignore[assignment]
    with pytest.raises(kind) as raised:
        lists(project).read(BOUNCES, 0, 2000)
    assert str(raised.value) == said
    assert type(raised.value) is kind
    # The status is a field callers decide on, kept through the cleaning of the words
    # and across a worker process's pickle.
    status = answer.status  # type: ignore[attr-defined]
    assert raised.value.status == status  # type: ignore[attr-defined]
    assert pickle.loads(pickle.dumps(raised.value)).status == status
    if answer.status == 429:  # type: ignore[attr-defined]
        assert raised.value.retry_after == 7  # type: ignore[attr-defined]


def test_a_sendgrid_that_cannot_be_reached_is_unavailable_and_not_sent(
        project: Project, sendgrid_env: FakeSendGrid, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as spare:  # a port nothing listens on
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    monkeypatch.setenv("SENDGRID_HOST", f"http://127.0.0.1:{port}")
    with pytest.raises(TransportUnavailable, match="^cannot reach SendGrid: ") as raised:
        lists(project).read(BOUNCES, 0, 2000)
    assert raised.value.not_sent and "\n" not in str(raised.value)
    assert API_KEY not in str(raised.value)
