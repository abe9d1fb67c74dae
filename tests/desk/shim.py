"""``newsletter`` for a subprocess test whose pages come from tests/desk/pages.py.

``python -m tests.desk.shim HOST:PORT ARGS...`` runs the real command line with ARGS,
the one difference being the guard's stand-in: HOST:PORT (the local server) is treated
as the public site it stands for. Every other address is judged as for a user.
"""

from __future__ import annotations

import functools
import sys

from newsletter.cli import run
from newsletter.desk import fetch

if __name__ == "__main__":
    stand_in = sys.argv.pop(1)
    fetch.Guard = functools.partial(fetch.Guard, stand_ins={stand_in})  # type: ignore[misc]
    run()
