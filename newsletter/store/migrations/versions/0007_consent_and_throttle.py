"""Double opt-in: a reader's consent (where it came from, when asked, when confirmed, when
the last confirmation email went), and the counters that limit requests per client.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("consent_source", sa.String(200)))
        batch.add_column(sa.Column("requested_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("confirm_sent_at", sa.DateTime(timezone=True)))
    op.create_table(
        "throttle",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("window", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("throttle")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("confirm_sent_at")
        batch.drop_column("confirmed_at")
        batch.drop_column("requested_at")
        batch.drop_column("consent_source")
