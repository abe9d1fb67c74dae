"""Reading SendGrid's suppression lists into the subscriber list.

For a publication that runs from CI alone, with no server to take the Event Webhook:
before each send, `newsletter suppressions sync` reads what SendGrid learnt since the last
sync (bounces, blocks, spam reports, invalid addresses, global unsubscribes, and the
unsubscribe group's suppressions when one is set) and marks those readers, so they are
not mailed again. Each list is read page by page (``limit``/``offset``) from the time of
the last sync (``start_time``); the mark moves only when a list was read to its end.
A reply it does not understand is an error, never an empty list.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from newsletter.delivery.transports.sendgrid import SendGridTransport
from newsletter.errors import DeliveryError
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
    """Read every list since its last sync and apply it; one Synced per list.

    A reply that is not what SendGrid documents (not JSON, not a list, an entry without
    ``email`` or ``created``) stops the sync with a DeliveryError before anything of that
    list is applied, so its mark stays and the next sync asks for the same again."""
    now = int(time.time())
    done = []
    for name, status in LISTS.items():
        source = f"sendgrid:{name}"
        since = subscribers.get_mark(engine, source)
        emails = list(_pages(transport, name, since, now))
        done.append(Synced(source, len(emails), subscribers.mark_left(engine, emails, status)))
        subscribers.set_mark(engine, source, now)
    group = transport.asm
    if group:  # the unsubscribe group's own list: addresses only, no paging
        response = transport.call(lambda: transport.client.client.asm.groups._(group)
                                  .suppressions.get())
        emails = _group_entries(_json_list(response.body, f"the unsubscribe group {group}"))
        done.append(Synced(f"sendgrid:group {group}", len(emails),
                           subscribers.mark_left(engine, emails, "unsubscribed")))
    return done


def _pages(transport: SendGridTransport, name: str, since: int, until: int
           ) -> Iterator[str]:
    """The addresses on list ``name`` from ``since`` to ``until``, every page read."""
    offset = 0
    while True:
        params = {"start_time": since, "end_time": until, "limit": PAGE, "offset": offset}
        endpoint = getattr(transport.client.client.suppression, name)
        response = transport.call(lambda e=endpoint, p=params: e.get(query_params=p))
        where = f"the {name} list (offset {offset})"
        page = _json_list(response.body, where)
        yield from _entries(page, where)
        if len(page) < PAGE:
            return
        offset += PAGE


def _json_list(body: bytes | str | None, where: str) -> list[Any]:
    """The body as a JSON list (an empty body is an empty list), else a DeliveryError
    that says what came instead and never quotes it (it may hold addresses)."""
    try:
        data = json.loads(body or b"[]")
    except ValueError:
        raise _unexpected(where, f"a body that is not JSON ({len(body or b'')} bytes)") \
            from None
    if not isinstance(data, list):
        raise _unexpected(where, f"a JSON {_kind(data)}, not a list")
    return data


def _entries(page: list[Any], where: str) -> list[str]:
    for number, entry in enumerate(page, 1):
        if not isinstance(entry, dict):
            raise _unexpected(where, f"entry {number}, a JSON {_kind(entry)}, not an object")
        for key, kind in (("email", str), ("created", int)):
            value = entry.get(key)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise _unexpected(where, f"entry {number} without {key!r} "
                                         f"(a {'string' if kind is str else 'Unix time'})")
    return [entry["email"] for entry in page]


def _group_entries(page: list[Any]) -> list[str]:
    for number, entry in enumerate(page, 1):
        if not isinstance(entry, str):
            raise _unexpected("the unsubscribe group",
                              f"entry {number}, a JSON {_kind(entry)}, not an address")
    return page


def _kind(value: object) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "true or false",
             int: "number", float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _unexpected(where: str, what: str) -> DeliveryError:
    return DeliveryError(f"suppressions sync: SendGrid answered {where} with {what}; "
                         "nothing of that list was applied and its mark was not moved")
