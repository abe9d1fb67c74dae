"""How long `newsletter check` takes over a year of issue files (365), and `build` for one.

Prints figures and asserts nothing. Usage:

    .venv/bin/python benchmarks/check_year.py [--files 365] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEWSLETTER = str(Path(sys.executable).with_name("newsletter"))


def year_of_issues(folder: Path, files: int) -> None:
    example = (ROOT / "issues" / "2024-07-23.yaml").read_text()
    (folder / "issues").mkdir()
    shutil.copy(ROOT / "newsletter.yaml", folder / "newsletter.yaml")
    start = dt.date(2025, 1, 1)
    for n in range(files):
        day = (start + dt.timedelta(days=n)).isoformat()
        (folder / "issues" / f"{day}.yaml").write_text(example.replace("2024-07-23", day))


def timed(command: list[str], folder: Path, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(command, cwd=folder, check=True, capture_output=True)
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=365)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        year_of_issues(folder, args.files)
        check = timed([NEWSLETTER, "check", "--strict"], folder, args.rounds)
        build = timed([NEWSLETTER, "build", "2025-01-01"], folder, max(args.rounds, 5))
    print(f"check --strict of {args.files} files: median {statistics.median(check):.2f} s "
          f"(min {min(check):.2f} s, {args.rounds} rounds)")
    print(f"build of one issue: median {statistics.median(build):.2f} s "
          f"(min {min(build):.2f} s)")


if __name__ == "__main__":
    main()
