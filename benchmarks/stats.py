"""``newsletter stats --days 365`` over a year of daily issues to 1,000,000 readers: the
whole command (a new process, as a person runs it) and the API call alone. Prints
figures; asserts nothing. Usage:

    .venv/bin/python benchmarks/stats.py [--db postgres|sqlite] [--readers 1000000]
                                         [--days 365] [--rounds 5]

What is seeded is what a year leaves: a send per day (its count of readers reached),
each issue's counts by kind, detail and link (store/events.py keeps counts, not a row per
reader), and list growth by the hour. The figures do not grow with the readers: the
counts are numbers, so a list of a million is as quick as one of ten.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PUBLICATION, database
from sqlalchemy import insert


def seed(url: str, readers: int, days: int, today: dt.date) -> None:
    from newsletter.store import db

    engine = db.connect(url)
    rng = random.Random(7)
    sends, counts, moves = [], [], []
    for n in range(days):
        day = today - dt.timedelta(days=n)
        issue = day.isoformat()
        sends.append({"issue": issue, "transport": "sendgrid", "batch_size": 1000,
                      "planned": readers, "sent_count": readers,
                      "created_at": dt.datetime.combine(day, dt.time(6), dt.UTC)})
        for kind, detail, share in (("delivered", "", 0.98), ("bounced", "hard", 0.004),
                                    ("bounced", "soft", 0.01), ("complained", "", 0.0004),
                                    ("unsubscribed", "", 0.001), ("opened", "person", 0.3),
                                    ("opened", "machine", 0.2)):
            counts.append({"issue": issue, "kind": kind, "detail": detail, "link": "",
                           "url": None, "count": int(readers * share * rng.uniform(0.8, 1.2))})
        for story in range(12):
            url = f"https://news.example/{issue}/story-{story}"
            for detail in ("person", "machine"):
                counts.append({"issue": issue, "kind": "clicked", "detail": detail,
                               "link": f"{n:08d}{story:04d}{detail[0]}".ljust(64, "0"),
                               "url": url, "count": int(readers * 0.004 * rng.random())})
        for hour in range(24):
            stamp = f"{issue}T{hour:02d}"
            moves += [{"hour": stamp, "from_state": "new", "to_state": "active",
                       "count": rng.randint(0, 40)},
                      {"hour": stamp, "from_state": "active", "to_state": "unsubscribed",
                       "count": rng.randint(0, 30)}]
    with engine.begin() as conn:
        conn.execute(insert(db.sends), sends)
        conn.execute(insert(db.event_counts), counts)
        conn.execute(insert(db.reader_moves), moves)
    engine.dispose()
    print(f"seeded {days} issues to {readers:,} readers: {len(counts):,} count rows, "
          f"{len(moves):,} hours of growth")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--readers", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from newsletter.api import Newsletter
    from newsletter.config import Environment

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "newsletter.yaml").write_text((PUBLICATION / "newsletter.yaml").read_text())
        url = database(args.db, folder)
        env = Environment.from_environ({"DATABASE_URL": url})
        newsletter = Newsletter(folder / "newsletter.yaml", env=env)
        today = newsletter.today()
        seed(url, args.readers, args.days, today)
        calls = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            span = newsletter.trend(args.days)
            calls.append(time.perf_counter() - started)
        assert len(span.issues) == args.days  # what was seeded is what was read
        command = [str(Path(sys.executable).with_name("newsletter")), "stats", "--days",
                   str(args.days)]
        runs = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            subprocess.run(command, cwd=folder, env={**os.environ, "DATABASE_URL": url},
                           check=True, capture_output=True)
            runs.append(time.perf_counter() - started)
    print(f"stats --days {args.days} ({args.db}): the command {statistics.median(runs):.2f} s "
          f"(median of {args.rounds}; best {min(runs):.2f} s), the API call "
          f"{statistics.median(calls) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
