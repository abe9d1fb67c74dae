"""Reading a provider's suppression lists into the subscriber list (``suppressions sync``).

Each provider that keeps such lists has a suppression source (delivery/providers/base.py):
its lists, each with the status it gives a reader, read from a time to a time. Here each
list is read from the time of its last sync to now and applied, and its mark
(``PROVIDER:LIST``) moves only when the list was read to its end: a reply the source does
not understand is a DeliveryError before anything of that list is applied.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Engine

from newsletter.delivery.providers.base import SuppressionSource
from newsletter.store import subscribers


@dataclass(frozen=True)
class Synced:
    source: str  # PROVIDER:LIST
    read: int  # entries read from the provider
    marked: int  # subscribers whose status changed


def sync(engine: Engine, provider: str, source: SuppressionSource) -> list[Synced]:
    """Read every list of ``source`` since its last sync and apply it; one Synced each."""
    now = int(time.time())
    done = []
    for listed in source.lists():
        mark = f"{provider}:{listed.name}"
        emails = source.read(listed, subscribers.get_mark(engine, mark), now)
        done.append(Synced(mark, len(emails),
                           subscribers.mark_left(engine, emails, listed.status)))
        subscribers.set_mark(engine, mark, now)
    return done
