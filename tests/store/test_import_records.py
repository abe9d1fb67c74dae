"""Imports keep what the law asks: other tools' signup dates and consent evidence (when
the reader asked, when they confirmed, from which address), their tags, a link key of
each reader's own; readers erased at their request stay out. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, select

from newsletter.store import erased, signups
from newsletter.store import subscribers as store
from newsletter.store.db import subscribers

UTC = dt.UTC


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def reader(engine: Engine, address: str) -> Any:
    with engine.connect() as conn:
        row = conn.execute(select(subscribers).where(subscribers.c.email_key == address)).one()
    values = dict(row._mapping)
    for name in ("created_at", "opted_in_at", "confirmed_at"):  # SQLite's are naive UTC
        if values[name] is not None and values[name].tzinfo is None:
            values[name] = values[name].replace(tzinfo=UTC)
    return SimpleNamespace(**values)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


MAILCHIMP = (
    "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,"
    "CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,"
    "NOTES,TAGS\n"
    'ada@example.org,Ada,Lovelace,2,2024-01-03 10:00:00,203.0.113.7,2024-01-03 10:05:00,'
    '203.0.113.7,,,,,Europe/London,GB,,2024-01-03 10:05:00,1001,a1,,"""Early readers"",'
    '""VIP"",""vip"""\n'
    "grace@example.org,Grace,Hopper,3,,,2024-02-11 08:01:00,,,,,,America/New_York,US,,"
    "2024-02-11 08:01:00,1002,a2,,\n")


def test_mailchimp_keeps_opt_in_confirmation_address_and_tags(engine: Engine,
                                                              tmp_path: Path) -> None:
    path = write(tmp_path, "members_export.csv", MAILCHIMP)
    report = store.import_csv(engine, path)
    assert (report.added, report.problems, report.warnings) == (2, [], [])
    ada = reader(engine, "ada@example.org")
    assert ada.created_at == ada.opted_in_at == at(2024, 1, 3, 10, 0)  # UTC, as written
    assert ada.confirmed_at == at(2024, 1, 3, 10, 5)
    assert ada.opt_in_ip == "203.0.113.7"
    assert json.loads(ada.tags) == ["Early readers", "VIP"]  # "vip" repeats "VIP"
    assert ada.consent_source == "import members_export.csv (Mailchimp)"
    grace = reader(engine, "grace@example.org")  # no opt-in time: the confirmation's
    assert grace.created_at == grace.confirmed_at == at(2024, 2, 11, 8, 1)
    assert (grace.opted_in_at, grace.opt_in_ip, grace.tags) == (None, None, None)


def test_substack_keeps_the_signup_date(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "substack.csv",
                 "email,active_subscription,expiry,plan,email_disabled,created_at\n"
                 "reader@example.org,false,,free,false,2024-03-01T09:00:00.000Z\n"
                 "quiet@example.org,false,,free,true,2023-11-30T23:59:59.123Z\n")
    assert store.import_csv(engine, path).warnings == []
    assert reader(engine, "reader@example.org").created_at == at(2024, 3, 1, 9)
    quiet = reader(engine, "quiet@example.org")
    assert (quiet.status, quiet.created_at) == ("unsubscribed",
                                                at(2023, 11, 30, 23, 59, 59, 123000))
    assert quiet.consent_source == "import substack.csv (Substack)"


def test_buttondown_keeps_date_address_and_tags(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "buttondown.csv",
                 "email,creation_date,notes,metadata,tags,referrer_url,secondary_id,"
                 "subscriber_type,source,utm_campaign,utm_medium,utm_source,ip_address\n"
                 'first@example.org,2024-04-01T12:00:00Z,,{},"[""weekly"", ""local""]",,1,'
                 "regular,form,,,,2001:db8::1\n"
                 "second@example.org,2024-04-02 12:00:00+02:00,,{},[],,2,unsubscribed,api,"
                 ",,,\n")
    report = store.import_csv(engine, path)
    assert (report.added, report.warnings) == (2, [])
    first = reader(engine, "first@example.org")
    assert (first.created_at, first.opted_in_at) == (at(2024, 4, 1, 12), None)
    assert (first.opt_in_ip, json.loads(first.tags)) == ("2001:db8::1", ["weekly", "local"])
    second = reader(engine, "second@example.org")
    assert (second.status, second.created_at, second.tags) == ("unsubscribed",
                                                               at(2024, 4, 2, 10), None)
    assert second.consent_source == "import buttondown.csv (Buttondown)"


