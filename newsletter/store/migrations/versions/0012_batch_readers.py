"""A batch's readers in a table of their own, a row each, instead of a text column.

Until now each batch kept the ids of the readers it had yet to reach in ``readers``, the
text ",12,15,19,", found with LIKE '%,15,%'. Now ``batch_readers`` holds one row a
reader (issue, number, subscriber_id: the key, in plan order), indexed by reader too;
``waiting`` stays on the batch, the count ``status`` adds up.

A send in progress is carried across both ways: every list becomes its rows, and on
downgrade the rows become the lists again (in id order, the order the plan wrote).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import itertools

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

batches = sa.table("batches", sa.column("issue", sa.String), sa.column("number", sa.Integer),
                   sa.column("readers", sa.Text), sa.column("waiting", sa.Integer))
batch_readers = sa.table("batch_readers", sa.column("issue", sa.String),
                         sa.column("number", sa.Integer), sa.column("subscriber_id", sa.Integer))


def upgrade() -> None:
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
        readers = conn.execute(sa.select(batches.c.readers).where(
            batches.c.issue == issue, batches.c.number == number)).scalar_one()
        ids = sorted({int(sid) for sid in readers.split(",") if sid.strip()})
        if ids:
            conn.execute(sa.insert(batch_readers), [
                {"issue": issue, "number": number, "subscriber_id": sid} for sid in ids])
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("readers")


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("readers", sa.Text))
    conn = op.get_bind()
    rows = conn.execute(sa.select(batch_readers.c.issue, batch_readers.c.number,
                                  batch_readers.c.subscriber_id)
                        .order_by(batch_readers.c.issue, batch_readers.c.number,
                                  batch_readers.c.subscriber_id)
                        .execution_options(stream_results=True, max_row_buffer=10_000))
    for (issue, number), group in itertools.groupby(rows, lambda r: (r.issue, r.number)):
        ids = [str(row.subscriber_id) for row in group]
        conn.execute(sa.update(batches).where(batches.c.issue == issue,
                                              batches.c.number == number)
                     .values(readers="," + ",".join(ids) + ",", waiting=len(ids)))
    op.drop_index("ix_batch_readers_subscriber", table_name="batch_readers")
    op.drop_table("batch_readers")
