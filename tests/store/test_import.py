"""Importing subscribers: other tools' exports as they are, bad rows at their true line,
the rest imported, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.errors import SubscriberError
from newsletter.store import subscribers as store
from newsletter.store.db import subscribers
from tests.helpers import FIXTURES

IMPORTS = FIXTURES / "imports"


def statuses(engine: Engine) -> dict[str, str]:
    return {s.email: s.status for s in store.listing(engine)}


@pytest.mark.parametrize(("name", "expected"), [
    ("mailchimp_subscribed.csv", {"ada@example.org": "active", "grace@example.org": "active"}),
    ("mailchimp_unsubscribed.csv", {"left@example.org": "unsubscribed"}),
    ("mailchimp_cleaned.csv", {"gone@example.org": "bounced"}),
    ("substack.csv", {"reader@example.org": "active", "quiet@example.org": "unsubscribed",
                      "payer@example.org": "active"}),
    ("buttondown.csv", {"first@example.org": "active", "second@example.org": "unsubscribed",
                        "third@example.org": "active"}),
    ("listmonk.csv", {"one@example.org": "active", "two@example.org": "unsubscribed"}),
])
def test_other_tools_exports_import_as_they_are(engine: Engine, name: str,
                                                expected: dict[str, str]) -> None:
    report = store.import_csv(engine, IMPORTS / name)
    assert (report.problems, report.warnings) == ([], [])
    assert report.added == len(expected) and statuses(engine) == expected


def test_names_and_timezones_come_across(engine: Engine) -> None:
    store.import_csv(engine, IMPORTS / "mailchimp_subscribed.csv")
    store.import_csv(engine, IMPORTS / "listmonk.csv")
    found = {s.email: (s.name, s.timezone) for s in store.listing(engine)}
    assert found["ada@example.org"] == ("Ada Lovelace", "Europe/London")
    assert found["one@example.org"] == ("One Person", None)


def test_our_own_export_imports_back(engine: Engine, tmp_path: Path) -> None:

    store.add(engine, "a@example.org", name="=cmd", timezone="Asia/Tokyo")
    store.add(engine, "b@example.org")
    store.set_status(engine, "b@example.org", "bounced")
    store.add(engine, "c@example.org")
    with engine.begin() as conn:  # still to confirm: a row of an earlier release
        conn.execute(subscribers.update().where(subscribers.c.email_key == "c@example.org")
                     .values(status="pending"))
    exported = tmp_path / "export.csv"
    with exported.open("w", newline="", encoding="utf-8") as out:
        store.export_csv(engine, out)
    with engine.begin() as conn:  # as into a new database (forget would keep them out)
        conn.execute(subscribers.delete())
    report = store.import_csv(engine, exported)
    assert (report.added, report.problems, report.warnings) == (3, [], [])
    assert {s.email: (s.name, s.timezone, s.status) for s in store.listing(engine)} == {
        "a@example.org": ("=cmd", "Asia/Tokyo", "active"),
        "b@example.org": (None, None, "bounced"),
        "c@example.org": (None, None, "pending")}
    # A file that says "pending" never takes a reader who is here out of the list.
    report = store.import_csv(engine, exported)
    assert (report.unchanged, report.marked) == (3, 0)
    assert store.find(engine, "a@example.org").status == "active"  # type: ignore[union-attr]
    # One still to confirm whom a file lists as subscribed is taken at the file's word.
    vouched = tmp_path / "vouched.csv"
    vouched.write_text("email\nc@example.org\n")
    assert store.import_csv(engine, vouched).reactivated == 1
    assert store.find(engine, "c@example.org").status == "active"  # type: ignore[union-attr]


def test_a_file_that_says_a_reader_left_marks_them(engine: Engine) -> None:
    store.add(engine, "left@example.org")
    report = store.import_csv(engine, IMPORTS / "mailchimp_unsubscribed.csv")
    assert report.marked == 1 and statuses(engine) == {"left@example.org": "unsubscribed"}


def test_bad_rows_are_reported_at_their_true_line_and_the_rest_imported(
        engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    lines = [b"email,name,timezone,extra\n", b"ok1@example.org,One,,x\n",
             b"latin@example.org,Jos\xe9,,x\n",                          # 3: not UTF-8
             b'multi@example.org,"Two\nlines",,x\n',                     # 4-5: a quoted break
             b"long@example.org," + b"n" * 201 + b",,x\n",              # 6: name too long
             b"huge@example.org," + b"h" * 70_000 + b",,x\n",           # 7: a huge cell
             b"nul@example.org,N\x00L,,x\n",                             # 8: NUL
             b"tz@example.org,,Not/AZone,x\n",                           # 9: bad timezone
             b"ok2@example.org,Two,,x\n",                                # 10
             b"giant@example.org," + b"g" * 200_000 + b",,x\n",         # 11: past csv's own
             b"ok3@example.org,Three,,x\n"]                              # 12
    path.write_bytes(b"".join(lines))
    report = store.import_csv(engine, path)
    where = [p.split(": ", 1)[0].rsplit(":", 1)[1] for p in report.problems]
    assert where == ["3", "6", "7", "8", "11"], report.problems
    assert "not valid UTF-8" in report.problems[0]
    assert "name is 201 characters; the limit is 200" in report.problems[1]
    assert "the limit is 200" in report.problems[2] and "NUL" in report.problems[3]
    assert report.warnings == [  # a timezone we do not know: the reader comes, without it
        f"{path}:1: warning: column(s) not imported: extra",
        f"{path}:9: warning: unknown timezone 'Not/AZone'; imported without a timezone"]
    assert "field larger than field limit" in report.problems[4]  # the csv module's words
    assert set(statuses(engine)) == {"ok1@example.org", "multi@example.org",
                                     "tz@example.org", "ok2@example.org", "ok3@example.org"}
    assert store.find(engine, "tz@example.org").timezone is None  # type: ignore[union-attr]
    assert store.find(engine, "multi@example.org").name == "Two lines"  # type: ignore[union-attr]


def test_a_column_named_twice_is_an_error(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("email,Email Address\na@example.org,b@example.org\n")
    with pytest.raises(SubscriberError, match="twice.csv:1: the column 'email' is named more "
                                              "than once; keep one"):
        store.import_csv(engine, path)
    assert statuses(engine) == {}


@pytest.mark.parametrize("text", ["", "\n"])
def test_an_empty_file_is_one_line(engine: Engine, tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(text)
    with pytest.raises(SubscriberError, match="empty.csv:1: the file is empty"):
        store.import_csv(engine, path)


def test_an_unknown_status_is_a_row_problem(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("email,status\na@example.org,maybe\nb@example.org,subscribed\n")
    report = store.import_csv(engine, path)
    assert report.problems[0].startswith(f"{path}:2: unknown status 'maybe'")
    assert statuses(engine) == {"b@example.org": "active"}


@pytest.mark.parametrize("column", ["email", "name", "timezone", "status", "tags",
                                    "consent_source", "opt_in_ip", "created_at"])
def test_a_nul_in_any_imported_cell_refuses_its_row_alone(engine: Engine, tmp_path: Path,
                                                          column: str) -> None:
    """PostgreSQL's text refuses U+0000 (SQLite would keep it): the row is reported with
    its line, on both databases, and the rest imported."""
    columns = ["email", "name", "timezone", "status", "tags", "consent_source",
               "opt_in_ip", "created_at"]
    good = ["ok@example.org", "Ok", "Europe/Paris", "subscribed", "news", "form",
            "192.0.2.1", "2024-07-23 09:30:00"]
    bad = [cell.replace(cell[1], cell[1] + "\x00", 1) if name == column else cell
           for name, cell in zip(columns, good, strict=True)]
    bad[0] = bad[0].replace("ok@", "nul@")
    path = tmp_path / "people.csv"
    path.write_text("\n".join(",".join(row) for row in (columns, good, bad)) + "\n")
    report = store.import_csv(engine, path)
    assert report.problems == [f"{path}:3: {column}: contains a NUL character"]
    assert set(statuses(engine)) == {"ok@example.org"}
