"""Can a stranger tell who reads the newsletter from how fast the subscribe form answers?

Starts a real `newsletter serve` (uvicorn, in a process of its own) over SQLite or
PostgreSQL with readers on file, then probes `POST /subscribe` as an attacker would:
addresses of readers (active) and addresses nobody has used, in a random order, one at a
time, timing each answer. Then it looks for the best rule "slower than T means a
reader" (or faster): chosen on one half of the probes and scored on the other, so a rule
that only fits noise scores near 50%. It also prints the in-sample best, which is
optimistic by construction. The mailer runs as in production: what it does for each
address (nothing for a reader, an email for a stranger) happens on its own beat.

Prints figures and asserts nothing. Usage:

    .venv/bin/python benchmarks/membership.py [--probes 400] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import PUBLICATION, database, free_port, wait_until_up
from sqlalchemy import text

SECRET = "bench-secret-of-at-least-thirty-two-bytes"
READERS = 2_000


def fill(url: str) -> None:
    from newsletter.store import db

    engine = db.connect(url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO subscribers (email, email_key, status, created_at, updated_at, "
            f"link_key) VALUES (:e, :e, 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, "
            f"{db.KEY_SQL[engine.dialect.name]})"),
            [{"e": f"member{n}@example.org"} for n in range(READERS)])
    engine.dispose()


def serve(folder: Path, url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": url, "NEWSLETTER_SECRET": SECRET}
    return subprocess.Popen([str(Path(sys.executable).with_name("newsletter")), "serve",
                             "--port", str(port)], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def probe(base: str, count: int) -> list[tuple[bool, float]]:
    """(is a reader, seconds) for ``count`` probes, readers and strangers in random
    order, each address used once."""
    rng = random.Random(7)
    kinds = [n % 2 == 0 for n in range(count)]
    rng.shuffle(kinds)
    found = []
    with httpx.Client(base_url=base) as client:
        client.post("/subscribe", data={"email": "warm@example.org"})  # connect, warm up
        for n, member in enumerate(kinds):
            address = f"member{n}@example.org" if member else f"stranger{n}@example.org"
            started = time.perf_counter()
            answer = client.post("/subscribe", data={"email": address})
            found.append((member, time.perf_counter() - started))
            assert answer.status_code == 200, answer.status_code
            time.sleep(rng.uniform(0.0, 0.02))
    return found


def best_rule(sample: list[tuple[bool, float]]) -> tuple[float, bool]:
    """The threshold, and its direction, that sorts ``sample`` best."""
    best = (0.0, 0.0, True)
    for threshold in sorted(t for _, t in sample):
        for slower_is_member in (True, False):
            right = sum((t > threshold) == (m if slower_is_member else not m) for m, t in sample)
            best = max(best, (right / len(sample), threshold, slower_is_member))
    return best[1], best[2]


def accuracy(sample: list[tuple[bool, float]], rule: tuple[float, bool]) -> float:
    threshold, slower_is_member = rule
    return sum((t > threshold) == (m if slower_is_member else not m)
               for m, t in sample) / len(sample)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--probes", type=int, default=400)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "newsletter.yaml").write_text(
            (PUBLICATION / "newsletter.yaml").read_text() + "\nreaders:\n"
            "  service_url: https://readers.example\n"
            f"  requests_per_hour: {args.probes * 10}\n")
        url = database(args.db, folder)
        fill(url)

        port = free_port()
        server = serve(folder, url, port)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base)
            results = probe(base, args.probes)
        finally:
            server.terminate()
            server.wait(30)
    report(results, args.db)


def report(results: list[tuple[bool, float]], db: str) -> None:
    members = [t * 1000 for m, t in results if m]
    strangers = [t * 1000 for m, t in results if not m]
    half = len(results) // 2
    rule = best_rule(results[:half])
    print(f"{len(results)} probes on {db}: readers median {statistics.median(members):.2f} ms, "
          f"strangers median {statistics.median(strangers):.2f} ms")
    print(f"best threshold rule, chosen on the first half, scored on the second: "
          f"{accuracy(results[half:], rule):.1%} right (50% is a coin)")
    print(f"best threshold rule in-sample (optimistic): "
          f"{accuracy(results, best_rule(results)):.1%} right")


if __name__ == "__main__":
    main()
