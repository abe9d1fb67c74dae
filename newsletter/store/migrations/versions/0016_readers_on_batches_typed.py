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

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

READER_IDS = sa.JSON(none_as_null=True).with_variant(postgresql.ARRAY(sa.Integer),
                                                     "postgresql")

# One statement each way, within the database: a planned send of a million crosses in
# seconds (each batch's rows as a list; each list's ids as rows again).
_TO_LISTS = {
    "postgresql": (
        "UPDATE batches SET readers = r.ids FROM (SELECT issue, number, "
        "array_agg(subscriber_id ORDER BY subscriber_id) AS ids FROM batch_readers "
        "GROUP BY issue, number) AS r WHERE batches.issue = r.issue "
        "AND batches.number = r.number"),
    # The key's range scan gives the ids in order; members() sorts them all the same.
    "sqlite": (
        "UPDATE batches SET readers = (SELECT json_group_array(r.subscriber_id) "
        "FROM batch_readers AS r WHERE r.issue = batches.issue AND r.number = batches.number) "
        "WHERE EXISTS (SELECT 1 FROM batch_readers AS r WHERE r.issue = batches.issue "
        "AND r.number = batches.number)"),
}
_TO_ROWS = {
    "postgresql": (
        "INSERT INTO batch_readers (issue, number, subscriber_id) SELECT b.issue, b.number, "
        "r.id FROM batches AS b, unnest(b.readers) AS r(id) WHERE b.readers IS NOT NULL"),
    "sqlite": (
        "INSERT INTO batch_readers (issue, number, subscriber_id) SELECT b.issue, b.number, "
        "j.value FROM batches AS b, json_each(b.readers) AS j WHERE b.readers IS NOT NULL"),
}


def upgrade() -> None:
    # batches has no trigger (0014's are on subscribers and signups): a column is added
    # here and dropped on downgrade without create_triggers().
    op.add_column("batches", sa.Column("readers", READER_IDS))
    conn = op.get_bind()
    conn.execute(sa.text(_TO_LISTS[conn.dialect.name]))
    op.drop_index("ix_batch_readers_subscriber", table_name="batch_readers")
    op.drop_table("batch_readers")


def downgrade() -> None:
    op.create_table(
        "batch_readers",
        sa.Column("issue", sa.String(40), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("issue", "number", "subscriber_id"),
        sqlite_with_rowid=False,
    )
    conn = op.get_bind()
    conn.execute(sa.text(_TO_ROWS[conn.dialect.name]))
    op.create_index("ix_batch_readers_subscriber", "batch_readers", ["subscriber_id"])
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("readers")
