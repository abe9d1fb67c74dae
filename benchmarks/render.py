"""How long one issue takes from YAML to finished HTML and text, and `newsletter build`.

Prints figures; asserts nothing. Run from the repository root:

    .venv/bin/python benchmarks/render.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PUBLICATION

from newsletter.project import Project


def in_process(project: Project, path: Path, rounds: int) -> list[float]:
    project.render(path)  # warm: templates compiled, parsers built
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        project.render(path)
        times.append(time.perf_counter() - start)
    return times


def cli_build(day: str, rounds: int) -> list[float]:
    exe = Path(sys.executable).with_name("newsletter")
    times = []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(rounds):
            start = time.perf_counter()
            subprocess.run([str(exe), "build", day, "--out", out], cwd=PUBLICATION, check=True,
                           capture_output=True)
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--cli-rounds", type=int, default=10)
    args = parser.parse_args()
    project = Project(PUBLICATION / "newsletter.yaml")
    for path in project.issue_files():
        times = in_process(project, path, args.rounds)
        size = project.render(path).email.html_bytes
        print(f"render {path.name}: median {statistics.median(times) * 1000:.2f} ms, "
              f"p95 {sorted(times)[int(len(times) * 0.95)] * 1000:.2f} ms "
              f"over {args.rounds} rounds; HTML {size:,} bytes")
    day = project.issue_files()[0].stem
    wall = cli_build(day, args.cli_rounds)
    print(f"newsletter build {day}: median wall {statistics.median(wall):.3f} s, "
          f"min {min(wall):.3f} s over {args.cli_rounds} runs")


if __name__ == "__main__":
    main()
