"""Alembic's entry point: run the revisions on the connection newsletter hands over.

newsletter runs Alembic from code (store/migrate.py), inside the transaction that opens
the database; there is no alembic.ini and no URL here.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
