"""A finished send keeps one number for everyone it reached, not a row for each.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.add_column(sa.Column("sent_count", sa.BigInteger))
        batch.add_column(sa.Column("compacted_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("compacted_at")
        batch.drop_column("sent_count")
