"""Provider events in our own words: ``events.kind`` holds the vocabulary of
store/events.py (accepted, delivered, deferred, bounced, dropped, complained,
unsubscribed, opened, clicked), not the words of the provider that reported it, and three
bounded columns say what more an event says:

- ``detail``: bounced hard or soft, opened by a person or a machine, and for dropped the
  suppression that held the address back;
- ``reason``: the provider's or the receiving server's words (addresses taken out);
- ``url``: the link of a click.

Rows recorded before were all SendGrid's (the only webhook there was): their words are
mapped here, ``bounce`` to bounced hard and ``blocked`` (a bounce of type blocked, which
the old parser stored under that name) to bounced soft. Kinds that are not in the
vocabulary (``group_resubscribe``, anything else) are deleted: nothing counted them and
no reader's status came from them. Going down maps our words back (``unsubscribed`` to
``unsubscribe``: the group's own unsubscribes cannot be told apart any more; a
``dropped`` keeps that name) and drops the columns.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The words of SendGrid's Event Webhook as stored until now -> (our kind, detail).
# Written out here, not imported: a revision must read the same for ever.
_UP = {
    "processed": ("accepted", None), "delivered": ("delivered", None),
    "deferred": ("deferred", None), "bounce": ("bounced", "hard"),
    "blocked": ("bounced", "soft"), "dropped": ("dropped", None),
    "spamreport": ("complained", None), "unsubscribe": ("unsubscribed", None),
    "group_unsubscribe": ("unsubscribed", None), "open": ("opened", None),
    "click": ("clicked", None),
}
# Going down: (our kind, detail or None for any) -> the word stored before.
_DOWN = [
    ("accepted", None, "processed"), ("bounced", "soft", "blocked"),
    ("bounced", None, "bounce"), ("complained", None, "spamreport"),
    ("unsubscribed", None, "unsubscribe"), ("opened", None, "open"),
    ("clicked", None, "click"),
]
_EVENTS = sa.table("events", sa.column("kind", sa.String), sa.column("detail", sa.String))


def upgrade() -> None:
    with op.batch_alter_table("events") as table:
        table.add_column(sa.Column("detail", sa.String(16)))
        table.add_column(sa.Column("reason", sa.String(200)))
        table.add_column(sa.Column("url", sa.String(2000)))
    op.execute(_EVENTS.delete().where(_EVENTS.c.kind.not_in(list(_UP))))
    for old, (kind, detail) in _UP.items():
        op.execute(_EVENTS.update().where(_EVENTS.c.kind == old)
                   .values(kind=kind, detail=detail))


def downgrade() -> None:
    for kind, detail, old in _DOWN:
        where = _EVENTS.c.kind == kind
        if detail is not None:
            where = where & (_EVENTS.c.detail == detail)
        op.execute(_EVENTS.update().where(where).values(kind=old))
    with op.batch_alter_table("events") as table:
        table.drop_column("url")
        table.drop_column("reason")
        table.drop_column("detail")
