"""A reader's links belong to that reader alone; requests to subscribe wait in a queue;
the consent on record keeps what the law asks; erased readers stay erased.

- ``subscribers.link_key``: a random key per reader (32 hex digits) that their links name
  instead of their row number. Readers on file now keep their old links working
  (``legacy_links``); a reader who subscribes again gets a new key and loses them.
- On SQLite the subscribers' ids are never reused again (``AUTOINCREMENT``): a row number
  given to one person is never given to another.
- ``subscribers.opted_in_at``, ``opt_in_ip``, ``tags``: when and from which network the
  reader asked (kept after they confirm), and labels brought from another tool.
- ``signups``: each request from the form, queued as it came and mailed in the background,
  so the answer to the form costs the same whoever asked. Its ``key`` is what the
  confirmation link names.
- ``erased``: a keyed hash of each address erased on request, so that no import brings it
  back; ``store_keys`` holds that key (random, made here).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import secrets
from typing import Literal

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# SQLite: ids are never reused (each recreation of the table must say so again).
_AUTOINCREMENT = {"sqlite_autoincrement": True}
_SUBSCRIBERS = sa.table("subscribers", sa.column("id", sa.Integer),
                        sa.column("link_key", sa.String),
                        sa.column("legacy_links", sa.Boolean))


def upgrade() -> None:
    with op.batch_alter_table("subscribers", recreate=_recreate(),
                              table_kwargs=_AUTOINCREMENT) as batch:
        batch.add_column(sa.Column("link_key", sa.String(32)))
        batch.add_column(sa.Column("legacy_links", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("opted_in_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("opt_in_ip", sa.String(64)))
        batch.add_column(sa.Column("tags", sa.Text))
    _give_keys()
    with op.batch_alter_table("subscribers", table_kwargs=_AUTOINCREMENT) as batch:
        batch.alter_column("link_key", existing_type=sa.String(32), nullable=False)
        batch.create_unique_constraint("uq_subscribers_link_key", ["link_key"])
    op.create_table(
        "signups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(32), nullable=False, unique=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("timezone", sa.String(64)),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("network", sa.String(64)),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("retry_at", sa.DateTime(timezone=True)),
        sa.Column("mailed_at", sa.DateTime(timezone=True)),
        sa.Index("ix_signups_state", "state", "id"),
        sa.Index("ix_signups_email_key", "email_key", "mailed_at"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "erased",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "store_keys",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
    )
    op.bulk_insert(sa.table("store_keys", sa.column("name", sa.String),
                            sa.column("value", sa.String)),
                   [{"name": "erased", "value": secrets.token_hex(32)}])


def _recreate() -> Literal["always", "auto"]:
    """SQLite gains AUTOINCREMENT only by making the table anew; PostgreSQL alters it in
    place (a copy would also start a new sequence at 1: numbers given out again)."""
    return "always" if op.get_bind().dialect.name == "sqlite" else "auto"


def _give_keys() -> None:
    """A random key for every reader on file, whose old links go on working for them."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # gen_random_uuid: a strong random source, 13+
        op.execute("UPDATE subscribers SET link_key = replace(gen_random_uuid()::text, "
                   "'-', ''), legacy_links = true")
        _sequence_past_every_row(bind)
        return
    if bind.dialect.name == "sqlite":  # randomblob: SQLite's own strong generator
        op.execute("UPDATE subscribers SET link_key = lower(hex(randomblob(16))), "
                   "legacy_links = 1")
        return
    ids = [row.id for row in bind.execute(sa.select(_SUBSCRIBERS.c.id))]
    for sid in ids:
        bind.execute(_SUBSCRIBERS.update().where(_SUBSCRIBERS.c.id == sid)
                     .values(link_key=secrets.token_hex(16), legacy_links=True))


def _sequence_past_every_row(bind: sa.Connection) -> None:
    """Rows written with their own numbers (a restore, say) leave PostgreSQL's sequence
    behind: it must never hand out a number a reader has had. Only ever moved forward."""
    sequence = bind.execute(sa.text("SELECT pg_get_serial_sequence('subscribers', 'id')")
                            ).scalar()
    if sequence is None:
        return
    top = bind.execute(sa.text("SELECT COALESCE(max(id), 0) FROM subscribers")).scalar_one()
    bind.execute(sa.text("SELECT setval(CAST(:seq AS regclass), :top) WHERE :top > "
                         "(SELECT COALESCE(last_value, 0) FROM pg_sequences WHERE "
                         "format('%I.%I', schemaname, sequencename)::regclass "
                         "= CAST(:seq AS regclass))"), {"seq": sequence, "top": top})


def downgrade() -> None:
    op.drop_table("store_keys")
    op.drop_table("erased")
    op.drop_table("signups")
    with op.batch_alter_table("subscribers", recreate=_recreate()) as batch:
        batch.drop_constraint("uq_subscribers_link_key", type_="unique")
        batch.drop_column("tags")
        batch.drop_column("opt_in_ip")
        batch.drop_column("opted_in_at")
        batch.drop_column("legacy_links")
        batch.drop_column("link_key")
