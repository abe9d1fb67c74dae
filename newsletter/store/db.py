"""The database: engine and schema. SQLite by default, PostgreSQL too.

The schema is SQLAlchemy Core tables; the same statements run on both databases. It is
changed only by Alembic revisions (``migrations/``), applied when a database is opened:
a database newer than this code is refused rather than guessed at (see migrate.py).
"""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
import time
from collections.abc import Sequence
from itertools import accumulate
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
    false,
    func,
    select,
    type_coerce,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DontWrapMixin

from newsletter.errors import ConfigError, NaiveDatetime
from newsletter.store.migrate import migrate

DEFAULT_SQLITE = "newsletter.sqlite3"

# An issue's date, or for a cancelled send kept as history "2024-07-23/cancelled-1".
ISSUE_KEY = 40

metadata = MetaData()


class _Naive(NaiveDatetime, DontWrapMixin):
    """NaiveDatetime as raised inside a statement: SQLAlchemy passes it on as it is,
    instead of wrapping it in its own StatementError."""


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A moment, kept in UTC: an aware datetime in, an aware UTC datetime out, on every
    database. SQLite keeps no zone (its values come back naive) and PostgreSQL answers in
    the session's: both are made UTC here, once, instead of by each reader. A naive
    datetime is refused (NaiveDatetime): which zone it meant cannot be known."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None \
                or value.utcoffset() is None:
            raise _Naive(f"the store keeps moments in UTC and was given {value!r}, "
                         "which names no timezone")
        return value.astimezone(dt.UTC)

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        # A span added to or taken from a moment (``updated_at + 2 h``) is an interval,
        # not a moment; anything else beside a moment is taken as one, and checked.
        if isinstance(value, dt.timedelta):
            return self.impl.coerce_compared_value(op, value)
        return self

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: written in UTC by process_bind_param
            return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]
        return value.astimezone(dt.UTC)  # type: ignore[no-any-return]


def new_key() -> str:
    """A key (128 bits, 32 hex digits) for a reader's links or a signup's: the time it was
    made, in microseconds (8 bytes), then 8 random bytes. Keys made one after another
    sort in order, so a million-row import appends to the key's unique index instead of
    writing all over it (random keys made a SQLite import three times slower). A link is
    unforgeable by its HMAC, not by its key; the key only has to be one person's alone,
    and the time it shows is when that person subscribed, which their own link may say."""
    return f"{time.time_ns() // 1000:016x}{secrets.token_hex(8)}"


# The same, made by the database itself, for statements that insert readers in SQL (a
# bulk insert, a benchmark's million): each database's strong random source.
KEY_SQL = {"sqlite": "lower(hex(randomblob(16)))",
           "postgresql": "replace(gen_random_uuid()::text, '-', '')"}


subscribers = Table(
    "subscribers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False),
    # The address as compared: lower-cased, so Ann@X.org and ann@x.org are one subscriber.
    Column("email_key", String(320), nullable=False, unique=True),
    Column("name", String(200)),
    Column("timezone", String(64)),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # Revision 0007, the consent on record: where the subscription came from ("form
    # news.example.org", "import members.csv", "command"), when it was last asked for by
    # the reader (set while a confirmation is outstanding), when confirmed, and when the
    # last confirmation email went (at most one an hour).
    Column("consent_source", String(200)),
    Column("requested_at", UtcDateTime()),
    Column("confirmed_at", UtcDateTime()),
    Column("confirm_sent_at", UtcDateTime()),
    # Revision 0010. The random key a reader's links name (32 hex digits; never their row
    # number), renewed when they subscribe again; whether links of the kinds made before
    # it (by row number) still act for them; when and from which network they asked to
    # subscribe (kept after they confirm; another tool's opt-in record on import); and
    # labels brought from another tool (a JSON list).
    Column("link_key", String(32), nullable=False, unique=True, default=new_key),
    Column("legacy_links", Boolean, nullable=False, default=False, server_default=false()),
    Column("opted_in_at", UtcDateTime()),
    Column("opt_in_ip", String(64)),
    Column("tags", Text),
    Index("ix_subscribers_status", "status", "id"),
    sqlite_autoincrement=True,  # an id given to one person is never given to another
)

