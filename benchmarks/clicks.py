"""The click redirect under load: ``GET /c/TOKEN`` on one ``newsletter serve`` worker
over PostgreSQL (or SQLite), driven by wrk (Debian's package) from this machine. Prints
wrk's requests a second and latency percentiles, then the clicks counted once the
service stopped (one client's same link counts once an hour, so wrk's one client counts
each link once). Asserts nothing. Usage:

    .venv/bin/python benchmarks/clicks.py [--db postgres|sqlite] [--seconds 10]
                                          [--connections 64] [--links 5]

The links are those of one issue; wrk's script takes them in turn, so one client opens
several links within seconds and is counted as a scanner (a machine). Every redirect
still goes through the counting in memory; repeats are only not written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import database, free_port, service_settings, wait_until_up
from sqlalchemy import create_engine, text

SECRET = "bench-secret-of-at-least-thirty-two-bytes"  # serve refuses a shorter one
DAY = dt.date(2024, 7, 23)


def wrk_script(paths: list[str], folder: Path) -> Path:
    """A wrk script that asks for each link in turn."""
    listed = ", ".join(f'"{p}"' for p in paths)
    script = folder / "links.lua"
    script.write_text(f"local paths = {{{listed}}}\nlocal n = 0\n"
                      "request = function()\n  n = n % #paths + 1\n"
                      "  return wrk.format(\"GET\", paths[n])\nend\n")
    return script


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--links", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    from newsletter import clicks

    key = clicks.key(SECRET.encode())
    paths = [f"/c/{clicks.make(key, DAY, f'https://news.example/story-{n}')}"
             for n in range(args.links)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        service_settings(folder, port)
        url = database(args.db, folder)
        env = {**os.environ, "DATABASE_URL": url, "NEWSLETTER_SECRET": SECRET}
        server = subprocess.Popen([str(Path(sys.executable).with_name("newsletter")), "serve",
                                   "--port", str(port)], cwd=folder, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base, 60)
            done = subprocess.run(["wrk", "-t2", f"-c{args.connections}",
                                   f"-d{args.seconds}s", "--latency", "-s",
                                   str(wrk_script(paths, folder)), base],
                                  capture_output=True, text=True, check=True).stdout
        finally:
            server.terminate()
            server.wait(60)
        report(done, url)


def report(wrk: str, url: str) -> None:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", wrk)
    total = re.search(r"(\d+) requests in", wrk)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
    print(f"redirects: {float(rate.group(1)) if rate else 0:,.0f} a second on one worker "
          f"({int(total.group(1)) if total else 0:,} in all, "
          f"{int(errors.group(1)) if errors else 0} not 302)")
    for percentile in ("50", "90", "99"):
        found = re.search(rf"^\s+{percentile}%\s+(\S+)", wrk, re.M)
        print(f"  latency p{percentile}: {found.group(1) if found else '?'}")
    engine = create_engine(url)
    with engine.connect() as conn:
        counted = conn.execute(text("SELECT coalesce(sum(count), 0) FROM event_counts "
                                    "WHERE kind = 'clicked'")).scalar_one()
    engine.dispose()
    print(f"clicks counted once the service stopped: {int(counted):,} (the same client's "
          "same link counts once an hour)")


if __name__ == "__main__":
    main()
