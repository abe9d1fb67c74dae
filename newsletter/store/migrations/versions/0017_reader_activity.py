"""Which reader opened or clicked what (``reader_activity``): written only when the
publication keeps opens and clicks per reader (``tracking: individual``), by the webhook
for a provider's opens and clicks and by the readers' service for its own links and
pixel. Erased with the reader, aged by ``prune``.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reader_activity",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subscriber_id", sa.Integer, nullable=False),
        sa.Column("issue", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(16), nullable=False),
        sa.Column("url", sa.String(2000)),
        sa.Column("happened_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_reader_activity_subscriber", "reader_activity", ["subscriber_id"])
    op.create_index("ix_reader_activity_issue", "reader_activity",
                    ["issue", "kind", "subscriber_id"])
    op.create_index("ix_reader_activity_happened", "reader_activity", ["happened_at"])


def downgrade() -> None:
    op.drop_table("reader_activity")