def test_listmonk_times_as_go_writes_them(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "subscribers.csv",
                 "uuid,email,name,attributes,status,created_at,updated_at\n"
                 "5d1c6f0e-0000-4000-8000-000000000001,one@example.org,One,{},enabled,"
                 "2024-05-01 10:00:00.123456 +0530 IST,2024-05-02 10:00:00 +0000 UTC\n"
                 "5d1c6f0e-0000-4000-8000-000000000002,two@example.org,Two,{},blocklisted,"
                 "2024-05-02 10:00:00 +0000 +0000,2024-05-02 10:00:00 +0000 +0000\n")
    assert store.import_csv(engine, path).warnings == []
    assert reader(engine, "one@example.org").created_at == at(2024, 5, 1, 4, 30, 0, 123456)
    two = reader(engine, "two@example.org")
    assert (two.status, two.created_at) == ("unsubscribed", at(2024, 5, 2, 10))
    assert two.consent_source == "import subscribers.csv (listmonk)"


def test_a_value_that_cannot_be_read_is_a_warning_and_the_reader_comes(
        engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "odd.csv",
                 "Email Address,OPTIN_TIME,CONFIRM_TIME,OPTIN_IP,LEID\n"
                 "a@example.org,03/01/2024,2024-01-03 10:05:00,not-an-ip,1\n"
                 "b@example.org,2999-01-01 00:00:00,,192.0.2.1,2\n")
    before = dt.datetime.now(UTC)
    report = store.import_csv(engine, path)
    assert (report.added, report.problems) == (2, [])
    assert report.warnings == [
        f"{path}:2: warning: opted_in_at: '03/01/2024' is not a date and time we read (such "
        "as 2024-07-23 09:30:00, taken as UTC); imported without it",
        f"{path}:2: warning: opt_in_ip: 'not-an-ip' is not an IP address; imported without it",
        f"{path}:3: warning: opted_in_at: '2999-01-01 00:00:00' is not a date and time we "
        "read (such as 2024-07-23 09:30:00, taken as UTC); imported without it"]
    a = reader(engine, "a@example.org")
    assert (a.opted_in_at, a.opt_in_ip, a.created_at) == (None, None, at(2024, 1, 3, 10, 5))
    b = reader(engine, "b@example.org")
    assert b.opted_in_at is None and b.created_at >= before.replace(microsecond=0)
    assert b.opt_in_ip == "192.0.2.1"


def test_tags_are_one_line_each_deduplicated_and_bounded(engine: Engine,
                                                         tmp_path: Path) -> None:
    many = json.dumps([f"t{n}" for n in range(60)])
    odd = json.dumps(["two\nlines", "Two lines", "x" * 101, "", 7])
    path = write(tmp_path, "tags.csv", "email,tags\n"
                 f'many@example.org,"{many.replace(chr(34), 2 * chr(34))}"\n'
                 f'odd@example.org,"{odd.replace(chr(34), 2 * chr(34))}"\n'
                 "plain@example.org,\"news, sport ,news\"\n")
    report = store.import_csv(engine, path)
    assert report.added == 3
    assert report.warnings == [
        f"{path}:2: warning: tags: 60 tags; the first 50 were kept",
        f"{path}:3: warning: tags: a tag of 101 characters (the limit is 100) was left out"]
    assert json.loads(reader(engine, "many@example.org").tags) == [f"t{n}" for n in range(50)]
    assert json.loads(reader(engine, "odd@example.org").tags) == ["two lines", "7"]
    assert json.loads(reader(engine, "plain@example.org").tags) == ["news", "sport"]


def test_every_imported_reader_gets_a_link_key_of_their_own(engine: Engine,
                                                            tmp_path: Path) -> None:
    path = write(tmp_path, "many.csv",
                 "email\n" + "".join(f"r{n}@example.org\n" for n in range(300)))
    assert store.import_csv(engine, path).added == 300
    with engine.connect() as conn:
        keys = conn.execute(select(subscribers.c.link_key, subscribers.c.legacy_links)).all()
    assert len({key for key, _ in keys}) == 300
    assert all(re.fullmatch("[0-9a-f]{32}", key) and not legacy for key, legacy in keys)


