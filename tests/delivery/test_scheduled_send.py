"""Exact send time with SendGrid: send_at and batch_id, and cancelling before it goes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import Engine

from newsletter.errors import ConfigError, SendPaused
from newsletter.project import Project
from newsletter.store import subscribers as audience
from newsletter.store.ledger import Ledger
from tests.fakes.sendgrid_server import FakeSendGrid, error
from tests.helpers import FAST, add_subscribers, run, run_send, with_delivery

UTC = dt.UTC


def test_every_request_carries_send_at_and_one_batch_id(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid) -> None:
    add_subscribers(engine, 30)
    send_at = (dt.datetime.now(UTC) + dt.timedelta(hours=2)).replace(microsecond=0)
    pub = with_delivery(project.publication, sendgrid={"batch_size": 10})
    run_send(engine, project, publication=pub, options=dataclasses.replace(FAST, send_at=send_at))
    assert len(sendgrid_env.batches) == 1
    assert {(b["send_at"], b["batch_id"]) for b in sendgrid_env.accepted} == \
        {(int(send_at.timestamp()), sendgrid_env.batches[0])}
    assert Ledger(engine, "2024-07-23").scheduled()[0] == sendgrid_env.batches[0]


def test_a_resumed_send_keeps_its_batch_id(engine: Engine, project: Project,
                                           sendgrid_env: FakeSendGrid) -> None:
    add_subscribers(engine, 20)
    pub = with_delivery(project.publication, sendgrid={"batch_size": 10})
    options = dataclasses.replace(FAST, send_at=dt.datetime.now(UTC) + dt.timedelta(hours=1),
                                  max_attempts=1, max_failed_batches=1)
    sendgrid_env.then(error(500, "down"))
    with pytest.raises(SendPaused):
        run_send(engine, project, publication=pub, options=options)
    run_send(engine, project, publication=pub, options=options)
    assert len(sendgrid_env.batches) == 1 and len(sendgrid_env.recipients()) == 20
    assert {b["batch_id"] for b in sendgrid_env.accepted} == set(sendgrid_env.batches)


def test_a_past_send_time_just_sends(engine: Engine, project: Project,
                                     sendgrid_env: FakeSendGrid) -> None:
    add_subscribers(engine, 2)
    past = dt.datetime.now(UTC) - dt.timedelta(minutes=5)
    run_send(engine, project, options=dataclasses.replace(FAST, send_at=past))
    assert "send_at" not in sendgrid_env.accepted[0] and sendgrid_env.batches == []


def test_too_far_ahead_is_refused(engine: Engine, project: Project,
                                  sendgrid_env: FakeSendGrid) -> None:
    later = dt.datetime.now(UTC) + dt.timedelta(hours=73)
    with pytest.raises(ConfigError, match="more than 72 hours ahead"):
        run_send(engine, project, options=dataclasses.replace(FAST, send_at=later))


def test_outbox_cannot_schedule(engine: Engine, project: Project, tmp_path: Path) -> None:
    later = dt.datetime.now(UTC) + dt.timedelta(hours=1)
    with pytest.raises(ConfigError, match="the outbox transport cannot schedule delivery"):
        run_send(engine, project, transport="outbox", outbox=tmp_path,
                 options=dataclasses.replace(FAST, send_at=later))
    assert not (tmp_path / "2024-07-23").exists()



@pytest.fixture
def cli_env(project_dir: Path, sendgrid_env: FakeSendGrid) -> FakeSendGrid:
    run("subscribers", "add", "ann@example.org")
    return sendgrid_env


def test_due_ahead_schedules_then_cancel_stops_it(cli_env: FakeSendGrid) -> None:
    with time_machine.travel(dt.datetime(2024, 7, 23, 3, 30, tzinfo=UTC), tick=False):
        assert run("send", "--due")[1] == ("the 2024-07-23 issue is due at 06:00 BST; "
                                           "nothing to send yet\n")
        code, out = run("send", "--due", "--ahead", "2")
        assert code == 0 and "sent 2024-07-23 via sendgrid to 1 recipients" in out
        [body] = cli_env.accepted
        assert body["send_at"] == int(dt.datetime(2024, 7, 23, 5, 0, tzinfo=UTC).timestamp())
        assert run("cancel", "2024-07-23") == (
            0, "cancelled the send of 2024-07-23 scheduled for 2024-07-23 05:00 UTC\n")
    assert cli_env.cancelled == [{"batch_id": cli_env.batches[0], "status": "cancel"}]
    with time_machine.travel(dt.datetime(2024, 7, 23, 3, 40, tzinfo=UTC), tick=False):
        code, out = run("status", "2024-07-23")
        assert code == 0 and out.startswith("2024-07-23: a send to 1 recipients was cancelled at ")
        assert out.endswith("(kept as 2024-07-23/cancelled-1)\n2024-07-23 has not been sent "
                            "since; `newsletter send 2024-07-23` sends it afresh\n")
        assert "cancelled" in run("schedule", "--days", "1")[1]
        code, out = run("send", "--due", "--ahead", "2")  # the corrected issue, sent anew
        assert code == 0 and "sent 2024-07-23 via sendgrid to 1 recipients" in out
    assert len(cli_env.batches) == 2 and cli_env.accepted[1]["batch_id"] == cli_env.batches[1]
    assert "via sendgrid: 1 recipients, finished" in run("status", "2024-07-23")[1]
    with time_machine.travel(dt.datetime(2024, 7, 23, 6, 0, tzinfo=UTC), tick=False):
        assert run("cancel", "2024-07-23")[1].endswith("too late to cancel\n")


def test_cancel_without_a_schedule(cli_env: FakeSendGrid) -> None:
    assert run("cancel", "2024-07-23") == (
        1, "Error: 2024-07-23 has no send scheduled with the provider\n")


def test_each_reader_gets_their_own_six_oclock(engine: Engine, project: Project,
                                               sendgrid_env: FakeSendGrid) -> None:
    audience.add(engine, "tokyo@example.org", timezone="Asia/Tokyo")
    audience.add(engine, "la@example.org", timezone="America/Los_Angeles")
    audience.add(engine, "nowhere@example.org")  # no timezone: the publication's (London)
    with time_machine.travel(dt.datetime(2024, 7, 22, 12, 0, tzinfo=UTC), tick=False):
        run_send(engine, project, options=dataclasses.replace(FAST, local_time=True))
    [body] = sendgrid_env.accepted
    assert "send_at" not in body and body["batch_id"] == sendgrid_env.batches[0]
    when = {p["to"][0]["email"]: dt.datetime.fromtimestamp(p["send_at"], UTC).isoformat()
            for p in body["personalizations"]}
    assert when == {
        "tokyo@example.org": "2024-07-22T21:00:00+00:00",    # 06:00 JST
        "la@example.org": "2024-07-23T13:00:00+00:00",       # 06:00 PDT
        "nowhere@example.org": "2024-07-23T05:00:00+00:00",  # 06:00 BST
    }
    # cancel stays possible until the last reader's time anywhere (06:00 at UTC-12).
    assert Ledger(engine, "2024-07-23").scheduled()[1] == dt.datetime(2024, 7, 23, 18, 0,
                                                                       tzinfo=UTC)


def test_a_reader_with_a_zone_from_before_the_strict_check_still_gets_the_issue(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid) -> None:
    from newsletter.store.db import subscribers

    audience.add(engine, "old@example.org")
    with engine.begin() as conn:  # no writer takes it now; an earlier release did
        conn.execute(subscribers.update().values(timezone="posix/Asia/Tokyo"))
    with time_machine.travel(dt.datetime(2024, 7, 22, 12, 0, tzinfo=UTC), tick=False):
        run_send(engine, project, options=dataclasses.replace(FAST, local_time=True))
    [person] = sendgrid_env.accepted[0]["personalizations"]
    assert person["send_at"] == int(dt.datetime(2024, 7, 22, 21, 0, tzinfo=UTC).timestamp())


def test_a_reader_whose_time_has_passed_gets_it_now(engine: Engine, project: Project,
                                                    sendgrid_env: FakeSendGrid) -> None:
    audience.add(engine, "tokyo@example.org", timezone="Asia/Tokyo")
    audience.add(engine, "la@example.org", timezone="America/Los_Angeles")
    with time_machine.travel(dt.datetime(2024, 7, 23, 5, 0, tzinfo=UTC), tick=False):
        run_send(engine, project, options=dataclasses.replace(FAST, local_time=True))
    people = {p["to"][0]["email"]: p for p in sendgrid_env.accepted[0]["personalizations"]}
    assert "send_at" not in people["tokyo@example.org"]  # 06:00 JST was hours ago: never late
    assert people["la@example.org"]["send_at"] == \
        int(dt.datetime(2024, 7, 23, 13, 0, tzinfo=UTC).timestamp())


def test_local_time_is_refused_where_it_cannot_be_kept(engine: Engine, project: Project,
                                                      tmp_path: Path,
                                                      sendgrid_env: FakeSendGrid) -> None:
    with pytest.raises(ConfigError, match="the outbox transport cannot schedule delivery"):
        run_send(engine, project, transport="outbox", outbox=tmp_path,
                 options=dataclasses.replace(FAST, local_time=True))
    with time_machine.travel(dt.datetime(2024, 7, 19, 12, 0, tzinfo=UTC), tick=False), \
            pytest.raises(ConfigError, match="more than 72 hours ahead"):
        run_send(engine, project, options=dataclasses.replace(FAST, local_time=True))


def test_local_time_flag_on_the_command_line(cli_env: FakeSendGrid) -> None:
    assert run("send", "2024-07-23", "--local-time", "--transport", "outbox") == (
        1, "Error: the outbox transport cannot schedule delivery for later (send_at)\n")
    with time_machine.travel(dt.datetime(2024, 7, 22, 12, 0, tzinfo=UTC), tick=False):
        code, out = run("send", "2024-07-23", "--local-time")
    assert code == 0 and "sent 2024-07-23 via sendgrid to 1 recipients" in out
    assert "send_at" in cli_env.accepted[0]["personalizations"][0]


def test_send_tomorrow_names_the_day_in_the_publications_zone(cli_env: FakeSendGrid) -> None:
    with time_machine.travel(dt.datetime(2024, 7, 22, 18, 0, tzinfo=UTC), tick=False):
        code, out = run("send", "tomorrow", "--local-time")
    assert code == 0 and "sent 2024-07-23 via sendgrid" in out
