"""Figures that last, and a record of every send begun against the health check
(``health_overrides``): the events of each issue counted as they come (``event_counts``),
and list growth counted by the database itself.

``event_counts`` starts from the events already kept (clicks keyed by the SHA-256 of
their URL, computed here in Python: SQLite has no hash function).

List growth: ``reader_moves`` holds, for each UTC hour,
how many readers moved from one status to another (``new`` for a reader added, ``erased``
for a row deleted, ``requested`` for a request queued by the form), and triggers on
``subscribers`` and ``signups`` keep it.

Why triggers, not a line in each writer: a reader's status has many writers (the form's
queue, confirm, the links, the provider's events, the operator's commands, an import, a
sync, erasure) and the trigger sees every one, with the old status beside the new, which
an ``UPDATE ... WHERE status IN (...)`` does not tell its writer. No row names a reader:
the table is counts only, so it survives an erasure and needs no privacy setting.

The hour comes from the row's ``updated_at`` (every move writes it, store/status.py), so a
move is counted at the time the code gave it; an erasure, which leaves no row, at the
database's clock. Hours, not days, so that ``stats`` can count days in the publication's
timezone.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_SQLITE_HOUR = "strftime('%Y-%m-%dT%H', {})"
_SQLITE_UPSERT = ("INSERT INTO reader_moves (hour, from_state, to_state, count) "
                  "VALUES ({hour}, {old}, {new}, 1) ON CONFLICT (hour, from_state, to_state) "
                  "DO UPDATE SET count = count + 1;")
_SQLITE = {
    "reader_moves_added": (
        "AFTER INSERT ON subscribers",
        _SQLITE_UPSERT.format(hour=_SQLITE_HOUR.format("coalesce(NEW.updated_at, "
                                                       "NEW.created_at)"),
                              old="'new'", new="NEW.status")),
    "reader_moves_moved": (
        "AFTER UPDATE OF status ON subscribers WHEN OLD.status IS NOT NEW.status",
        _SQLITE_UPSERT.format(hour=_SQLITE_HOUR.format("NEW.updated_at"),
                              old="OLD.status", new="NEW.status")),
    "reader_moves_asked": (
        "AFTER INSERT ON signups",
        _SQLITE_UPSERT.format(hour=_SQLITE_HOUR.format("NEW.requested_at"), old="'new'",
                              new="'requested'")),
    "reader_moves_erased": (
        "AFTER DELETE ON subscribers",
        _SQLITE_UPSERT.format(hour=_SQLITE_HOUR.format("'now'"), old="OLD.status",
                              new="'erased'")),
}

# PostgreSQL: one trigger per statement, not per row, reading the statement's rows as
# transition tables, so an import of 300,000 readers is one INSERT ... GROUP BY here, not
# 300,000. (A trigger with transition tables takes one event and no column list, hence
# four of them, and the update's compares old and new itself.)
_PG_UPSERT = ("INSERT INTO reader_moves (hour, from_state, to_state, count) "
              "SELECT to_char(coalesce({at}, now()) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24'), "
              "{old}, {new}, count(*) FROM {rows} GROUP BY 1, 2, 3 "
              "ON CONFLICT (hour, from_state, to_state) "
              "DO UPDATE SET count = reader_moves.count + excluded.count")
_PG = {
    # name: (table, event, transition tables, the rows, their time, old state, new state)
    "reader_moves_added": (
        "subscribers", "INSERT", "NEW TABLE AS added", "added",
        "coalesce(updated_at, created_at)", "'new'", "status"),
    "reader_moves_moved": (
        "subscribers", "UPDATE", "OLD TABLE AS before NEW TABLE AS after",
        "before JOIN after ON before.id = after.id "
        "WHERE before.status IS DISTINCT FROM after.status",
        "after.updated_at", "before.status", "after.status"),
    "reader_moves_erased": (
        "subscribers", "DELETE", "OLD TABLE AS gone", "gone", "NULL::timestamptz",
        "status", "'erased'"),
    "reader_moves_asked": (
        "signups", "INSERT", "NEW TABLE AS asked", "asked", "requested_at", "'new'",
        "'requested'"),
}


def _pg_function(name: str) -> str:
    _, _, _, rows, at, old, new = _PG[name]
    upsert = _PG_UPSERT.format(at=at, old=old, new=new, rows=rows)
    return (f"CREATE OR REPLACE FUNCTION newsletter_{name}() RETURNS trigger AS $$ "
            f"BEGIN {upsert}; RETURN NULL; END; $$ LANGUAGE plpgsql")


def upgrade() -> None:
    op.create_table(
        "event_counts",
        sa.Column("issue", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("detail", sa.String(16), primary_key=True),
        sa.Column("link", sa.String(64), primary_key=True),
        sa.Column("url", sa.String(2000)),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    _count_events()
    op.create_table(
        "health_overrides",
        sa.Column("issue", sa.String(40), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("figures", sa.Text, nullable=False),
    )
    op.create_table(
        "reader_moves",
        sa.Column("hour", sa.String(13), primary_key=True),  # 2024-07-23T06, UTC
        sa.Column("from_state", sa.String(16), primary_key=True),
        sa.Column("to_state", sa.String(16), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )
    create_triggers(op.get_bind().dialect.name)


def _count_events() -> None:
    events = sa.table("events", sa.column("issue", sa.String), sa.column("kind", sa.String),
                      sa.column("detail", sa.String), sa.column("url", sa.String))
    counts = sa.table("event_counts", *(sa.column(c) for c in
                                         ("issue", "kind", "detail", "link", "url", "count")))
    conn = op.get_bind()
    found: dict[tuple[str, str, str, str], list[object]] = {}
    rows = conn.execute(sa.select(events.c.issue, events.c.kind, events.c.detail,
                                  events.c.url, sa.func.count())
                        .where(events.c.issue.is_not(None))
                        .group_by(events.c.issue, events.c.kind, events.c.detail,
                                  events.c.url))
    for issue, kind, detail, url, n in rows:
        link = hashlib.sha256(url.encode()).hexdigest() if kind == "clicked" and url else ""
        key = (issue, kind, detail or "", link)
        found.setdefault(key, [url if link else None, 0])[1] += int(n)  # type: ignore[operator]
    if found:
        conn.execute(counts.insert(), [
            {"issue": i, "kind": k, "detail": d, "link": li, "url": u, "count": n}
            for (i, k, d, li), (u, n) in found.items()])


def create_triggers(dialect: str) -> None:
    """The triggers, for a revision after this one that has to make them again (SQLite
    drops a table's triggers when a batch operation copies the table)."""
    if dialect == "postgresql":
        for name, (table, event, transitions, *_) in _PG.items():
            op.execute(_pg_function(name))
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING "
                       f"{transitions} FOR EACH STATEMENT EXECUTE FUNCTION "
                       f"newsletter_{name}()")
        return
    for name, (when, action) in _SQLITE.items():
        op.execute(f"CREATE TRIGGER {name} {when} BEGIN {action} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, (table, *_) in _PG.items():
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS newsletter_{name}()")
    else:
        for name in _SQLITE:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("reader_moves")
    op.drop_table("event_counts")
    op.drop_table("health_overrides")
