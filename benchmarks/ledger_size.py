"""How many bytes the ledger costs per recipient, when a send is planned and once it has
finished (every batch claimed and settled, then compacted), on SQLite and PostgreSQL, and
how long the plan, and claiming and settling every batch, take. Prints figures and
asserts nothing. Usage:

    .venv/bin/python benchmarks/ledger_size.py [--recipients 1000000] [--db sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import fresh_postgres
from sqlalchemy import Engine, inspect, text

from newsletter.store.db import KEY_SQL

# batch_readers from revision 0012 to 0014 (before and since, a batch's readers are a
# column on its row: text until 0011, a typed array or JSON list from 0016).
TABLES = ("sends", "batches", "deliveries", "batch_readers")


def fill(engine: Engine, count: int) -> None:
    series = ("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :count) "
              "SELECT i FROM s") if engine.dialect.name == "sqlite" else \
        "SELECT generate_series(1, :count) AS i"
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO subscribers (email, email_key, name, timezone, status, created_at, "
            "updated_at, link_key) SELECT 'reader' || i || '@example.org', 'reader' || i || "
            "'@example.org', NULL, NULL, 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, "
            f"{KEY_SQL[engine.dialect.name]} FROM ({series}) AS s"), {"count": count})


def tables(engine: Engine) -> list[str]:
    """The ledger's tables this revision has."""
    return [t for t in TABLES if inspect(engine).has_table(t)]


def ledger_bytes(engine: Engine) -> int:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return sum(int(conn.execute(text(f"SELECT pg_total_relation_size('{t}')"))
                           .scalar_one()) for t in tables(engine))
        # SQLite: the pages the ledger's tables and indexes use (dbstat).
        return int(conn.execute(text(
            "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN "
            "('sends', 'batches', 'deliveries', 'batch_readers', 'ix_batches_state', "
            "'ix_batch_readers_subscriber') OR name LIKE 'sqlite_autoindex_sends%' "
            "OR name LIKE 'sqlite_autoindex_batches%' "
            "OR name LIKE 'sqlite_autoindex_deliveries%'")).scalar_one())


def measure(kind: str, url: str, count: int) -> None:
    from newsletter.store import db
    from newsletter.store.ledger import Content, Lease, Ledger

    engine = db.connect(url)
    fill(engine, count)
    ledger = Ledger(engine, "2024-07-23")
    started = time.perf_counter()
    ledger.begin("outbox", 1000, Content("x" * 64, "subject"), Lease("bench:1:a"))
    planning = time.perf_counter() - started
    before = ledger_bytes(engine)  # planned: the audience fixed, nothing sent yet
    started = time.perf_counter()
    for number in ledger.pending_batches():  # every batch sent, as a send settles them
        ledger.claim(number)
        ledger.settle(number, "bench", {})
    ledger.finish_if_done()
    batches = time.perf_counter() - started
    # The space freed is measured, not the files' size, which neither database shrinks
    # on its own.
    if kind == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables(engine):
                conn.execute(text(f"VACUUM FULL {table}"))
    else:
        with engine.connect() as conn:
            conn.execute(text("VACUUM"))
    after = ledger_bytes(engine)
    print(f"{kind:10} {count:>10,} recipients: ledger {before / 1e6:8.1f} MB planned "
          f"({before / count:5.1f} bytes a recipient), {after / 1e6:6.2f} MB finished "
          f"({after / count:5.2f} bytes a recipient); plan {planning:.2f} s, every batch "
          f"claimed and settled {batches:.2f} s")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.db in ("sqlite", "both"):
            measure("sqlite", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", args.recipients)
        if args.db in ("postgres", "both"):
            measure("postgresql", fresh_postgres(), args.recipients)


if __name__ == "__main__":
    main()
