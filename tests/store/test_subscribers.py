"""The subscriber store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.errors import SubscriberError
from newsletter.store import db
from newsletter.store import subscribers as audience


def test_add_normalizes_and_is_case_insensitive(engine: Engine) -> None:
    sub = audience.add(engine, "  Ann@EXAMPLE.org ", name="Ann", timezone="Europe/Paris")
    assert (sub.email, sub.name, sub.timezone, sub.status) == \
        ("Ann@example.org", "Ann", "Europe/Paris", "active")
    with pytest.raises(SubscriberError, match="Ann@example.org is already subscribed"):
        audience.add(engine, "ann@example.org")


@pytest.mark.parametrize(("address", "reason"), [
    ("not-an-address", "An email address must have an @-sign."),
    ("a@b", "The part after the @-sign is not valid. It should have a period."),
    ("two@@example.org", "The part after the @-sign contains invalid characters: '@'."),
])
def test_bad_addresses_are_refused(engine: Engine, address: str, reason: str) -> None:
    with pytest.raises(SubscriberError) as caught:
        audience.add(engine, address)
    assert str(caught.value).startswith(f"{address!r} is not a valid address: {reason}")


# Names ZoneInfo opens that are no IANA zone: the machine's own setting, the placeholder,
# the POSIX template, the database's copies, and paths that wander.
NOT_IANA = ["Mars/Base", "localtime", "Factory", "posixrules", "posix/Europe/Berlin",
            "right/UTC", "right/Europe/London", "Europe/../Europe/Berlin", "/etc/localtime",
            "europe/berlin", " Europe/Berlin", ""]


@pytest.mark.parametrize("zone", [z for z in NOT_IANA if z])
def test_bad_timezone(engine: Engine, zone: str) -> None:
    with pytest.raises(SubscriberError) as caught:
        audience.add(engine, "a@example.org", timezone=zone)
    assert str(caught.value) == \
        f"unknown timezone {zone!r}; use an IANA name like 'Europe/London'"
    assert audience.find(engine, "a@example.org") is None


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/Argentina/Buenos_Aires", "UTC",
                                  "US/Eastern", "Etc/GMT+12", "Pacific/Kiritimati"])
def test_iana_names_and_their_links_are_timezones(engine: Engine, zone: str) -> None:
    assert audience.add(engine, "a@example.org", timezone=zone).timezone == zone


def test_a_row_with_a_zone_from_before_is_still_read(engine: Engine) -> None:
    # Written before the check was strict: shown and sent as it is, never a crash.
    audience.add(engine, "old@example.org")
    with engine.begin() as conn:
        conn.execute(db.subscribers.update().values(timezone="localtime"))
    found = audience.find(engine, "old@example.org")
    assert found is not None and found.timezone == "localtime"


def test_unsubscribed_is_never_silently_reactivated(engine: Engine) -> None:
    audience.add(engine, "bob@example.org")
    audience.set_status(engine, "BOB@example.org", "unsubscribed")
    with pytest.raises(SubscriberError, match="bob@example.org is unsubscribed; pass --reactivate"):
        audience.add(engine, "bob@example.org")
    assert audience.add(engine, "bob@example.org", reactivate=True).status == "active"


def test_counts_and_listing(engine: Engine) -> None:
    for n in range(5):
        audience.add(engine, f"p{n}@example.org")
    audience.set_status(engine, "p1@example.org", "bounced")
    audience.set_status(engine, "p2@example.org", "complained")
    assert audience.counts(engine) == {"active": 3, "unsubscribed": 0, "bounced": 1,
                                       "complained": 1, "pending": 0}
    assert [s.email for s in audience.listing(engine, "active")] == \
        ["p0@example.org", "p3@example.org", "p4@example.org"]


def test_import_reports_bad_rows_and_keeps_good_ones(engine: Engine, tmp_path: Path) -> None:
    audience.add(engine, "gone@example.org")
    audience.set_status(engine, "gone@example.org", "unsubscribed")
    audience.add(engine, "here@example.org")
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "email,name,timezone\n"
        "new@example.org,New,Asia/Tokyo\n"          # 2: added
        "broken-address,X,\n"                       # 3: invalid
        "NEW@example.org,Again,\n"                  # 4: repeats line 2
        "gone@example.org,,\n"                      # 5: unsubscribed, not reactivated
        "here@example.org,,\n"                      # 6: already there
        "tz@example.org,,Nowhere/City\n"            # 7: added, without the timezone
        "other@example.org,,\n")                    # 8: added
    report = audience.import_csv(engine, csv_file)
    assert (report.added, report.unchanged, report.reactivated) == (3, 1, 0)
    assert report.problems == [
        f"{csv_file}:3: 'broken-address' is not a valid address: An email address must have "
        "an @-sign.",
        f"{csv_file}:4: NEW@example.org repeats line 2",
        f"{csv_file}:5: gone@example.org is unsubscribed; not reactivated (use --reactivate if "
        "they asked to come back)",
    ]
    assert report.warnings == [
        f"{csv_file}:7: warning: unknown timezone 'Nowhere/City'; imported without a timezone"]
    assert audience.find(engine, "tz@example.org").timezone is None  # type: ignore[union-attr]
    assert audience.find(engine, "gone@example.org").status == "unsubscribed"
    assert audience.find(engine, "new@example.org").timezone == "Asia/Tokyo"
    again = audience.import_csv(engine, csv_file)
    assert again.added == 0 and again.unchanged == 4  # nothing is ever duplicated


def test_import_needs_an_email_column(engine: Engine, tmp_path: Path) -> None:
    csv_file = tmp_path / "x.csv"
    csv_file.write_text("address,name\na@example.org,A\n")
    with pytest.raises(SubscriberError, match="x.csv:1: the header must name an 'email' column"):
        audience.import_csv(engine, csv_file)


def test_export_round_trips(engine: Engine, tmp_path: Path) -> None:
    audience.add(engine, "a@example.org", name="A, with comma", timezone="Asia/Tokyo")
    audience.add(engine, "b@example.org")
    out = io.StringIO()
    assert audience.export_csv(engine, out) == 2
    lines = out.getvalue().splitlines()
    assert lines[0] == ("email,name,timezone,status,created_at,opted_in_at,confirmed_at,"
                        "opt_in_ip,tags,consent_source")
    assert lines[1].startswith('a@example.org,"A, with comma",Asia/Tokyo,active,')


def test_forget_erases(engine: Engine) -> None:
    audience.add(engine, "x@example.org")
    audience.forget(engine, "x@example.org")
    assert audience.find(engine, "x@example.org") is None


def test_database_url_forms(tmp_path: Path) -> None:
    assert db.database_url("", tmp_path) == f"sqlite:///{tmp_path / 'newsletter.sqlite3'}"
    given = "postgres://u:secret@h/db"
    assert db.database_url(given, tmp_path) == "postgresql+psycopg://u:secret@h/db"
    assert "secret" not in db.safe_url(db.database_url(given, tmp_path))
