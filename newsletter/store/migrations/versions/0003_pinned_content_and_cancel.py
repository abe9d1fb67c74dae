"""A send keeps the content it began with, and a cancelled send is kept as history.

Revision ID: 0003
Revises: 0002
The issue key grows from 10 characters (a date) to 40, for the keys of cancelled sends
("2024-07-23/cancelled-1").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("sends", "batches", "deliveries")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("issue", type_=sa.String(40), existing_type=sa.String(10),
                               existing_nullable=False)
    with op.batch_alter_table("sends") as batch:
        batch.add_column(sa.Column("content_hash", sa.String(64)))
        batch.add_column(sa.Column("subject", sa.Text))
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        for column in ("cancelled_at", "subject", "content_hash"):
            batch.drop_column(column)
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("issue", type_=sa.String(10), existing_type=sa.String(40),
                               existing_nullable=False)