@pytest.mark.parametrize("status", ["", "unsubscribed", "pending", "bounced"])
def test_an_erased_address_is_not_brought_back(engine: Engine, tmp_path: Path,
                                               status: str) -> None:
    store.add(engine, "gone@example.org")
    store.forget(engine, "gone@example.org")
    with engine.connect() as conn:
        day = erased.when_erased(conn, "gone@example.org")
    assert day is not None
    path = write(tmp_path, "back.csv", "email,status\n"
                 f"kept@example.org,{status}\nGone@example.org,{status}\n")
    report = store.import_csv(engine, path)
    assert report.warnings == [
        f"{path}:3: Gone@example.org was erased on {day:%Y-%m-%d} at their request; they "
        "come back only by subscribing again and confirming"]
    assert (report.added, report.erased, report.rows_read, report.problems) == (1, 1, 2, [])
    assert store.find(engine, "gone@example.org") is None


def test_an_erased_reader_who_asked_again_is_not_vouched_for_by_a_file(
        engine: Engine, tmp_path: Path) -> None:
    store.add(engine, "back@example.org")
    store.forget(engine, "back@example.org")
    signups.queue(engine, "back@example.org", source="form test")  # asked, not confirmed
    path = write(tmp_path, "list.csv", "email\nback@example.org\n")
    report = store.import_csv(engine, path, reactivate=True)
    assert (report.erased, report.reactivated) == (1, 0)
    assert store.find(engine, "back@example.org") is None


def test_warnings_come_in_line_order_across_chunks(engine: Engine, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "_CHUNK", 2)
    for address in ("e2@example.org", "e5@example.org"):  # said when their chunk is stored
        store.add(engine, address)
        store.forget(engine, address)
    path = write(tmp_path, "c.csv", "email,timezone\n" + "".join(
        f"e{n}@example.org,{'Bad/Zone' if n in (3, 6) else ''}\n" for n in range(2, 8)))
    report = store.import_csv(engine, path)
    assert [w.split(":")[1] for w in report.warnings] == ["2", "3", "5", "6"]
    assert (report.added, report.erased) == (4, 2)


def test_our_export_round_trips_the_consent_on_record(engine: Engine,
                                                      tmp_path: Path) -> None:
    store.import_csv(engine, write(tmp_path, "members_export.csv", MAILCHIMP))
    exported = tmp_path / "export.csv"
    with exported.open("w", newline="", encoding="utf-8") as out:
        assert store.export_csv(engine, out) == 2
    fields = ("email", "name", "timezone", "status", "created_at", "opted_in_at",
              "confirmed_at", "opt_in_ip", "tags")
    before = {name: tuple(getattr(reader(engine, name), f) for f in fields)
              for name in ("ada@example.org", "grace@example.org")}
    with engine.begin() as conn:  # as into a new database
        conn.execute(subscribers.delete())
    report = store.import_csv(engine, exported)
    assert (report.added, report.problems, report.warnings) == (2, [], [])
    for name, values in before.items():
        assert tuple(getattr(reader(engine, name), f) for f in fields) == values
    assert reader(engine, "ada@example.org").consent_source == (
        "import export.csv (newsletter export); before: import members_export.csv "
        "(Mailchimp)")


def test_an_export_of_an_earlier_release_still_imports(engine: Engine,
                                                       tmp_path: Path) -> None:
    path = write(tmp_path, "old.csv", "email,name,timezone,status,created_at\r\n"
                 "a@example.org,'=A,Asia/Tokyo,active,2024-01-02T03:04:05.000006\r\n"
                 "b@example.org,,,bounced,2024-01-03T00:00:00+00:00\r\n")
    report = store.import_csv(engine, path)
    assert (report.added, report.problems, report.warnings) == (2, [], [])
    a = reader(engine, "a@example.org")
    assert (a.name, a.created_at) == ("=A", at(2024, 1, 2, 3, 4, 5, 6))
    assert reader(engine, "b@example.org").status == "bounced"
