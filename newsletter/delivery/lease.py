"""Keeping the lease on an issue while a send runs.

A run renews its lease every ``every`` seconds from a thread of its own; a run that stops
renewing (killed, its machine lost, its job cancelled) lets the lease go stale, and the
next run takes it over (store/ledger.py). If this run finds its lease was taken over (it
was silent too long: a machine suspended, a network partition), it stops sending at once
and says so, rather than share the issue with another run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from newsletter.store.ledger import Ledger


class Heartbeat:
    def __init__(self, ledger: Ledger, owner: str, every: float,
                 lost: Callable[[str], None]) -> None:
        self.ledger, self.owner, self.every, self.lost = ledger, owner, every, lost
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="lease", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()

    def _beat(self) -> None:
        while not self.done.wait(self.every):
            try:
                alive = self.ledger.renew(self.owner)
            except Exception:
                continue
            if not alive:
                self.lost(f"another run took over issue {self.ledger.issue} (this run had not "
                          "renewed its lease in time); this run stopped sending")
                return
