"""The schema is Alembic's: new databases, databases of release 0.1, and newer ones."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Integer,
    column,
    create_engine,
    event,
    inspect,
    select,
    table,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from newsletter.errors import ConfigError
from newsletter.store import db, migrate
from newsletter.store import subscribers as store
from newsletter.store.ledger import Ledger
from tests.helpers import asked_and_confirmed
from tests.store import release_0_1


@pytest.fixture
def bare(engine: Engine) -> Iterator[Engine]:
    """The test database with nothing in it (the engine fixture's is already migrated)."""
    with engine.begin() as conn:
        db.metadata.drop_all(conn)  # every table the code knows, whatever revision added it
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        if engine.dialect.name == "postgresql":  # 0014's trigger functions outlive tables
            for name in conn.execute(text(
                    "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = "
                    "p.pronamespace WHERE n.nspname = current_schema() AND p.proname "
                    "LIKE 'newsletter%'")).scalars().all():
                conn.execute(text(f"DROP FUNCTION {name}()"))
    yield create_engine(engine.url)


def test_head_names_the_newest_script() -> None:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == migrate.HEAD


def test_a_new_database_is_at_the_head(engine: Engine) -> None:
    with engine.connect() as conn:
        assert migrate.current(conn) == migrate.HEAD
    assert migrate.migrate(engine) == migrate.HEAD  # a second run changes nothing


def test_the_tables_in_code_match_the_revisions(engine: Engine) -> None:
    # A column added to db.py without a revision (or the other way round) shows here.
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []


@pytest.mark.parametrize("version", [1, 2])
def test_a_release_0_1_database_upgrades_in_place(bare: Engine, version: int) -> None:
    release_0_1.make(bare, version)
    engine = db.connect(bare.url.render_as_string(hide_password=False))
    tables = inspect(engine)
    assert {"batch_id", "send_at"} <= {c["name"] for c in tables.get_columns("sends")}
    assert not tables.has_table("schema_version")
    with engine.connect() as conn:
        assert migrate.current(conn) == migrate.HEAD
        assert conn.execute(select(db.sends.c.issue, db.sends.c.planned)).all() == \
            [("2024-07-23", 1)]
    ann = store.find(engine, "ann@example.org")
    assert ann is not None and (ann.name, ann.status) == ("Ann", "active")


def test_a_newer_database_is_refused_and_left_alone(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(ConfigError, match="^the database is at schema revision 0099, newer "
                                          "than this newsletter knows: upgrade newsletter$"):
        migrate.migrate(engine)
    with engine.connect() as conn:
        assert migrate.current(conn) == "0099"


def test_a_newer_release_0_1_version_is_refused(bare: Engine) -> None:
    release_0_1.make(bare, 2)
    with bare.begin() as conn:
        conn.execute(text("UPDATE schema_version SET version = 7"))
    with pytest.raises(ConfigError, match="schema is version 7, newer than this newsletter"):
        migrate.migrate(bare)
    assert inspect(bare).has_table("schema_version")  # nothing was changed


def _to(engine: Engine, revision: str, *, down: bool = False) -> None:
    from alembic import command

    with engine.begin() as conn:
        config = migrate._config(conn)
        (command.downgrade if down else command.upgrade)(config, revision)


Row = tuple[str, int, int, str]  # a reader's row in deliveries: issue, reader, batch, state


def _put(conn: Connection, rows: list[Row]) -> None:
    conn.execute(text("INSERT INTO deliveries (issue, subscriber_id, batch, state) "
                      "VALUES (:i, :s, :b, :t)"),
                 [{"i": i, "s": s, "b": b, "t": t} for i, s, b, t in rows])


def _stored(engine: Engine) -> list[Row]:
    with engine.connect() as conn:
        return [(r.issue, r.subscriber_id, r.batch, r.state) for r in conn.execute(text(
            "SELECT issue, subscriber_id, batch, state FROM deliveries "
            "ORDER BY subscriber_id"))]


def test_a_send_in_progress_keeps_every_row_across_revision_0008(bare: Engine) -> None:
    # 0008 rebuilds the ledger's rows in batch order; a send half done must come through
    # whole, in either direction, and resume where it was.
    _to(bare, "0007")
    rows = [("2024-07-23", sid, sid // 2, "pending" if sid > 3 else "skipped")
            for sid in range(1, 8)]
    with bare.begin() as conn:
        _put(conn, rows)

    _to(bare, "0008")
    assert _stored(bare) == rows
    names = {index["name"] for index in inspect(bare).get_indexes("deliveries")}
    assert names == set()
    assert inspect(bare).get_pk_constraint("deliveries")["constrained_columns"] == \
        ["issue", "batch", "subscriber_id"]
    if bare.dialect.name == "sqlite":  # the key is the table: one b-tree, not three
        with bare.connect() as conn:
            made = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = "
                                     "'deliveries'")).scalar_one()
        assert "WITHOUT ROWID" in made.upper()
    else:
        assert inspect(bare).get_pk_constraint("deliveries")["name"] == "deliveries_pkey"
    # A batch settled under 0008 counts what it reached; going back, the send's one
    # number takes it over, so status says the same under either revision.
    with bare.begin() as conn:
        conn.execute(text("INSERT INTO sends (issue, transport, batch_size, planned, "
                          "created_at, sent_count) VALUES ('2024-07-23', 'outbox', 2, 12, "
                          "CURRENT_TIMESTAMP, 3)"))
        conn.execute(text("INSERT INTO batches (issue, number, state, size, attempts, "
                          "reached) VALUES ('2024-07-23', 9, 'sent', 2, 1, 2)"))
    _to(bare, "0007", down=True)
    assert _stored(bare) == rows
    with bare.connect() as conn:
        assert conn.execute(text("SELECT sent_count FROM sends")).scalar_one() == 5
    assert inspect(bare).get_pk_constraint("deliveries")["constrained_columns"] == \
        ["issue", "subscriber_id"]
    _to(bare, "0008")
    assert _stored(bare) == rows


def test_a_send_in_progress_moves_onto_its_batches_at_revision_0009(bare: Engine) -> None:
    # 0009 keeps the readers a batch has yet to reach on the batch's row. A send half
    # done (batch 0 sent, 1 held back part-way, 2 uncertain, 3 not yet gone) comes
    # through in either direction, and resumes where it was.
    _to(bare, "0008")
    states = {0: "sent", 1: "failed", 2: "uncertain", 3: "pending"}
    rows = [("2024-07-23", 1, 0, "skipped"), ("2024-07-23", 2, 1, "pending"),
            ("2024-07-23", 3, 1, "pending"), ("2024-07-23", 4, 2, "uncertain"),
            ("2024-07-23", 5, 2, "uncertain"), ("2024-07-23", 6, 3, "pending"),
            ("2024-07-23", 7, 3, "pending"), ("2024-07-24", 8, 0, "pending")]
    with bare.begin() as conn:
        conn.execute(text(
            "INSERT INTO subscribers (id, email, email_key, status, created_at, updated_at) "
            "VALUES (:i, :e, :e, 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
            [{"i": i, "e": f"r{i}@example.org"} for i in range(1, 9)])
        conn.execute(text("INSERT INTO sends (issue, transport, batch_size, planned, "
                          "created_at) VALUES ('2024-07-23', 'outbox', 2, 8, "
                          "CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO batches (issue, number, state, size, attempts, "
                          "reached) VALUES ('2024-07-23', :n, :s, 2, 1, :r)"),
                     [{"n": n, "s": s, "r": 1 if n == 0 else None} for n, s in states.items()])
        _put(conn, rows)

    _to(bare, "0009")
    # The skipped reader keeps a row; so does the one whose batch row is missing (no
    # ledger makes that, and a revision loses nothing it cannot place).
    assert _stored(bare) == [rows[0], rows[-1]]
    with bare.connect() as conn:
        lists = conn.execute(text("SELECT number, waiting, readers FROM batches "
                                  "ORDER BY number")).all()
    assert [tuple(r) for r in lists] == [(0, None, None), (1, 2, ",2,3,"), (2, 2, ",4,5,"),
                                         (3, 2, ",6,7,")]
    ledger = Ledger(bare, "2024-07-23")
    assert ledger.status().counts == {"pending": 4, "sent": 1, "skipped": 1, "failed": 0,
                                      "uncertain": 2}
    _to(bare, "0008", down=True)
    assert _stored(bare) == rows
    _to(bare, "head")
    assert ledger.release_uncertain() == 2 and ledger.release_failed() == 2
    assert [[r.id for r in ledger.claim(n)] for n in (1, 2, 3)] == [[2, 3], [4, 5], [6, 7]]


def test_readers_on_file_keep_their_links_across_revision_0010(bare: Engine) -> None:
    # 0010 gives every reader a random link key. Readers on file keep the links of the
    # kinds made before (by row number, or the address), for them alone; a send in
    # progress comes through and resumes; the revision goes down and up again.
    import hashlib
    import hmac
    import struct

    from newsletter import tokens

    secret = b"s" * 32
    _to(bare, "0009")
    with bare.begin() as conn:
        conn.execute(text(
            "INSERT INTO subscribers (id, email, email_key, status, created_at, updated_at) "
            "VALUES (:i, :e, :e, 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
            [{"i": i, "e": f"r{i}@example.org"} for i in range(1, 6)])
        conn.execute(text("INSERT INTO sends (issue, transport, batch_size, planned, "
                          "created_at) VALUES ('2024-07-23', 'outbox', 5, 5, "
                          "CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO batches (issue, number, state, size, attempts, "
                          "readers, waiting) VALUES ('2024-07-23', 0, 'pending', 5, 0, "
                          "',1,2,3,4,5,', 5)"))
    raw = struct.pack(">cQH", b"u", 3, 2000)
    v3 = "v3.{}.{}".format(*(tokens._b64(part) for part in (
        raw, hmac.digest(secret, b"v3" + raw[1:], hashlib.sha256)[:16])))
    first_kind = tokens.sign(secret, "r4@example.org")

    _to(bare, "0010")
    with bare.connect() as conn:
        keys = [r.link_key for r in conn.execute(text("SELECT link_key FROM subscribers"))]
    assert len(set(keys)) == 5 and all(len(k) == 32 and int(k, 16) >= 0 for k in keys)
    _to(bare, "head")  # what follows is today's code, on today's tables
    assert store.find_by_link(bare, secret, v3).email == "r3@example.org"  # type: ignore[union-attr]
    assert store.find_by_link(bare, secret, first_kind).email == "r4@example.org"  # type: ignore[union-attr]
    _to(bare, "head")  # erasing is today's code, over today's tables (welcomes, 0013)
    # The number and the address given to someone new: the old links are not theirs.
    store.forget(bare, "r3@example.org")
    store.forget(bare, "r4@example.org")
    newcomer = asked_and_confirmed(bare, "r4@example.org")
    assert newcomer.id == 6  # numbers are never given out again
    assert store.find_by_link(bare, secret, v3) is None
    assert store.find_by_link(bare, secret, first_kind) is None
    ledger = Ledger(bare, "2024-07-23")
    assert [r.id for r in ledger.claim(0)] == [1, 2, 5]
    _to(bare, "0009", down=True)
    _to(bare, "head")
    with bare.connect() as conn:
        assert conn.execute(text("SELECT count(DISTINCT link_key) FROM subscribers")
                            ).scalar() == 4


# SendGrid's words as rows stored them before 0011 -> our kind and detail after it.
OLD_EVENTS = [
    ("processed", "accepted", None), ("delivered", "delivered", None),
    ("deferred", "deferred", None), ("bounce", "bounced", "hard"),
    ("blocked", "bounced", "soft"), ("dropped", "dropped", None),
    ("spamreport", "complained", None), ("unsubscribe", "unsubscribed", None),
    ("group_unsubscribe", "unsubscribed", None), ("open", "opened", None),
    ("click", "clicked", None),
]


def _readers(conn: Connection, ids: Iterable[int]) -> None:
    """Active readers of these ids, ``r{id}@example.org``, as raw rows (any revision)."""
    conn.execute(text(
        "INSERT INTO subscribers (id, email, email_key, status, created_at, updated_at, "
        "link_key) VALUES (:i, :e, :e, 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :k)"),
        [{"i": i, "e": f"r{i}@example.org", "k": f"{i:032x}"} for i in ids])


def _send(conn: Connection, planned: int) -> None:
    """The send of 2024-07-23 through the outbox, 3 a batch, as a raw row."""
    conn.execute(text("INSERT INTO sends (issue, transport, batch_size, planned, created_at) "
                      "VALUES ('2024-07-23', 'outbox', 3, :planned, CURRENT_TIMESTAMP)"),
                 {"planned": planned})


def _kinds(engine: Engine, columns: str = "kind") -> list[tuple[str, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT id, {columns} FROM events "
                                                     "ORDER BY id"))]


def test_events_are_told_in_our_words_across_revision_0011(bare: Engine) -> None:
    from newsletter.store import events

    _to(bare, "0010")
    rows = [*OLD_EVENTS, ("group_resubscribe", None, None), ("something_new", None, None)]
    with bare.begin() as conn:
        conn.execute(text("INSERT INTO events (id, issue, kind, happened_at, received_at) "
                          "VALUES (:i, '2024-07-23', :k, NULL, CURRENT_TIMESTAMP)"),
                     [{"i": f"e{n:02}", "k": old} for n, (old, _, _) in enumerate(rows)])
    _to(bare, "0011")
    assert _kinds(bare, "kind, detail, reason, url") == [
        (f"e{n:02}", kind, detail, None, None)
        for n, (_, kind, detail) in enumerate(OLD_EVENTS)]  # the two unknown words are gone
    _to(bare, "head")  # 0014 counts the events kept so far: what counts() reads
    assert events.counts(bare, "2024-07-23") == {
        "accepted": 1, "delivered": 1, "deferred": 1, "bounced": 2, "dropped": 1,
        "complained": 1, "unsubscribed": 2, "opened": 1, "clicked": 1}
    # Recorded after the upgrade, with what more it says; then down, and up again.
    store.add(bare, "ann@example.org")
    events.record(bare, [events.Event("e99", events.Kind.CLICKED, "ann@example.org",
                                      "2024-07-23", None, url="https://example.org/a")])
    _to(bare, "0010", down=True)
    back = dict(_kinds(bare))
    assert [back[f"e{n:02}"] for n in range(len(OLD_EVENTS))] == \
        [old if old != "group_unsubscribe" else "unsubscribe" for old, _, _ in OLD_EVENTS]
    assert back[events.key("e99")] == "click"
    assert "url" not in {c["name"] for c in inspect(bare).get_columns("events")}
    _to(bare, "head")
    assert dict(_kinds(bare))["e03"] == "bounced" and dict(_kinds(bare))["e04"] == "bounced"
    with bare.connect() as conn:
        assert conn.execute(text("SELECT detail FROM events WHERE id = 'e04'")).scalar() \
            == "soft"


def test_a_send_half_done_under_0011_resumes_after_revision_0012(bare: Engine) -> None:
    # 0012 moves each batch's readers from the text ",12,15,19," to batch_readers rows.
    # A send planned under 0011 with 3 a batch, half done (batch 0 sent; 1 held two
    # readers back after reaching one; 2 uncertain; 3 and 4 not yet gone), comes through
    # down and up again, and then resumes: every planned reader is reached once, none
    # twice, none passed over; an uncertain batch only when asked.
    _to(bare, "0011")
    lists = {0: None, 1: ",5,6,", 2: ",7,8,9,", 3: ",10,11,12,", 4: ",13,"}
    states = {0: "sent", 1: "failed", 2: "uncertain", 3: "pending", 4: "pending"}
    reached = {0: 3, 1: 1}
    with bare.begin() as conn:
        _readers(conn, range(1, 14))
        _send(conn, planned=13)
        conn.execute(text("INSERT INTO batches (issue, number, state, size, attempts, "
                          "reached, readers, waiting) VALUES ('2024-07-23', :n, :s, :z, 1, "
                          ":r, :l, :w)"),
                     [{"n": n, "s": states[n], "z": 1 if n == 4 else 3, "r": reached.get(n),
                       "l": lists[n], "w": lists[n].count(",") - 1 if lists[n] else 0}
                      for n in lists])
    before = Ledger(bare, "2024-07-23")

    def kept() -> list[tuple[int, int]]:
        with bare.connect() as conn:
            return [tuple(r) for r in conn.execute(text(  # type: ignore[misc]
                "SELECT number, subscriber_id FROM batch_readers ORDER BY 1, 2"))]

    _to(bare, "0012")
    expected = [(n, int(sid)) for n, ids in lists.items() if ids
                for sid in ids.strip(",").split(",")]
    assert kept() == expected
    assert "readers" not in {c["name"] for c in inspect(bare).get_columns("batches")}
    counts = before.status().counts
    assert counts == {"pending": 6, "sent": 4, "skipped": 0, "failed": 0, "uncertain": 3}
    _to(bare, "0011", down=True)
    with bare.connect() as conn:
        assert dict(conn.execute(text("SELECT number, readers FROM batches"))
                    .all()) == lists  # type: ignore[arg-type]
    _to(bare, "0012")
    assert kept() == expected

    _to(bare, "head")  # and on through 0016, which puts the lists back on the batches
    assert _listed(bare) == expected
    _resume_to_the_end(bare, [5, 6, 10, 11, 12, 13])


def test_welcomes_come_and_go_with_revision_0013(bare: Engine) -> None:
    # 0013 adds the welcomes table, and nothing else. A send planned under 0012 (its
    # readers as batch_readers rows) and the readers on file come through down and up
    # again; the welcomes kept meanwhile go with their table, and today's code queues new
    # ones on the table the revision makes again.
    import datetime as dt

    from newsletter.store import welcomes

    _to(bare, "0012")
    assert not inspect(bare).has_table("welcomes")
    with bare.begin() as conn:
        _readers(conn, range(1, 4))
        _send(conn, planned=3)
        conn.execute(text("INSERT INTO batches (issue, number, state, size, attempts, "
                          "waiting) VALUES ('2024-07-23', 0, 'pending', 3, 0, 3)"))
        conn.execute(text("INSERT INTO batch_readers (issue, number, subscriber_id) "
                          "VALUES ('2024-07-23', 0, :s)"), [{"s": s} for s in (1, 2, 3)])
    on_file = [(i, f"r{i}@example.org", "active") for i in range(1, 4)]

    def readers() -> list[tuple[int, str, str]]:
        with bare.connect() as conn:
            return [(int(i), e, s) for i, e, s in conn.execute(text(
                "SELECT id, email, status FROM subscribers ORDER BY id"))]

    def listed() -> list[tuple[int, int]]:
        with bare.connect() as conn:
            return [(int(n), int(s)) for n, s in conn.execute(text(
                "SELECT number, subscriber_id FROM batch_readers ORDER BY 1, 2"))]

    _to(bare, "0013")
    with bare.begin() as conn:
        conn.execute(text("INSERT INTO welcomes (subscriber_id, state, attempts, queued_at, "
                          "sent_at) VALUES (:s, :t, :a, :at, :sent)"),
                     [{"s": 1, "t": "sent", "a": 1, "at": "2024-07-22 06:00:00+00:00",
                       "sent": "2024-07-22 06:01:00+00:00"},
                      {"s": 2, "t": "queued", "a": 0, "at": "2024-07-22 07:00:00+00:00",
                       "sent": None}])
    assert readers() == on_file and listed() == [(0, 1), (0, 2), (0, 3)]
    _to(bare, "0012", down=True)
    assert not inspect(bare).has_table("welcomes")
    assert readers() == on_file and listed() == [(0, 1), (0, 2), (0, 3)]
    _to(bare, "0013")
    with bare.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM welcomes")).scalar_one() == 0

    _to(bare, "head")
    # The welcomes, sent or queued, went with their table (and with it the record that
    # reader 1 had theirs); today's code queues and claims on the table made anew.
    assert welcomes.state(bare, 1) is None and welcomes.state(bare, 2) is None
    at = dt.datetime(2024, 7, 23, 6, tzinfo=dt.UTC)
    with bare.begin() as conn:
        welcomes.queue(conn, 2, at)
    assert welcomes.claim(bare, at) == 2 and welcomes.state(bare, 2) == "mailing"
    assert [r.id for r in Ledger(bare, "2024-07-23").claim(0)] == [1, 2, 3]


def _triggers(engine: Engine) -> list[str]:
    """The triggers and trigger functions the database holds (PostgreSQL: in the test's
    schema)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return list(conn.execute(text("SELECT name FROM sqlite_master WHERE type = "
                                          "'trigger' ORDER BY name")).scalars())
        return list(conn.execute(text(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal "
            "AND n.nspname = current_schema() UNION ALL "
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = current_schema() AND p.proname LIKE 'newsletter%' "
            "ORDER BY 1")).scalars())


def _moves(engine: Engine) -> list[tuple[str, str, str, int]]:
    """reader_moves (revision 0014 on), by the states moved between, then the hour."""
    with engine.connect() as conn:
        return sorted(((h, f, t, int(n)) for h, f, t, n in conn.execute(text(
            "SELECT hour, from_state, to_state, count FROM reader_moves"))),
            key=lambda row: (row[1], row[2], row[0]))


def _counted(engine: Engine) -> list[tuple[str, str, str, str, str | None, int]]:
    """event_counts (revision 0014 on), every row, sorted."""
    with engine.connect() as conn:
        return sorted((i, k, d, li, u, int(n)) for i, k, d, li, u, n in conn.execute(text(
            "SELECT issue, kind, detail, link, url, count FROM event_counts")))


def test_counts_and_reader_moves_come_and_go_with_revision_0014(bare: Engine) -> None:
    # 0014 counts the events kept so far into event_counts (a click by the SHA-256 of
    # its URL), and adds health_overrides and reader_moves with the triggers that keep
    # it. Down again, every table and trigger it made is gone and the rows of 0013 are
    # as they were (a reader's move, which fired the triggers, still works); up again,
    # the counts are made anew from the events, and the triggers count again.
    import hashlib

    from newsletter.store import events

    def sha(url: str) -> str:
        return hashlib.sha256(url.encode()).hexdigest()

    a, b = "https://example.org/a", "https://example.org/b"
    _to(bare, "0013")
    with bare.begin() as conn:
        _readers(conn, range(1, 4))
        conn.execute(text("INSERT INTO welcomes (subscriber_id, state, attempts, queued_at) "
                          "VALUES (1, 'queued', 0, :at)"), {"at": "2024-07-22 06:00:00+00:00"})
        conn.execute(text("INSERT INTO events (id, issue, kind, detail, url, happened_at, "
                          "received_at) VALUES (:i, :issue, :k, :d, :u, NULL, "
                          "CURRENT_TIMESTAMP)"),
                     [{"i": f"e{n}", "issue": issue, "k": k, "d": d, "u": u}
                      for n, (issue, k, d, u) in enumerate([
                          ("2024-07-23", "clicked", None, a), ("2024-07-23", "clicked", None, a),
                          ("2024-07-23", "clicked", None, b),
                          ("2024-07-23", "opened", "person", None),
                          ("2024-07-23", "opened", "person", None),
                          ("2024-07-23", "opened", "machine", None),
                          ("2024-07-23", "delivered", None, None),
                          (None, "bounced", "hard", None)])])  # no issue: not counted
    counted = sorted([("2024-07-23", "clicked", "", sha(a), a, 2),
                      ("2024-07-23", "clicked", "", sha(b), b, 1),
                      ("2024-07-23", "delivered", "", "", None, 1),
                      ("2024-07-23", "opened", "machine", "", None, 1),
                      ("2024-07-23", "opened", "person", "", None, 2)])
    assert _triggers(bare) == []

    _to(bare, "0014")
    assert _counted(bare) == counted
    assert _moves(bare) == []  # the readers on file are not counted: only moves from now
    made = ["reader_moves_added", "reader_moves_asked", "reader_moves_erased",
            "reader_moves_moved"]
    if bare.dialect.name == "postgresql":  # a trigger and its function, each
        made = sorted([*made, *(f"newsletter_{name}" for name in made)])
    assert _triggers(bare) == made
    with bare.begin() as conn:
        conn.execute(text("UPDATE subscribers SET status = 'unsubscribed', updated_at = :at "
                          "WHERE id = 2"), {"at": "2024-07-24 08:30:00+00:00"})
        conn.execute(text(
            "INSERT INTO subscribers (id, email, email_key, status, created_at, updated_at, "
            "link_key) VALUES (4, 'r4@example.org', 'r4@example.org', 'pending', :at, :at, "
            ":k)"), {"at": "2024-07-24 09:00:00+00:00", "k": f"{4:032x}"})
        conn.execute(text("DELETE FROM subscribers WHERE id = 3"))
        conn.execute(text("INSERT INTO signups (key, email, email_key, source, state, "
                          "requested_at) VALUES (:k, 'r5@example.org', 'r5@example.org', "
                          "'form', 'queued', :at)"),
                     {"k": f"{5:032x}", "at": "2024-07-24 10:05:00+00:00"})
        conn.execute(text("INSERT INTO health_overrides (issue, at, by, reason, figures) "
                          "VALUES ('2024-07-23', :at, 'ann', 'a test', '{}')"),
                     {"at": "2024-07-24 11:00:00+00:00"})
    moved = _moves(bare)
    erased = [row for row in moved if row[2] == "erased"]
    assert [row[1:] for row in erased] == [("active", "erased", 1)]  # at the database's clock
    assert [row for row in moved if row not in erased] == [
        ("2024-07-24T08", "active", "unsubscribed", 1),
        ("2024-07-24T09", "new", "pending", 1),
        ("2024-07-24T10", "new", "requested", 1)]

    _to(bare, "0013", down=True)
    tables = set(inspect(bare).get_table_names())
    assert not {"event_counts", "health_overrides", "reader_moves"} & tables
    assert _triggers(bare) == []
    with bare.begin() as conn:  # a move that fired the triggers: nothing left to fire
        conn.execute(text("UPDATE subscribers SET status = 'active', updated_at = :at "
                          "WHERE id = 4"), {"at": "2024-07-25 06:00:00+00:00"})
    with bare.connect() as conn:
        assert conn.execute(text("SELECT id, status FROM subscribers ORDER BY id")).all() == \
            [(1, "active"), (2, "unsubscribed"), (4, "active")]
        assert conn.execute(text("SELECT subscriber_id, state FROM welcomes")).all() == \
            [(1, "queued")]
        assert conn.execute(text("SELECT COUNT(*) FROM events")).scalar_one() == 8
        assert conn.execute(text("SELECT COUNT(*) FROM signups")).scalar_one() == 1

    _to(bare, "0014")
    assert _counted(bare) == counted  # counted again from the events, not twice
    assert _moves(bare) == []
    with bare.begin() as conn:
        conn.execute(text("UPDATE subscribers SET status = 'bounced', updated_at = :at "
                          "WHERE id = 1"), {"at": "2024-07-25 07:10:00+00:00"})
    assert _moves(bare) == [("2024-07-25T07", "active", "bounced", 1)]
    _to(bare, "head")
    assert events.counts(bare, "2024-07-23") == {"clicked": 3, "opened": 3, "delivered": 1}


def test_synced_statistics_come_and_go_with_revision_0015(bare: Engine) -> None:
    _to(bare, "0014")
    assert not inspect(bare).has_table("synced_counts")
    _to(bare, "0015")
    with bare.begin() as conn:
        conn.execute(text("INSERT INTO synced_counts (issue, provider, kind, detail, count, "
                          "synced_at) VALUES ('2024-07-23', 'one', 'delivered', '', 7, "
                          ":at)"), {"at": "2024-07-24 06:00:00+00:00"})
        conn.execute(text("INSERT INTO event_counts (issue, kind, detail, link, count) "
                          "VALUES ('2024-07-23', 'opened', 'person', '', 3)"))
    _to(bare, "0014", down=True)
    assert not inspect(bare).has_table("synced_counts")
    with bare.connect() as conn:  # what 0014 keeps is left as it was
        assert conn.execute(text("SELECT count FROM event_counts")).scalar_one() == 3
    _to(bare, "head")
    assert inspect(bare).has_table("synced_counts")
    with bare.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM synced_counts")).scalar_one() == 0


# A batch's list as revisions 0016 and 0017 keep it: integer[] on PostgreSQL, JSON on
# SQLite (0018 on: bytes, db.READER_IDS).
TYPED = JSON(none_as_null=True).with_variant(postgresql.ARRAY(Integer), "postgresql")


def _listed(engine: Engine, kind: TypeEngine[Any] = db.READER_IDS) -> list[tuple[int, int]]:
    """(batch, reader) for every id on a batch's list (revision 0016 on), read as
    ``kind``."""
    batches = table("batches", column("number", Integer), column("readers", kind))
    with engine.connect() as conn:
        return sorted((number, sid) for number, ids in conn.execute(
            select(batches.c.number, batches.c.readers)) for sid in ids or ())


def test_a_send_half_done_under_0015_resumes_after_revision_0016(bare: Engine) -> None:
    # 0016 moves each batch's readers from batch_readers rows to a typed list on the
    # batch (integer[] on PostgreSQL, a JSON array on SQLite). A send planned under 0015
    # with 3 a batch, half done (0 sent; 1 held two readers back after reaching one; 2
    # uncertain; 3 and 4 not yet gone), comes through up, down and up again, and then
    # resumes: every planned reader reached once, none twice, none passed over; the
    # uncertain batch only when asked; a reader erased meanwhile is off the list.
    _to(bare, "0015")
    lists = {0: [], 1: [5, 6], 2: [7, 8, 9], 3: [10, 11, 12], 4: [13]}
    states = {0: "sent", 1: "failed", 2: "uncertain", 3: "pending", 4: "pending"}
    reached = {0: 3, 1: 1}
    expected = [(n, sid) for n, ids in lists.items() for sid in ids]
    with bare.begin() as conn:
        _readers(conn, range(1, 14))
        _send(conn, planned=13)
        conn.execute(text("INSERT INTO batches (issue, number, state, size, attempts, "
                          "reached, waiting) VALUES ('2024-07-23', :n, :s, :z, 1, :r, :w)"),
                     [{"n": n, "s": states[n], "z": 1 if n == 4 else 3, "r": reached.get(n),
                       "w": len(lists[n])} for n in lists])
        conn.execute(text("INSERT INTO batch_readers (issue, number, subscriber_id) "
                          "VALUES ('2024-07-23', :n, :s)"),
                     [{"n": n, "s": sid} for n, sid in reversed(expected)])

    def rows() -> list[tuple[int, int]]:
        with bare.connect() as conn:
            return [(int(n), int(s)) for n, s in conn.execute(text(
                "SELECT number, subscriber_id FROM batch_readers ORDER BY 1, 2"))]

    _to(bare, "0016")
    assert _listed(bare, TYPED) == expected
    assert not inspect(bare).has_table("batch_readers")
    assert Ledger(bare, "2024-07-23").status().counts == \
        {"pending": 6, "sent": 4, "skipped": 0, "failed": 0, "uncertain": 3}
    _to(bare, "0015", down=True)
    assert rows() == expected
    assert "readers" not in {c["name"] for c in inspect(bare).get_columns("batches")}
    _to(bare, "head")
    assert _listed(bare) == expected

    store.forget(bare, "r11@example.org")  # erased mid-send: off batch 3's list
    assert _listed(bare) == [pair for pair in expected if pair != (3, 11)]
    _resume_to_the_end(bare, [5, 6, 10, 12, 13])


def test_reader_activity_comes_and_goes_with_revision_0017(bare: Engine) -> None:
    _to(bare, "0016")
    assert not inspect(bare).has_table("reader_activity")
    _to(bare, "0017")
    with bare.begin() as conn:
        conn.execute(text("INSERT INTO reader_activity (subscriber_id, issue, kind, detail, "
                          "url, happened_at) VALUES (7, '2024-07-23', 'clicked', 'person', "
                          "'https://example.org/a', :at)"), {"at": "2024-07-24 06:00:00+00:00"})
        conn.execute(text("INSERT INTO synced_counts (issue, provider, kind, detail, count, "
                          "synced_at) VALUES ('2024-07-23', 'one', 'delivered', '', 7, "
                          ":at)"), {"at": "2024-07-24 06:00:00+00:00"})
    _to(bare, "0016", down=True)
    assert not inspect(bare).has_table("reader_activity")
    with bare.connect() as conn:  # what 0016 keeps is left as it was
        assert conn.execute(text("SELECT count FROM synced_counts")).scalar_one() == 7
    _to(bare, "head")
    with bare.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM reader_activity")).scalar_one() == 0


def test_a_send_half_done_under_0017_resumes_after_revision_0018(bare: Engine) -> None:
    # 0018 keeps each batch's list as bytes (distances between ids as varints) in place
    # of 0016's integer[] or JSON. A send half done under 0017 (0 sent; 1 held two
    # readers back after reaching one; 2 uncertain; 3 and 4 not yet gone; 3's ids far
    # apart, so that its distances take more than a byte) comes through up, down and up
    # again, and then resumes: every planned reader reached once, none twice, none
    # passed over; the uncertain batch only when asked; a reader erased meanwhile is
    # off the list.
    _to(bare, "0017")
    far = [10, 300, 70_000]
    lists = {0: [], 1: [5, 6], 2: [7, 8, 9], 3: far, 4: [13]}
    states = {0: "sent", 1: "failed", 2: "uncertain", 3: "pending", 4: "pending"}
    reached = {0: 3, 1: 1}
    expected = sorted((n, sid) for n, ids in lists.items() for sid in ids)
    batches = table("batches", *(column(name) for name in (
        "issue", "number", "state", "size", "attempts", "reached", "waiting")),
        column("readers", TYPED))
    with bare.begin() as conn:
        _readers(conn, [*range(1, 10), *far, 13])
        _send(conn, planned=13)
        conn.execute(batches.insert(), [
            {"issue": "2024-07-23", "number": n, "state": states[n],
             "size": 1 if n == 4 else 3, "attempts": 1, "reached": reached.get(n),
             "waiting": len(lists[n]), "readers": lists[n] or None} for n in lists])

    _to(bare, "0018")
    assert _listed(bare) == expected
    with bare.connect() as conn:  # bytes on both databases, about one an id
        stored = dict(conn.execute(text("SELECT number, readers FROM batches")).all())
    assert stored[0] is None and bytes(stored[2]) == b"\x01\x07\x01\x01"
    assert bytes(stored[3]) == db.encode_ids(far) == b"\x01\x0a\xa2\x02\xc4\xa0\x04"  # 1+1+2+3
    assert db.decode_ids(bytes(stored[3])) == far
    assert Ledger(bare, "2024-07-23").status().counts == \
        {"pending": 6, "sent": 4, "skipped": 0, "failed": 0, "uncertain": 3}
    _to(bare, "0017", down=True)
    assert _listed(bare, TYPED) == expected
    _to(bare, "head")
    assert _listed(bare) == expected

    store.forget(bare, "r300@example.org")  # erased mid-send: off batch 3's list
    assert _listed(bare) == [pair for pair in expected if pair != (3, 300)]
    _resume_to_the_end(bare, [5, 6, 10, 70_000, 13])


def _resume_to_the_end(bare: Engine, pending: list[int]) -> None:
    """The send planned half done under an older revision (batches 0 sent, 1 failed
    after reaching one, 2 uncertain, 3 and 4 pending) resumed on today's code: the
    ``pending`` readers reached once each, the uncertain batch only when asked, and no
    list left behind."""
    ledger = Ledger(bare, "2024-07-23")
    assert ledger.release_failed() == 2
    assert ledger.pending_batches() == [1, 3, 4]
    sent = [r.id for n in ledger.pending_batches() for r in ledger.claim(n)]
    assert sent == pending
    for n in (1, 3, 4):
        ledger.settle(n, None, {})
    assert ledger.status().counts["pending"] == 0 and not ledger.finish_if_done()
    assert ledger.release_uncertain() == 3  # --resend-uncertain
    assert [r.id for r in ledger.claim(2)] == [7, 8, 9]
    assert ledger.settle(2, None, {}) == 3 and ledger.finish_if_done()
    assert ledger.status().counts == {"pending": 0, "sent": len(pending) + 7, "skipped": 0,
                                      "failed": 0, "uncertain": 0}
    assert _listed(bare) == []


class _Killed(Exception):
    """Stands for the process dying in the middle of a revision."""


def test_revision_0018_stopped_before_its_lists_are_written_runs_again(bare: Engine) -> None:
    # The upgrade reads the lists, changes the column's type (SQLite: a copy of the
    # table), then writes the lists back as bytes. Stopped between the last two, it leaves
    # the database as it found it (one transaction, SQLite's DDL too), so the next open
    # runs it again from the start; an empty list becomes NULL.
    _to(bare, "0017")
    batches = table("batches", *(column(name) for name in (
        "issue", "number", "state", "size", "attempts", "waiting")), column("readers", TYPED))
    with bare.begin() as conn:
        _send(conn, planned=3)
        conn.execute(batches.insert(), [
            {"issue": "2024-07-23", "number": n, "state": "pending", "size": 3,
             "attempts": 0, "waiting": len(ids), "readers": ids}
            for n, ids in [(0, [7, 8, 9]), (1, [])]])

    def kill(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("UPDATE batches SET readers"):
            raise _Killed

    event.listen(bare, "before_cursor_execute", kill)
    with pytest.raises(_Killed):
        migrate.migrate(bare)
    event.remove(bare, "before_cursor_execute", kill)
    with bare.connect() as conn:
        assert migrate.current(conn) == "0017"
        assert not [name for name in inspect(conn).get_table_names() if "tmp" in name]
    assert _listed(bare, TYPED) == [(0, 7), (0, 8), (0, 9)]
    assert migrate.migrate(bare) == migrate.HEAD
    assert _listed(bare) == [(0, 7), (0, 8), (0, 9)]
    with bare.connect() as conn:
        assert conn.execute(text("SELECT readers FROM batches WHERE number = 1")) \
            .scalar_one() is None


@pytest.mark.parametrize("ids", [[3, 3], [-1, 4]])
def test_revision_0018_refuses_a_list_it_cannot_write(bare: Engine, ids: list[int]) -> None:
    # No guess is written: the database stays at 0017, and the error names the batch.
    _to(bare, "0017")
    batches = table("batches", *(column(name) for name in (
        "issue", "number", "state", "size", "attempts", "waiting")), column("readers", TYPED))
    with bare.begin() as conn:
        _send(conn, planned=2)
        conn.execute(batches.insert().values(issue="2024-07-23", number=5, state="pending",
                                             size=2, attempts=0, waiting=2, readers=ids))
    with pytest.raises(ValueError, match=r"^revision 0018: batch 5 of issue 2024-07-23 has "
                       r"readers \[.*\], not a list of distinct reader ids"):
        migrate.migrate(bare)
    with bare.connect() as conn:
        assert migrate.current(conn) == "0017"
    assert _listed(bare, TYPED) == sorted((5, i) for i in ids)


def test_four_processes_opening_an_empty_database_at_once_all_get_the_head(
        bare: Engine) -> None:
    # `serve --workers 4` on a new database: every worker opens (and migrates) it at the
    # same instant. One upgrades, the others wait for it and find the head; none fails
    # (on PostgreSQL three of four died of a duplicate alembic_version before the lock).
    import subprocess
    import sys
    import time

    url = bare.url.render_as_string(hide_password=False)
    at = time.time() + 3  # the same instant for all four, once each has imported
    code = ("import sys, time\nfrom newsletter.store import db, migrate\n"
            f"time.sleep(max(0.0, {at} - time.time()))\n"
            "print(migrate.migrate(db.connect(sys.argv[1])))")
    workers = [subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(4)]
    answers = [worker.communicate(timeout=120) for worker in workers]
    assert [(worker.returncode, out.strip()) for worker, (out, _) in zip(
        workers, answers, strict=True)] == [(0, migrate.HEAD)] * 4, answers
    with bare.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == \
            [(migrate.HEAD,)]


def test_every_revision_goes_down_and_up_again_with_readers_and_a_send(bare: Engine) -> None:
    # A database with a few readers and a send planned but not begun walks down one
    # revision at a time to the first, then up one at a time to the head: no step raises,
    # and at each one the readers and the send are still on file. At the head, today's
    # code finds them and resumes the send. Last, down to the base (every table dropped:
    # no row can survive that) and up from nothing to the tables db.py describes.
    from newsletter.store.ledger import Content, Lease

    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    revisions = [script.revision for script in
                 ScriptDirectory.from_config(config).walk_revisions()]  # the head first
    assert revisions[0] == migrate.HEAD and revisions[-1] == "0001"
    _to(bare, "head")
    for address, name in [("ann@example.org", "Ann"), ("bob@example.org", "Bob"),
                          ("cy@example.org", None)]:
        store.add(bare, address, name=name)
    store.set_status(bare, "cy@example.org", "unsubscribed")
    ledger = Ledger(bare, "2024-07-23")
    ledger.begin("outbox", 2, Content("d", "s"), Lease("here:1:a"))
    readers = [(1, "ann@example.org", "Ann", "active"), (2, "bob@example.org", "Bob", "active"),
               (3, "cy@example.org", None, "unsubscribed")]

    def on_file() -> tuple[list[tuple[int, str, str | None, str]], list[tuple[str, int]]]:
        with bare.connect() as conn:
            return ([(int(i), e, n, s) for i, e, n, s in conn.execute(text(
                        "SELECT id, email, name, status FROM subscribers ORDER BY id"))],
                    [(i, int(p)) for i, p in conn.execute(text(
                        "SELECT issue, planned FROM sends"))])

    steps = [(revision, True) for revision in revisions[1:]] + \
        [(revision, False) for revision in reversed(revisions[:-1])]
    for revision, down in steps:
        _to(bare, revision, down=down)
        with bare.connect() as conn:
            assert migrate.current(conn) == revision
        assert on_file() == (readers, [("2024-07-23", 2)]), revision
        if revision == "0001":  # the plan's readers as 0001 kept them: a row each
            assert _stored(bare) == [("2024-07-23", 1, 0, "pending"),
                                     ("2024-07-23", 2, 0, "pending")]

    assert [(r.id, r.email, r.name) for r in ledger.claim(0)] == \
        [(1, "ann@example.org", "Ann"), (2, "bob@example.org", "Bob")]
    assert ledger.settle(0, None, {}) == 2 and ledger.finish_if_done()
    assert store.add(bare, "dee@example.org").id == 4  # numbers are never given out again

    _to(bare, "base", down=True)
    assert inspect(bare).get_table_names() == ["alembic_version"] and _triggers(bare) == []
    _to(bare, "head")
    with bare.connect() as conn:
        assert migrate.current(conn) == migrate.HEAD
        assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []
        assert conn.execute(text("SELECT COUNT(*) FROM subscribers")).scalar_one() == 0
