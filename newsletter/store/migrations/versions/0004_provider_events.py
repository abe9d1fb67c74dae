"""What the provider reported back (SendGrid's Event Webhook): one row per event.

Revision ID: 0004
Revises: 0003
The provider's own event id is the key, so an event it sends twice is kept once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("issue", sa.String(40)),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("happened_at", sa.DateTime(timezone=True)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_events_issue", "events", ["issue", "kind"])


def downgrade() -> None:
    op.drop_table("events")
