"""Reading SendGrid's suppression lists into the subscriber list.

For a publication that runs from CI alone, with no server to take the Event Webhook:
before each send, `newsletter suppressions sync` reads what SendGrid learnt since the last
sync (bounces, blocks, spam reports, invalid addresses, global unsubscribes, and the
unsubscribe group's suppressions when one is set) and marks those readers, so they are
not mailed again. Each list is read page by page (``limit``/``offset``) from the time of
the last sync (``start_time``); the mark moves only when a list was read to its end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from newsletter.delivery.transports.sendgrid import SendGridTransport
from newsletter.store import subscribers

PAGE = 500  # SendGrid's largest page for these lists
# list -> (the path under /v3/suppression, the status it gives a reader)
LISTS = {
    "bounces": "bounced", "blocks": "bounced", "invalid_emails": "bounced",
    "spam_reports": "complained", "unsubscribes": "unsubscribed",
}


@dataclass(frozen=True)
class Synced:
    source: str
    read: int  # entries read from the provider
    marked: int  # subscribers whose status changed


def sync(engine: Engine, transport: SendGridTransport) -> list[Synced]:
    """Read every list since its last sync and apply it; one Synced per list."""
    now = int(time.time())
    done = []
    for name, status in LISTS.items():
        source = f"sendgrid:{name}"
        since = subscribers.get_mark(engine, source)
        emails = [entry["email"] for entry in _pages(transport, name, since, now)
                  if isinstance(entry, dict) and isinstance(entry.get("email"), str)]
        done.append(Synced(source, len(emails), subscribers.mark_left(engine, emails, status)))
        subscribers.set_mark(engine, source, now)
    group = transport.asm
    if group:  # the unsubscribe group's own list: addresses only, no paging
        response = transport.call(lambda: transport.client.client.asm.groups._(group)
                                  .suppressions.get())
        emails = [e for e in json.loads(response.body or b"[]") if isinstance(e, str)]
        done.append(Synced(f"sendgrid:group {group}", len(emails),
                           subscribers.mark_left(engine, emails, "unsubscribed")))
    return done


def _pages(transport: SendGridTransport, name: str, since: int, until: int
           ) -> Iterator[Any]:
    offset = 0
    while True:
        params = {"start_time": since, "end_time": until, "limit": PAGE, "offset": offset}
        endpoint = getattr(transport.client.client.suppression, name)
        response = transport.call(lambda e=endpoint, p=params: e.get(query_params=p))
        page = json.loads(response.body or b"[]")
        if not isinstance(page, list):
            return
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE
