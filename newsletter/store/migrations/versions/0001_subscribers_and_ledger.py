"""Subscribers and the send ledger (sends, batches, deliveries).

Revision ID: 0001
Revises: none
The schema of hand-written migration 1 (from before Alembic), written out here so that
it never changes with the tables in db.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200)),
        sa.Column("timezone", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_subscribers_status", "subscribers", ["status", "id"])
    op.create_table(
        "sends",
        sa.Column("issue", sa.String(10), primary_key=True),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("batch_size", sa.Integer, nullable=False),
        sa.Column("planned", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("owner", sa.String(200)),
        sa.Column("heartbeat", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "batches",
        sa.Column("issue", sa.String(10), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("provider_id", sa.String(200)),
        sa.Column("error", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_batches_state", "batches", ["issue", "state"])
    op.create_table(
        "deliveries",
        sa.Column("issue", sa.String(10), primary_key=True),
        sa.Column("subscriber_id", sa.Integer, primary_key=True),
        sa.Column("batch", sa.Integer, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
    )
    op.create_index("ix_deliveries_batch", "deliveries", ["issue", "batch"])


def downgrade() -> None:
    for table in ("deliveries", "batches", "sends", "subscribers"):
        op.drop_table(table)
