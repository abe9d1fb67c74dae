"""Send one issue to N generated subscribers through the SendGrid transport.

A lean local server (another process: it reads each request and answers 202, nothing
more) stands in for SendGrid, so the figures are ours: the issue rendered and checked,
subscribers read, payloads built, requests posted through the `sendgrid` package, ledger
written, all as `newsletter send` does it (the API's send). Prints figures; asserts
nothing. Run from the repository root:

    .venv/bin/python benchmarks/send.py                       # 100,000 and 1,000,000 on SQLite
    .venv/bin/python benchmarks/send.py --db postgres --counts 100000
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from queue import Empty

from common import PUBLICATION


class Lean(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(202)
        self.send_header("X-Message-Id", "bench")
        self.send_header("Content-Length", "0")
        self.end_headers()


def serve(port: mp.Value) -> None:  # type: ignore[valid-type]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Lean)
    port.value = server.server_address[1]
    server.serve_forever()


def fill(engine, count: int) -> None:  # type: ignore[no-untyped-def]
    """Generate ``count`` active subscribers in SQL, without Python-side rows."""
    from sqlalchemy import text

    from newsletter.store.db import KEY_SQL

    series = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
              "SELECT i FROM n") if engine.dialect.name == "sqlite" \
        else "SELECT generate_series(1, :count) AS i"
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO subscribers (email, email_key, name, status, created_at, updated_at, "
            f"link_key) SELECT 'reader' || i || '@example.org', 'reader' || i || '@example.org', "
            f"CASE WHEN i % 3 = 0 THEN NULL ELSE 'Reader ' || i END, 'active', "
            f"CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, {KEY_SQL[engine.dialect.name]} "
            f"FROM ({series}) AS s"), {"count": count})


def populate(url: str, count: int) -> None:
    from sqlalchemy import text

    from newsletter.store import db

    engine = db.connect(url)
    fill(engine, count)
    if engine.dialect.name == "sqlite":  # as a database that has been in use is
        with engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()


def scenario(url: str, count: int, port: int, concurrency: int, workers: int,
             out: mp.Queue) -> None:  # type: ignore[type-arg]
    os.environ.update({"SENDGRID_API_KEY": "bench", "SENDGRID_HOST": f"http://127.0.0.1:{port}",
                       "NEWSLETTER_SECRET": "bench-secret", "DATABASE_URL": url})
    from newsletter import Newsletter, SendOptions

    # As `newsletter send` does it, from the API: with workers, the email is rendered in
    # a short-lived process of its own, so this one never loads the renderer.
    newsletter = Newsletter(PUBLICATION / "newsletter.yaml")
    newsletter.engine  # noqa: B018 - opened (and migrated) before the clock starts
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    options = SendOptions(transport="sendgrid", concurrency=concurrency, workers=workers)
    report = newsletter.send("2024-07-23", options)
    wall = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF)
    helpers = resource.getrusage(resource.RUSAGE_CHILDREN)  # renderer and workers, reaped
    cpu = (own.ru_utime + own.ru_stime, helpers.ru_utime + helpers.ru_stime)
    out.put((wall, report.requests, report.counts["sent"], before / 1024,
             own.ru_maxrss / 1024, *cpu))


def watch(root: int, peaks: dict[int, int], done: threading.Event) -> None:
    """What the send's processes hold together, read from /proc every 50 ms by this
    process (so that the reading costs the send nothing) until it ends: ``peaks[0]`` is
    the largest sum at one moment of the resident memory of ``root`` and all its
    descendants (kB); ``peaks[pid]`` is each descendant's own peak (VmHWM). Processes
    that never run at the same time (the one that renders, then the workers) are not
    added up."""
    while not done.wait(0.05):
        tree = _descendants(root)
        peaks[0] = max(peaks.get(0, 0), sum(_status_kb(pid, "VmRSS") for pid in [root, *tree]))
        for pid in tree:
            peaks[pid] = max(peaks.get(pid, 0), _status_kb(pid, "VmHWM"))


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = [int(c) for c in task.read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def _status_kb(pid: int, field: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0  # it has just ended
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def result_of(child: mp.Process, queue: mp.Queue) -> tuple[float, ...]:  # type: ignore[type-arg]
    while True:
        try:
            return queue.get(timeout=1)
        except Empty:
            if not child.is_alive():
                raise SystemExit(f"the send failed (exit code {child.exitcode})") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes (as newsletter send --workers)")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    port = ctx.Value("i", 0)
    server = ctx.Process(target=serve, args=(port,), daemon=True)
    server.start()
    while not port.value:
        time.sleep(0.01)
    # Imported here, not at the top: worker processes re-import this module, and should
    # load what a worker of `newsletter send` loads, no more.
    from common import fresh_postgres

    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    try:
        for kind in kinds:
            for count in args.counts:
                with tempfile.TemporaryDirectory() as tmp:
                    url = f"sqlite:///{tmp}/bench.sqlite3" if kind == "sqlite" else fresh_postgres()
                    filler = ctx.Process(target=populate, args=(url, count))
                    filler.start()
                    filler.join()
                    queue = ctx.Queue()
                    child = ctx.Process(target=scenario,
                                        args=(url, count, port.value, args.concurrency,
                                              args.workers, queue))
                    child.start()
                    peaks: dict[int, int] = {}
                    done = threading.Event()
                    watcher = threading.Thread(target=watch, args=(child.pid, peaks, done),
                                               daemon=True)
                    watcher.start()
                    wall, requests, sent, base, peak, cpu, helper_cpu = result_of(child, queue)
                    done.set()
                    watcher.join()
                    child.join()
                    together = peaks.pop(0, 0) / 1024
                    largest, others = max(peaks.values(), default=0) / 1024, len(peaks)
                print(f"{kind:8} {count:>9,} recipients, concurrency {args.concurrency}, "
                      f"{args.workers} workers: {wall:6.2f} s wall, {requests:,} "
                      f"requests, {sent:,} sent, {wall / count * 1e6:.1f} us per recipient; "
                      f"peak RSS of all processes together {together:.0f} MB (this one "
                      f"{peak:.0f} MB, {base:.0f} MB before the send; {others} other "
                      f"processes, each at most {largest:.0f} MB); CPU time: the sender "
                      f"{cpu:.1f} s, the processes it started {helper_cpu:.1f} s", flush=True)
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
