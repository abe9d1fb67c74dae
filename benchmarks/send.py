"""Send one issue to N generated subscribers through the SendGrid transport.

A lean local server (another process: it reads each request and answers 202, nothing
more) stands in for SendGrid, so the figures are ours: subscribers read, payloads built,
requests posted through the `sendgrid` package, ledger written. Prints figures; asserts
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

ROOT = Path(__file__).resolve().parent.parent


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

    series = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
              "SELECT i FROM n") if engine.dialect.name == "sqlite" \
        else "SELECT generate_series(1, :count) AS i"
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO subscribers (email, email_key, name, status, created_at, updated_at) "
            f"SELECT 'reader' || i || '@example.org', 'reader' || i || '@example.org', "
            f"CASE WHEN i % 3 = 0 THEN NULL ELSE 'Reader ' || i END, 'active', "
            f"CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM ({series}) AS s"), {"count": count})


def scenario(url: str, count: int, port: int, concurrency: int, workers: int,
             out: mp.Queue) -> None:  # type: ignore[type-arg]
    os.environ.update({"SENDGRID_API_KEY": "bench", "SENDGRID_HOST": f"http://127.0.0.1:{port}",
                       "NEWSLETTER_SECRET": "bench-secret"})
    from functools import partial

    from newsletter.delivery import transports
    from newsletter.delivery.send import SendOptions, SendRun
    from newsletter.project import Project
    from newsletter.store import db

    engine = db.connect(url)
    fill(engine, count)
    project = Project(ROOT / "newsletter.yaml")
    email = project.render(project.resolve("2024-07-23")).email
    factory = partial(transports.make, "sendgrid", project.publication, project.env,
                      outbox=project.outbox_dir)
    transport = factory()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peaks: dict[int, int] = {}
    watching = threading.Event()
    watcher = threading.Thread(target=watch_children, args=(peaks, watching), daemon=True)
    watcher.start()
    started = time.perf_counter()
    options = SendOptions(concurrency=concurrency, workers=workers)
    report = SendRun(engine, email, transport, options, factory=factory).run()
    wall = time.perf_counter() - started
    watching.set()
    watcher.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.put((wall, report.requests, report.counts["sent"], before / 1024, peak / 1024,
             sum(peaks.values()) / 1024, len(peaks)))


def watch_children(peaks: dict[int, int], done: threading.Event) -> None:
    """Each worker process's peak RSS (VmHWM, in kB), read until the send ends: their
    sum, with this process's own, is what the send costs the machine."""
    while not done.wait(0.1):
        for child in mp.active_children():
            try:
                status = Path(f"/proc/{child.pid}/status").read_text()
            except OSError:
                continue  # it has just ended; its last reading stands
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks[child.pid or 0] = max(peaks.get(child.pid or 0, 0),
                                                int(line.split()[1]))


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
                    queue = ctx.Queue()
                    child = ctx.Process(target=scenario,
                                        args=(url, count, port.value, args.concurrency,
                                              args.workers, queue))
                    child.start()
                    wall, requests, sent, base, peak, workers_sum, seen = \
                        result_of(child, queue)
                    child.join()
                print(f"{kind:8} {count:>9,} recipients, concurrency {args.concurrency}, "
                      f"{args.workers} workers: {wall:6.2f} s wall, {requests:,} "
                      f"requests, {sent:,} sent, {wall / count * 1e6:.1f} us per recipient; "
                      f"peak RSS of all processes {peak + workers_sum:.0f} MB (this one "
                      f"{peak:.0f} MB, {base:.0f} MB before the send; {seen} workers "
                      f"{workers_sum:.0f} MB)", flush=True)
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
