"""How long `subscribers import` takes for a large CSV file, and how much memory.

Prints figures and asserts nothing. Usage:

    .venv/bin/python benchmarks/import_csv.py [--rows 1000000] [--db sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from common import database


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name,timezone\n")
        for n in range(rows):
            name = f"Reader {n}" if n % 3 else ""
            zone = "Europe/London" if n % 5 == 0 else ""
            out.write(f"reader{n}@example.org,{name},{zone}\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    args = parser.parse_args()
    from newsletter.store import db
    from newsletter.store import subscribers as store

    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "people.csv"
        write_csv(source, args.rows)
        for kind in kinds:
            engine = db.connect(database(kind, folder))
            started = time.perf_counter()
            report = store.import_csv(engine, source)
            wall = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{kind:9} {args.rows:>10,} rows: {wall:6.1f} s wall, {report.added:,} added, "
                  f"{len(report.problems):,} problems, {wall / args.rows * 1e6:.1f} us a row, "
                  f"peak RSS {peak:.0f} MB")
            engine.dispose()


if __name__ == "__main__":
    main()
