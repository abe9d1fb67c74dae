"""A send scheduled with the provider: its batch id and send time.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sends", sa.Column("batch_id", sa.String(200)))
    op.add_column("sends", sa.Column("send_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("send_at")
        batch.drop_column("batch_id")
