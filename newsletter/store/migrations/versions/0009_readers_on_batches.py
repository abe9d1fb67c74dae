"""A batch holds the readers it has yet to reach; reader rows remain only for exceptions.

Until now the plan wrote a row for every reader (a million rows and their key for a
million readers), and each batch deleted its thousand as it settled. Now each batch keeps
the ids of the readers it has yet to reach in one text column, ``readers``
(",12,15,19,": the commas at both ends let a reader be found with LIKE '%,15,%'), with
their number in ``waiting``. The plan writes a thousand rows; a batch that settles clears
its own. ``deliveries`` keeps a row only for a reader a send did not reach: skipped (left
before their batch went) or failed (refused by the provider).

A send in progress is carried across: its pending and uncertain rows become its batches'
lists, and back again on downgrade (uncertain where the batch is, pending elsewhere).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import itertools

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

WAITING = ("pending", "uncertain")  # the reader rows a batch's list takes over

batches = sa.table("batches", sa.column("issue", sa.String), sa.column("number", sa.Integer),
                   sa.column("state", sa.String), sa.column("readers", sa.Text),
                   sa.column("waiting", sa.Integer))
deliveries = sa.table("deliveries", sa.column("issue", sa.String),
                      sa.column("subscriber_id", sa.Integer), sa.column("batch", sa.Integer),
                      sa.column("state", sa.String))


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("readers", sa.Text))
        batch.add_column(sa.Column("waiting", sa.Integer))
    conn = op.get_bind()
    # Streamed: a send of millions in progress is not held in memory row by row.
    rows = conn.execute(sa.select(deliveries.c.issue, deliveries.c.batch,
                                  deliveries.c.subscriber_id)
                        .where(deliveries.c.state.in_(WAITING))
                        .order_by(deliveries.c.issue, deliveries.c.batch,
                                  deliveries.c.subscriber_id)
                        .execution_options(stream_results=True, max_row_buffer=10_000))
    lists = [{"key_issue": issue, "key_number": number,
              "readers": "," + ",".join(str(row.subscriber_id) for row in group) + ","}
             for (issue, number), group in itertools.groupby(rows, lambda r: (r.issue, r.batch))]
    for item in lists:
        item["waiting"] = item["readers"].count(",") - 1
    if lists:
        conn.execute(sa.update(batches).where(
            batches.c.issue == sa.bindparam("key_issue"),
            batches.c.number == sa.bindparam("key_number"))
            .values(readers=sa.bindparam("readers"), waiting=sa.bindparam("waiting")), lists)
    # Only rows whose batch took them over go: one without its batch (which the ledger
    # never makes) stays as it was rather than be lost.
    conn.execute(sa.delete(deliveries).where(
        deliveries.c.state.in_(WAITING),
        sa.exists().where(batches.c.issue == deliveries.c.issue,
                          batches.c.number == deliveries.c.batch)))


def downgrade() -> None:
    conn = op.get_bind()
    keys = conn.execute(sa.select(batches.c.issue, batches.c.number)
                        .where(batches.c.readers.is_not(None))).all()
    for issue, number in keys:  # a batch at a time: a thousand readers, not millions
        state, readers = conn.execute(sa.select(batches.c.state, batches.c.readers).where(
            batches.c.issue == issue, batches.c.number == number)).one()
        rows = [{"issue": issue, "batch": number, "subscriber_id": int(sid),
                 "state": "uncertain" if state == "uncertain" else "pending"}
                for sid in readers.split(",") if sid]
        if rows:
            conn.execute(sa.insert(deliveries), rows)
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("waiting")
        batch.drop_column("readers")
