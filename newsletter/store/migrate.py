"""Bringing a database to the schema this code expects, with Alembic.

Revisions live in ``migrations/versions``; each runs once, in order, in the one
transaction that opens the database (on SQLite too: a revision stopped half-way leaves
nothing behind, and runs again). Databases made before Alembic (by earlier versions of
this repository, with a ``schema_version`` table holding 1 or 2) are stamped at the
revision that matches their version and then upgraded in place. A database at a
revision this code does not know was made by a newer release: it is refused with a
one-line error, never changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from newsletter.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision. Kept here (a test checks it against the scripts) so that opening
# an up-to-date database costs one query and no import of Alembic.
HEAD = "0018"
# schema_version of a database made before Alembic -> the revision that made the same schema.
LEGACY_REVISIONS = {1: "0001", 2: "0002"}


def _config(conn: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def current(conn: Connection) -> str | None:
    """The revision the database is at (None for an empty one or one made before Alembic)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return str(value) if value is not None else None


# The advisory lock migrations take on PostgreSQL: any number, the same in every process.
_LOCK_KEY = 0x6E6C7472  # "nltr"


def migrate(engine: Engine) -> str:
    """Apply every revision this database has not had; return the revision it is at."""
    with engine.connect() as conn:
        if current(conn) == HEAD:
            return HEAD
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            # Python's sqlite3 opens a transaction only before INSERT, UPDATE or DELETE:
            # a revision's CREATE TABLE (batch mode's copy of a table) would be committed
            # at once, and a revision stopped half-way would leave it behind. BEGIN makes
            # the whole upgrade one transaction, its DDL included, as on PostgreSQL;
            # IMMEDIATE takes the write lock first, so two runs opening at once upgrade
            # one after the other.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif conn.dialect.name == "postgresql":
            # The same for PostgreSQL: processes opening a new database at once (the
            # workers of `serve --workers 4`) would each create the tables, and all but
            # one die of a duplicate. A lock held to the transaction's end makes them
            # take turns; the next one then finds the head (_upgrade reads it afresh).
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        _upgrade(conn)
    return HEAD


def _upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    config = _config(conn)
    revision = current(conn) or _adopt_legacy(conn, config)
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if revision is not None and revision not in known:
        raise ConfigError(f"the database is at schema revision {revision}, newer than this "
                          "newsletter knows: upgrade newsletter")
    command.upgrade(config, "head")


def _adopt_legacy(conn: Connection, config: Config) -> str | None:
    """Stamp a database made with the hand-written migrations from before Alembic."""
    if not inspect(conn).has_table("schema_version"):
        return None
    version = conn.execute(text("SELECT max(version) FROM schema_version")).scalar() or 0
    if version not in LEGACY_REVISIONS:
        raise ConfigError(f"the database schema is version {version}, newer than this "
                          "newsletter knows: upgrade newsletter")
    from alembic import command

    command.stamp(config, LEGACY_REVISIONS[version])
    conn.execute(text("DROP TABLE schema_version"))
    return LEGACY_REVISIONS[version]
