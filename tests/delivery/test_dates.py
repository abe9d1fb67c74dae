"""Which issue is due, with a frozen clock: days, timezones and both DST changes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import time_machine

from newsletter.content import settings
from newsletter.delivery import dates
from tests.helpers import PUBLICATION, run

UTC = dt.UTC


def publication(**changes: object) -> settings.Publication:
    return settings.load(PUBLICATION / "newsletter.yaml").model_copy(update=changes)


@pytest.mark.parametrize(("now", "is_due"), [
    (dt.datetime(2024, 7, 23, 4, 59, tzinfo=UTC), False),  # 05:59 BST
    (dt.datetime(2024, 7, 23, 5, 0, tzinfo=UTC), True),    # 06:00 BST
    (dt.datetime(2024, 1, 10, 5, 59, tzinfo=UTC), False),  # 05:59 GMT
    (dt.datetime(2024, 1, 10, 6, 0, tzinfo=UTC), True),    # 06:00 GMT
    (dt.datetime(2024, 7, 23, 22, 59, tzinfo=UTC), True),  # 23:59 BST: a late run catches up
    (dt.datetime(2024, 7, 23, 23, 0, tzinfo=UTC), False),  # 00:00 BST on the 24th
])
def test_due_follows_local_send_time(now: dt.datetime, is_due: bool) -> None:
    assert dates.due(publication(), now)[1] is is_due


def test_other_timezones() -> None:
    tokyo = publication(timezone="Asia/Tokyo")
    day, is_due, at = dates.due(tokyo, dt.datetime(2024, 7, 22, 21, 0, tzinfo=UTC))
    assert (day, is_due, at.isoformat()) == (dt.date(2024, 7, 23), True,
                                             "2024-07-23T06:00:00+09:00")
    la = publication(timezone="America/Los_Angeles")
    day, is_due, _ = dates.due(la, dt.datetime(2024, 7, 23, 12, 59, tzinfo=UTC))
    assert (day, is_due) == (dt.date(2024, 7, 23), False)  # 05:59 PDT


def test_spring_forward_moves_a_missing_send_time_later() -> None:
    pub = publication(send_time="01:30")  # 01:00-02:00 does not exist on 31 March in London
    at = dates.send_time_on(pub, dt.date(2024, 3, 31))
    assert at.isoformat() == "2024-03-31T02:30:00+01:00"
    assert at.astimezone(UTC).isoformat() == "2024-03-31T01:30:00+00:00"


def test_fall_back_uses_the_first_of_two_send_times() -> None:
    pub = publication(send_time="01:30")  # 01:00-02:00 happens twice on 27 October
    at = dates.send_time_on(pub, dt.date(2024, 10, 27))
    assert at.astimezone(UTC).isoformat() == "2024-10-27T00:30:00+00:00"
    days = dates.upcoming(pub, dt.datetime(2024, 10, 26, 12, tzinfo=UTC), 3)
    assert [d.astimezone(UTC).hour for d in days] == [0, 0, 1]  # BST, BST, then GMT


def test_publishing_days() -> None:
    pub = publication(publishing_days=("mon", "tue", "wed", "thu", "fri"))
    saturday = dt.datetime(2024, 7, 27, 12, tzinfo=UTC)
    assert dates.due(pub, saturday)[1] is False
    week = dates.upcoming(pub, saturday, 7)
    assert [d.strftime("%a") for d in week] == ["Mon", "Tue", "Wed", "Thu", "Fri"]


def test_bad_publishing_days_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "newsletter.yaml"
    path.write_text((PUBLICATION / "newsletter.yaml").read_text() + "publishing_days: [mon, funday]\n")
    with pytest.raises(Exception, match="publishing days are names like mon"):
        settings.load(path)



@pytest.fixture
def quiet_env(project_dir: Path) -> Path:
    (project_dir / "people.csv").write_text("email\nann@example.org\n")
    assert run("subscribers", "import", "people.csv")[0] == 0
    return project_dir


def test_send_due_sends_once_then_says_so(quiet_env: Path) -> None:
    with time_machine.travel(dt.datetime(2024, 7, 23, 4, 30, tzinfo=UTC), tick=False):
        assert run("send", "--due") == (0, "the 2024-07-23 issue is due at 06:00 BST; "
                                           "nothing to send yet\n")
    with time_machine.travel(dt.datetime(2024, 7, 23, 5, 10, tzinfo=UTC), tick=False):
        code, out = run("send", "--due")
        assert code == 0 and "sent 2024-07-23 via outbox to 1 recipients" in out
        code, out = run("send", "--due")
        assert code == 0 and "2024-07-23 was already sent (1 delivered); nothing to do" in out


def test_send_due_without_an_issue_file_fails_loudly(quiet_env: Path) -> None:
    with time_machine.travel(dt.datetime(2024, 7, 30, 7, 0, tzinfo=UTC), tick=False):
        assert run("send", "--due") == (
            1, "Error: 2024-07-30 is a publishing day but issues/2024-07-30.yaml does not exist\n")


def test_send_due_on_a_day_off(quiet_env: Path) -> None:
    config = quiet_env / "newsletter.yaml"
    config.write_text(config.read_text() + "publishing_days: [mon, tue, wed, thu, fri]\n")
    with time_machine.travel(dt.datetime(2024, 7, 27, 7, 0, tzinfo=UTC), tick=False):
        assert run("send", "--due") == (0, "Saturday 2024-07-27 is not a publishing day; "
                                           "nothing to send\n")


def test_send_needs_a_date_or_due(quiet_env: Path) -> None:
    code, out = run("send")
    assert code == 2 and "give either DATE|PATH or --due" in out


def test_schedule_lists_days_and_files(quiet_env: Path) -> None:
    with time_machine.travel(dt.datetime(2024, 7, 23, 12, 0, tzinfo=UTC), tick=False):
        run("send", "2024-07-23")
        code, out = run("schedule", "--days", "4")
    assert code == 0
    assert out.splitlines() == [
        "Tue 2024-07-23 06:00 BST  sent                   issues/2024-07-23.yaml",
        "Wed 2024-07-24 06:00 BST  ready                  issues/2024-07-24.yaml",
        "Thu 2024-07-25 06:00 BST  ready                  issues/2024-07-25.yaml",
        "Fri 2024-07-26 06:00 BST  MISSING                issues/2024-07-26.yaml",
    ]


@pytest.mark.parametrize("day", [dt.date(2024, 3, 31), dt.date(2024, 10, 27), dt.date(2024, 7, 23)])
def test_the_message_date_is_the_instant_the_issue_is_due(day: dt.date) -> None:
    # One rule for the instant: the Date header and the schedule agree, DST days included.
    from newsletter.email import message
    from newsletter.email.render import Email

    pub = publication(send_time="01:30")
    email = Email(day, "Subject", "Preheader", "<p>x</p>", "x", pub.web_url(day))
    assert message.send_datetime(email, pub) == dates.send_time_on(pub, day)
    assert message.send_datetime(email, pub).isoformat() == \
        dates.send_time_on(pub, day).isoformat()