# Requests to subscribe from the form (revision 0010), queued as they came: the service
# mails them in the background (state queued -> mailing -> mailed | skipped; a mailed
# one is confirmed or expires), so the form's answer never depends on who asked. ``key``
# is what the confirmation link names.
signups = Table(
    "signups", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(32), nullable=False, unique=True, default=new_key),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False),
    Column("name", String(200)),
    Column("timezone", String(64)),
    Column("source", String(200), nullable=False),
    Column("network", String(64)),
    Column("state", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("claimed_at", UtcDateTime()),
    Column("retry_at", UtcDateTime()),  # a failed email waits till then
    Column("mailed_at", UtcDateTime()),
    Index("ix_signups_state", "state", "id"),
    Index("ix_signups_email_key", "email_key", "mailed_at"),
    sqlite_autoincrement=True,
)

# The welcome email of a reader who confirmed (revision 0013): one row per reader, made
# in the confirming transaction (the key makes a second one impossible), claimed by the
# service's mailer before it sends (queued -> mailing -> sent; a claim that outlived its
# lease -> uncertain, never sent again; failed, skipped).
welcomes = Table(
    "welcomes", metadata,
    Column("subscriber_id", Integer, primary_key=True, autoincrement=False),
    Column("state", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("queued_at", UtcDateTime(), nullable=False),
    Column("claimed_at", UtcDateTime()),
    Column("retry_at", UtcDateTime()),
    Column("sent_at", UtcDateTime()),
    Index("ix_welcomes_state", "state", "subscriber_id"),
)

# A keyed hash of each address erased on request (revision 0010): no import brings it
# back; only a new request that the reader confirms does.
erased = Table(
    "erased", metadata,
    Column("digest", String(64), primary_key=True),
    Column("erased_at", UtcDateTime(), nullable=False),
)

# Keys the store makes for itself (revision 0010): "erased", the key of those hashes.
store_keys = Table(
    "store_keys", metadata,
    Column("name", String(32), primary_key=True),
    Column("value", String(128), nullable=False),
)

# Requests counted per client (a keyed hash of its address, never the address) and per
# reader, in fixed windows (revision 0007): limits that hold across the service's instances.
throttle = Table(
    "throttle", metadata,
    Column("key", String(100), primary_key=True),
    Column("window", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
)

# One row per issue being (or having been) sent: the audience is fixed when it is planned.
sends = Table(
    "sends", metadata,
    Column("issue", String(ISSUE_KEY), primary_key=True),
    Column("transport", String(16), nullable=False),
    Column("batch_size", Integer, nullable=False),
    Column("planned", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
    # The run sending it now ("host:pid:nonce") and when it last said so (the database's
    # clock): a lease that expires when its run stops renewing it.
    Column("owner", String(200)),
    Column("heartbeat", UtcDateTime()),
    # Revision 0002: a send scheduled with the provider (its scheduler's send_at + batch_id).
    Column("batch_id", String(200)),
    Column("send_at", UtcDateTime()),
    # Revision 0003: the content the send began with, and when it was cancelled.
    Column("content_hash", String(64)),
    Column("subject", Text),
    Column("cancelled_at", UtcDateTime()),
    # Revision 0006: a finished send, compacted: how many it reached, and when.
    Column("sent_count", BigInteger),
    Column("compacted_at", UtcDateTime()),
)

# A batch's readers (revision 0018): their ids in order, as bytes: a format byte, the first
# id, then each id's distance from the one before, each number a varint (7 bits a byte,
# the high bit set on every byte but a number's last). A batch is a run of consecutive
# active readers, so most distances are 1: about a byte an id, which PostgreSQL keeps in
# the row (under 2 kB) and SQLite in its page, against 4 bytes an id out of the row for
# 0016's integer[] (5.8 MB planned for a million, 1.2 MB as bytes) and a JSON array's
# text on SQLite. The same bytes on both databases; read and written as a list of ints.
_IDS_FORMAT = b"\x01"


def encode_ids(ids: Sequence[int]) -> bytes:
    """``ids`` (distinct, not negative; sorted here) in the format above."""
    ordered = sorted(ids)
    if not ordered or ordered[0] < 0:
        raise ValueError("a list of reader ids is not empty and has no negative id")
    steps = list(map(int.__sub__, ordered[1:], ordered[:-1]))
    if steps and min(steps) < 1:
        raise ValueError("a list of reader ids names each reader once")
    if not steps or max(steps) < 0x80:  # every step one byte: the usual batch
        return _IDS_FORMAT + _varints(ordered[:1]) + bytes(steps)
    return _IDS_FORMAT + _varints([ordered[0], *steps])


def _varints(numbers: Sequence[int]) -> bytes:
    out = bytearray()
    for number in numbers:
        while number >= 0x80:
            out.append(number & 0x7F | 0x80)
            number >>= 7
        out.append(number)
    return bytes(out)


def decode_ids(data: bytes) -> list[int]:
    """The ids :func:`encode_ids` wrote, in order; ValueError for bytes it did not write."""
    if len(data) < 2 or data[:1] != _IDS_FORMAT or data[-1:] >= b"\x80":
        raise ValueError("not a list of reader ids")
    first, at = _varint(data, 1)
    steps = data[at:]
    # Every step one byte (no high bit set): the usual batch, read in one call.
    numbers = list(steps) if max(steps, default=0) < 0x80 else _decoded(steps)
    return list(accumulate(numbers, initial=first))


def _varint(data: bytes, start: int) -> tuple[int, int]:
    """The varint at ``data[start]``, and where the next one starts."""
    number = shift = 0
    for at in range(start, len(data)):
        number |= (data[at] & 0x7F) << shift
        if data[at] < 0x80:
            return number, at + 1
        shift += 7
    raise ValueError("not a list of reader ids")


def _decoded(data: bytes) -> list[int]:
    """Every varint of ``data`` (which ends with a number's last byte)."""
    numbers: list[int] = []
    number = shift = 0
    for byte in data:
        number |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            numbers.append(number)
            number = shift = 0
    return numbers


def first_id(data: bytes) -> int:
    """The first (lowest) id of :func:`encode_ids`'s bytes, read without the rest."""
    return _varint(data, 1)[0]


class ReaderIds(TypeDecorator[list[int]]):
    """A batch's reader ids: a list of ints in Python, :func:`encode_ids`'s bytes in the
    database; an empty list or None is NULL. A list is always read back in ascending id
    order (the format holds the first id and positive steps): the store's one guarantee
    of order, which the claim, the settle and the dry run rely on without sorting."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        return encode_ids(value) if value else None

    def process_result_value(self, value: Any, dialect: Dialect) -> list[int] | None:
        return None if value is None else decode_ids(bytes(value))


READER_IDS = ReaderIds()


# A batch is one provider request (or, a message a reader, one run of messages on a
# connection).
batches = Table(
    "batches", metadata,
    Column("issue", String(ISSUE_KEY), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("state", String(12), nullable=False),
    Column("size", Integer, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("provider_id", String(200)),
    Column("error", Text),
    Column("started_at", UtcDateTime()),
    Column("finished_at", UtcDateTime()),
    Column("reached", Integer),  # readers the batch reached (0008), its rows gone
    # How many readers the batch has yet to reach (0009; pending, or uncertain with the
    # batch), and who they are (0016): READER_IDS, NULL once the batch has none left.
    Column("waiting", Integer),
    Column("readers", READER_IDS),
    Index("ix_batches_state", "issue", "state"),
)


def holding(conn: Connection, subscriber_id: int) -> list[tuple[str, int, str]]:
    """The batches that have yet to reach this reader: (issue, number, state). No index
    finds them: the lists still set (sends under way; a batch done with has none) are
    read through, a thousand rows a planned million, which only erasure and the data
    download ask for. A list whose first id is past the reader's cannot hold them, and
    is passed over without being decoded."""
    sid = int(subscriber_id)
    raw = type_coerce(batches.c.readers, LargeBinary)
    rows = conn.execute(select(batches.c.issue, batches.c.number, batches.c.state, raw)
                        .where(batches.c.readers.is_not(None)))
    return [(issue, number, state) for issue, number, state, data in rows
            if first_id(bytes(data)) <= sid and sid in decode_ids(bytes(data))]


# What the provider reported back, one row per event, keyed by the provider's event id
# (revision 0004): deliveries, opens and clicks are counted per issue from here.
events = Table(
    "events", metadata,
    Column("id", String(100), primary_key=True),
    Column("issue", String(ISSUE_KEY)),
    Column("kind", String(32), nullable=False),
    Column("happened_at", UtcDateTime()),
    Column("received_at", UtcDateTime(), nullable=False),
    # Revision 0011: our own words in ``kind`` (store/events.py), and what more they say.
    Column("detail", String(16)),  # bounced hard|soft, opened person|machine, dropped: why
    Column("reason", String(200)),  # the provider's words, addresses taken out
    Column("url", String(2000)),  # clicked: the link
    Index("ix_events_issue", "issue", "kind"),
)

# The events of each issue, counted as they are recorded (revision 0014): what stats and
# the report read, so that a year of issues is a few thousand rows to add up, not every
# event, and the events themselves can be pruned. ``link`` is the SHA-256 of a click's
# URL (the URL is too long to be a key everywhere), '' for other kinds; ``detail`` ''
# where an event has none.
event_counts = Table(
    "event_counts", metadata,
    Column("issue", String(ISSUE_KEY), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("detail", String(16), primary_key=True),
    Column("link", String(64), primary_key=True),
    Column("url", String(2000)),
    Column("count", BigInteger, nullable=False),
)

# What a provider's own statistics said of an issue (revision 0015, ``stats sync``): its
# totals by kind and detail, as last read, replaced whole at each sync. Beside the events
# counted as they come, never added to them (store/figures.py says which one is shown).
synced_counts = Table(
    "synced_counts", metadata,
    Column("issue", String(ISSUE_KEY), primary_key=True),
    Column("provider", String(32), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("detail", String(16), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("synced_at", UtcDateTime(), nullable=False),
)

# Which reader opened or clicked what (revision 0017): written only at ``tracking:
# individual`` (store/activity.py), erased with the reader, aged by ``prune``. The reader
# by number alone: no address here.
reader_activity = Table(
    "reader_activity", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscriber_id", Integer, nullable=False),
    Column("issue", String(ISSUE_KEY), nullable=False),
    Column("kind", String(16), nullable=False),  # opened | clicked
    Column("detail", String(16), nullable=False),  # person | machine
    Column("url", String(2000)),  # clicked: the link
    Column("happened_at", UtcDateTime(), nullable=False),
    Index("ix_reader_activity_subscriber", "subscriber_id"),
    Index("ix_reader_activity_issue", "issue", "kind", "subscriber_id"),
    Index("ix_reader_activity_happened", "happened_at"),
)

# A send begun although the sender's health said stop (revision 0014): who said so, and
# why (``send --override-health REASON``).
health_overrides = Table(
    "health_overrides", metadata,
    Column("issue", String(ISSUE_KEY), primary_key=True),
    Column("at", UtcDateTime(), primary_key=True),
    Column("by", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("figures", Text, nullable=False),  # the checks' lines when it was overridden
)

# How many readers moved from one status to another in each UTC hour (revision 0014):
# list growth, kept by triggers on ``subscribers``, counts only (no row names a reader).
# ``from_state`` is "new" for a reader added, ``to_state`` "erased" for a row deleted.
reader_moves = Table(
    "reader_moves", metadata,
    Column("hour", String(13), primary_key=True),  # 2024-07-23T06
    Column("from_state", String(16), primary_key=True),
    Column("to_state", String(16), primary_key=True),
    Column("count", Integer, nullable=False),
)

# Up to when (a Unix time) each provider list was read by `suppressions sync` (0005).
sync_marks = Table(
    "sync_marks", metadata,
    Column("source", String(100), primary_key=True),
    Column("until", BigInteger, nullable=False),
)

# A row for each reader a send did not reach: skipped (left before their batch went) or
# failed (refused by the provider). Since revision 0009 the readers still waiting are on
# their batch's row; "pending", "uncertain" and "sent" rows are of earlier releases.
deliveries = Table(
    "deliveries", metadata,
    Column("issue", String(ISSUE_KEY), nullable=False),
    Column("subscriber_id", Integer, nullable=False),
    Column("batch", Integer, nullable=False),
    Column("state", String(12), nullable=False),
    PrimaryKeyConstraint("issue", "batch", "subscriber_id"),
    sqlite_with_rowid=False,
)


def db_now(conn: Connection) -> dt.datetime:
    """The database's clock (UTC): the one clock every runner of a send shares."""
    if conn.dialect.name == "sqlite":  # in UTC; CURRENT_TIMESTAMP would drop the fraction
        text_now = conn.execute(select(func.strftime("%Y-%m-%d %H:%M:%f", "now"))).scalar_one()
        return dt.datetime.fromisoformat(str(text_now)).replace(tzinfo=dt.UTC)
    value = conn.execute(select(func.current_timestamp())).scalar_one()
    return value.astimezone(dt.UTC)


def database_url(given: str, root: Path) -> str:
    """``given`` (DATABASE_URL), else a SQLite file in the project folder."""
    url = given or f"sqlite:///{root / DEFAULT_SQLITE}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):  # the form hosting services hand out
            url = "postgresql+psycopg://" + url[len(prefix):]
    return url


# Query parameters that carry a credential in some drivers' URLs.
_SECRET_PARAMETERS = {"password", "pass", "passwd", "pwd", "secret", "token", "sslpassword",
                      "sslkey"}


def safe_url(url: str) -> str:
    """The URL with any password masked, in its user part or its query, fit for messages
    and logs."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "<unparseable DATABASE_URL>"
    hidden = {key: "***" for key in parsed.query if key.lower() in _SECRET_PARAMETERS}
    return parsed.update_query_dict(hidden).render_as_string(hide_password=True)


# The databases the schema, its migrations and the tests are made for.
SUPPORTED = ("sqlite", "postgresql")
SUPPORTED_TEXT = ("SQLite (sqlite:///FILE) and PostgreSQL (postgresql://USER@HOST/NAME) "
                  "are the supported databases")


def connect(url: str) -> Engine:
    """An engine on ``url`` with the schema migrated to the current version."""
    _require_supported(url)
    try:
        engine = create_engine(url, future=True)
    except ImportError as exc:  # a driver not installed: postgresql+asyncpg, say
        raise ConfigError(f"DATABASE_URL {safe_url(url)} cannot be used: its driver is not "
                          f"installed ({exc.name or exc}); postgresql:// uses psycopg, which "
                          "is") from None
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"DATABASE_URL {safe_url(url)} cannot be used: "
                          f"{redact_url(str(exc), url)}") from None
    if engine.dialect.name == "sqlite":
        _check_sqlite()
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        migrate(engine)
    except (DBAPIError, ValueError) as exc:  # a server that refuses, a file that is no database
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        raise ConfigError(f"cannot use database {safe_url(url)}: "
                          f"{redact_url(str(cause), url)}".strip()) from None
    return engine


def _require_supported(url: str) -> None:
    """ConfigError, saying which databases are, for a URL that is none of them (MySQL's
    would otherwise end on "No module named 'MySQLdb'"). The URL is shown with its
    password masked, or not at all when it cannot be read."""
    try:
        backend = make_url(url).get_backend_name()
    except (ArgumentError, ValueError):
        raise ConfigError(f"DATABASE_URL is not a database URL; {SUPPORTED_TEXT}") from None
    if backend not in SUPPORTED:
        raise ConfigError(f"DATABASE_URL {safe_url(url)} cannot be used: {SUPPORTED_TEXT}")


def redact_url(text: str, url: str) -> str:
    """``text`` with the URL's password (wherever it appears) replaced."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return text
    secrets = [parsed.password or "", *(str(v) for k, v in parsed.query.items()
                                        if k.lower() in _SECRET_PARAMETERS)]
    for secret in filter(None, secrets):
        text = text.replace(str(secret), "***")
    return " ".join(text.split())


# The oldest SQLite the store runs on: a batch's claim moves it and reads its list in one
# UPDATE ... RETURNING (store/batch.py), which SQLite has from 3.35.
SQLITE_MINIMUM = (3, 35, 0)


def _check_sqlite() -> None:
    """ConfigError, before anything is opened, if Python's SQLite library is older than
    the store needs (else the first claim of a send would fail, mid-send)."""
    found = sqlite3.sqlite_version
    if tuple(int(part) for part in found.split(".")[:3]) < SQLITE_MINIMUM:
        needed = ".".join(map(str, SQLITE_MINIMUM))
        raise ConfigError(f"SQLite {found} is too old: newsletter needs SQLite {needed} or "
                          "newer (Python's sqlite3 module; or use PostgreSQL)")


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_conn.cursor()
    # WAL lets `status` read while a send writes; NORMAL sync is durable across a process
    # crash (what the ledger must survive), and much faster than FULL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
