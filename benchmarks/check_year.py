"""How long `newsletter check` takes over a year of issue files (365), and `build` for one.

Each command runs as an installed one does: Python's bytecode caches are written on the
first run (kept in a temporary folder, not beside the sources) and read on the rest. An
install compiles them when it is made, and Python writes them on first import, unless
PYTHONDONTWRITEBYTECODE is set, as on some CI machines; then every run compiles our
modules again. The first run, which writes them, is printed apart.

Prints figures and asserts nothing. Usage:

    .venv/bin/python benchmarks/check_year.py [--files 365] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PUBLICATION

NEWSLETTER = str(Path(sys.executable).with_name("newsletter"))


def year_of_issues(folder: Path, files: int) -> None:
    example = (PUBLICATION / "issues" / "2024-07-23.yaml").read_text()
    (folder / "issues").mkdir()
    shutil.copy(PUBLICATION / "newsletter.yaml", folder / "newsletter.yaml")
    start = dt.date(2025, 1, 1)
    for n in range(files):
        day = (start + dt.timedelta(days=n)).isoformat()
        (folder / "issues" / f"{day}.yaml").write_text(example.replace("2024-07-23", day))


def with_bytecode_caches(cache: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(cache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(command: list[str], folder: Path, env: dict[str, str], rounds: int
          ) -> tuple[float, list[float]]:
    """The first run (writing bytecode caches) and the rounds after it."""
    out = []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        subprocess.run(command, cwd=folder, env=env, check=True, capture_output=True)
        out.append(time.perf_counter() - started)
    return out[0], out[1:]


def report(what: str, first: float, rounds: list[float]) -> None:
    print(f"{what}: median {statistics.median(rounds):.2f} s (min {min(rounds):.2f} s, "
          f"{len(rounds)} rounds; the first run, writing bytecode caches: {first:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=365)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "project"
        folder.mkdir()
        year_of_issues(folder, args.files)
        check = timed([NEWSLETTER, "check", "--strict"], folder,
                      with_bytecode_caches(Path(tmp) / "check"), args.rounds)
        build = timed([NEWSLETTER, "build", "2025-01-01"], folder,
                      with_bytecode_caches(Path(tmp) / "build"), max(args.rounds, 5))
    report(f"check --strict of {args.files} files", *check)
    report("build of one issue", *build)


if __name__ == "__main__":
    main()
