"""What the benchmarks share: a database of their own, never the tests' tables."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, text

SERVER = os.environ.get("NEWSLETTER_BENCH_POSTGRES",
                        "postgresql+psycopg://postgres@127.0.0.1:5432")
# The publication measured: the suite's own (the example issues and settings), so that the
# figures do not move when a publication made from this repository changes its own.
PUBLICATION = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "publication"
# Its own name per engineer or branch when several measure on one server at once.
BENCH_DB = os.environ.get("NEWSLETTER_BENCH_DB", "newsletter_bench")


def fresh_postgres() -> str:
    """The URL of an empty benchmark database on the PostgreSQL server."""
    admin = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DB}"))
        conn.execute(text(f"CREATE DATABASE {BENCH_DB}"))
    admin.dispose()
    return f"{SERVER}/{BENCH_DB}"


def database(kind: str, folder: Path) -> str:
    """A fresh database of ``kind`` (sqlite in ``folder``, or postgres)."""
    return f"sqlite:///{folder / 'bench.sqlite3'}" if kind == "sqlite" else fresh_postgres()


def wait_until_up(base: str, seconds: float = 10.0) -> None:
    """Wait for a service started in another process to answer ``/health``."""
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/health")
            return
        except httpx.TransportError:
            time.sleep(0.05)


def free_port() -> int:
    """A port on loopback that nothing listens on now, for a service started beside."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_settings(folder: Path, port: int) -> None:
    """The test publication's settings in ``folder``, its ``readers.service_url`` the
    service about to be started on ``port``."""
    (folder / "newsletter.yaml").write_text((PUBLICATION / "newsletter.yaml").read_text() +
                                            f"readers:\n  service_url: http://127.0.0.1:{port}\n")
