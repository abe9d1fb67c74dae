"""A batch's readers back on its row, typed: ``integer[]`` on PostgreSQL, a JSON array of
numbers on SQLite; the table ``batch_readers`` (0012) goes.

A row a reader cost PostgreSQL 115.5 MB for a million-reader send while it was planned
(the rows, their key, and an index by reader) and a plan of 8.35 s, against 4.4 MB and
about 2.3 s for the text lists before 0012; an array of a thousand ids is one value of
4 bytes an id, out of the row (TOAST). The lists stay typed: no LIKE, no text to parse.
Which batches hold a reader (erasure, the data download) is read through the batches of
the sends under way, ``= ANY(readers)`` or ``json_each``, without an index.

A send in progress is carried across both ways: each batch's rows become its list (in
id order), and on downgrade the lists become rows again.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import itertools

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

READER_IDS = sa.JSON(none_as_null=True).with_variant(postgresql.ARRAY(sa.Integer),
                                                     "postgresql")
batches = sa.table("batches", sa.column("issue", sa.String), sa.column("number", sa.Integer),
                   sa.column("readers", READER_IDS))
batch_readers = sa.table("batch_readers", sa.column("issue", sa.String),
                         sa.column("number", sa.Integer), sa.column("subscriber_id", sa.Integer))


def upgrade() -> None:
    # batches has no trigger (0014's are on subscribers and signups): a column is added
    # here and dropped on downgrade without create_triggers().
    op.add_column("batches", sa.Column("readers", READER_IDS))
    conn = op.get_bind()
    rows = conn.execute(sa.select(batch_readers.c.issue, batch_readers.c.number,
                                  batch_readers.c.subscriber_id)
                        .order_by(batch_readers.c.issue, batch_readers.c.number,
                                  batch_readers.c.subscriber_id)
                        .execution_options(stream_results=True, max_row_buffer=10_000))
    lists: list[dict[str, object]] = []
    for (issue, number), group in itertools.groupby(rows, lambda r: (r.issue, r.number)):
        lists.append({"i": issue, "n": number, "ids": [row.subscriber_id for row in group]})
        if len(lists) == 100:  # a hundred batches an UPDATE: memory stays bounded
            _put(conn, lists)
            lists = []
    _put(conn, lists)
    op.drop_index("ix_batch_readers_subscriber", table_name="batch_readers")
    op.drop_table("batch_readers")


def _put(conn: sa.Connection, lists: list[dict[str, object]]) -> None:
    if lists:
        conn.execute(sa.update(batches).where(batches.c.issue == sa.bindparam("i"),
                                              batches.c.number == sa.bindparam("n"))
                     .values(readers=sa.bindparam("ids", type_=READER_IDS)), lists)


def downgrade() -> None:
    op.create_table(
        "batch_readers",
        sa.Column("issue", sa.String(40), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("issue", "number", "subscriber_id"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_batch_readers_subscriber", "batch_readers", ["subscriber_id"])
    conn = op.get_bind()
    keys = conn.execute(sa.select(batches.c.issue, batches.c.number)
                        .where(batches.c.readers.is_not(None))).all()
    for issue, number in keys:  # a batch at a time: a thousand readers, not millions
        ids = conn.execute(sa.select(batches.c.readers).where(
            batches.c.issue == issue, batches.c.number == number)).scalar_one()
        if ids:
            conn.execute(sa.insert(batch_readers), [
                {"issue": issue, "number": number, "subscriber_id": int(sid)}
                for sid in sorted(set(ids))])
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("readers")
