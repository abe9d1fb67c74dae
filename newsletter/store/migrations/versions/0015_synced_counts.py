"""The providers' own statistics of each issue (``synced_counts``), read by
``stats sync`` for publications that receive no webhook.

One row per issue, provider, kind and detail, replaced whole at each sync of that issue
and provider. Kept beside ``event_counts`` rather than added into it: the same events can
reach both (a webhook for part of the time, a sync later), and store/figures.py chooses,
per issue and kind, one of the two instead of adding them.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "synced_counts",
        sa.Column("issue", sa.String(40), primary_key=True),
        sa.Column("provider", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("detail", sa.String(16), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("synced_counts")
