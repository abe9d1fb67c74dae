"""The welcome email of each reader who confirms: ``welcomes``, one row per reader.

The row is made in the transaction that confirms the reader, and its primary key is the
reader's number, so a second confirmation (a double click, a second link), a restart or
a second instance of the service can never make a second one. The service's mailer
claims a row (queued -> mailing, conditionally) before the email leaves and marks it
sent after; a claim that outlived its lease is marked uncertain, never sent again.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "welcomes",
        sa.Column("subscriber_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("retry_at", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Index("ix_welcomes_state", "state", "subscriber_id"),
    )


def downgrade() -> None:
    op.drop_table("welcomes")
