"""Readers erased at their request stay erased: the register of erased addresses.

What is kept of an erased reader is a keyed hash of their address (HMAC-SHA256 of its
lower-cased form, hex) and the date: no address, no name, nothing to read them back by.
The key is the store's own (``store_keys`` row "erased", random, made by revision 0010),
so the hash cannot be matched against a list of guessed addresses by anyone who has the
table but not the key.

The register is read by whoever would bring an address back: an import skips it, ``add``
refuses it. Only a new request that the reader confirms takes an address off it
(:func:`forgive`, called from the confirmation step).
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Iterable

from sqlalchemy import Connection, delete, select

from newsletter.errors import SubscriberError
from newsletter.store.db import erased, store_keys

KEY_NAME = "erased"


def _key(conn: Connection) -> bytes:
    value = conn.execute(select(store_keys.c.value)
                         .where(store_keys.c.name == KEY_NAME)).scalar()
    if not value:  # made by revision 0010; a new one would forget everyone erased so far
        raise SubscriberError("the database has no key for its register of erased "
                              "addresses (store_keys 'erased'); restore it from a backup")
    return bytes.fromhex(value)


def _hash(key: bytes, email_key: str) -> str:
    return hmac.digest(key, email_key.lower().encode("utf-8"), "sha256").hex()


def digest(conn: Connection, email_key: str) -> str:
    """The keyed hash the register keeps for an address (64 hex digits)."""
    return _hash(_key(conn), email_key)


def remember(conn: Connection, email_key: str, at: dt.datetime | None = None) -> None:
    """Note that this address was erased at its owner's request (again: the latest date)."""
    value = digest(conn, email_key)
    stamp = at or dt.datetime.now(dt.UTC)
    conn.execute(delete(erased).where(erased.c.digest == value))
    conn.execute(erased.insert().values(digest=value, erased_at=stamp))


def when_erased(conn: Connection, email_key: str) -> dt.datetime | None:
    """When this address was erased at its owner's request; None when it was not."""
    found = conn.execute(select(erased.c.erased_at)
                         .where(erased.c.digest == digest(conn, email_key))).scalar()
    return found


def forgive(conn: Connection, email_key: str) -> None:
    """Take an address off the register: its owner asked again, and confirmed."""
    conn.execute(delete(erased).where(erased.c.digest == digest(conn, email_key)))


def among(conn: Connection, email_keys: Iterable[str]) -> dict[str, dt.datetime]:
    """Which of ``email_keys`` were erased, with when: one query (and one read of the key)
    for the lot, for an import's chunk."""
    if conn.execute(select(erased.c.digest).limit(1)).first() is None:
        return {}  # nobody erased yet: nothing to hash, nothing to look up
    key = _key(conn)
    hashed = {_hash(key, email_key): email_key for email_key in email_keys}
    return {hashed[value]: at for value, at in _lookup(conn, list(hashed))}


def _lookup(conn: Connection, digests: list[str]) -> list[tuple[str, dt.datetime]]:
    # Through the driver: SQLAlchemy's expanding IN costs more than the query, chunk after
    # chunk of an import.
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        return [(d, at.astimezone(dt.UTC)) for d, at in conn.exec_driver_sql(
            "SELECT digest, erased_at FROM erased WHERE digest = ANY(%(digests)s)",
            {"digests": digests})]  # in the session's zone
    if conn.dialect.name == "sqlite":  # erased_at as SQLAlchemy stores it: naive UTC text
        found = conn.exec_driver_sql(f"SELECT digest, erased_at FROM erased WHERE digest IN "
                                     f"({', '.join('?' * len(digests))})", tuple(digests))
        return [(d, dt.datetime.fromisoformat(at).replace(tzinfo=dt.UTC)) for d, at in found]
    return [(d, at) for d, at in conn.execute(
        select(erased.c.digest, erased.c.erased_at).where(erased.c.digest.in_(digests)))]

