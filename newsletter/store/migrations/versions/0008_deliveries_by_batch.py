"""A send's rows are kept in batch order, and each batch counts the readers it reached.

The ledger reads, skips and removes a send's rows one batch at a time, so its key is now
(issue, batch, subscriber): a batch is one contiguous range, written in order by the plan
and deleted as a range when it settles. The separate batch index goes; on SQLite the table
is WITHOUT ROWID, so the key is the table and each row is written once rather than three
times (table, key, batch index). A reader's own rows (the data download, "forget me")
are found by a scan, with no index of their own: those are rare requests, and a finished
send keeps few rows, where an index would cost every plan a third more time.

Each batch now keeps the number of readers it reached (``reached``), which the send's own
``sent_count`` had summed: every batch updated that one row, so batches settling at the
same moment queued for its lock. ``sent_count`` stays for sends settled before.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = "issue, subscriber_id, batch, state"


def _create(name: str, *, by_batch: bool) -> None:
    key = ("issue", "batch", "subscriber_id") if by_batch else ("issue", "subscriber_id")
    op.create_table(
        name,
        sa.Column("issue", sa.String(40), nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=False),
        sa.Column("batch", sa.Integer, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.PrimaryKeyConstraint(*key),
        sqlite_with_rowid=not by_batch,
    )


def _swap(by_batch: bool) -> None:
    _create("deliveries_new", by_batch=by_batch)
    order = "issue, batch, subscriber_id" if by_batch else "issue, subscriber_id"
    op.execute(f"INSERT INTO deliveries_new ({COLUMNS}) SELECT {COLUMNS} FROM deliveries "
               f"ORDER BY {order}")
    op.drop_table("deliveries")
    op.rename_table("deliveries_new", "deliveries")
    if op.get_bind().dialect.name == "postgresql":  # the key keeps the name it was made with
        op.execute("ALTER TABLE deliveries RENAME CONSTRAINT deliveries_new_pkey "
                   "TO deliveries_pkey")


def upgrade() -> None:
    _swap(by_batch=True)
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("reached", sa.Integer))


def downgrade() -> None:
    # What the batches reached goes back to the send's one number, as before 0008.
    op.execute("UPDATE sends SET sent_count = COALESCE(sent_count, 0) + (SELECT "
               "COALESCE(SUM(reached), 0) FROM batches WHERE batches.issue = sends.issue)")
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("reached")
    _swap(by_batch=False)
    op.create_index("ix_deliveries_batch", "deliveries", ["issue", "batch"])
