"""SendGrid's suppression lists, as a suppression source (delivery/suppressions.py
applies them).

For a publication that runs from CI alone, with no server to take the Event Webhook:
before each send, `newsletter suppressions sync` reads what SendGrid learnt since the last
sync (bounces, blocks, spam reports, invalid addresses, global unsubscribes, and the
unsubscribe group's suppressions when one is set), through the ``sendgrid`` package's
client. Each list is read page by page (``limit``/``offset``) from the time of the last
sync (``start_time``). A reply it does not understand is an error, never an empty list.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from newsletter.delivery.providers.base import SuppressionList, Transport
from newsletter.delivery.providers.sendgrid.transport import SendGridTransport
from newsletter.errors import DeliveryError
from newsletter.store.states import Status

PAGE = 500  # SendGrid's largest page for these lists
# list -> (the path under /v3/suppression, the status it gives a reader)
LISTS = {
    "bounces": Status.BOUNCED, "blocks": Status.BOUNCED, "invalid_emails": Status.BOUNCED,
    "spam_reports": Status.COMPLAINED, "unsubscribes": Status.UNSUBSCRIBED,
}


GROUP = "group"  # the unsubscribe group's list: "group 77"


class SendGridSuppressions:
    """The lists of :data:`LISTS`, and the unsubscribe group's when one is set."""

    def __init__(self, transport: SendGridTransport) -> None:
        self.transport = transport

    def lists(self) -> Sequence[SuppressionList]:
        found = [SuppressionList(name, status) for name, status in LISTS.items()]
        if self.transport.asm:
            found.append(SuppressionList(f"{GROUP} {self.transport.asm}",
                                         Status.UNSUBSCRIBED))
        return found

    def read(self, listed: SuppressionList, since: int, until: int) -> list[str]:
        if listed.name.startswith(f"{GROUP} "):  # addresses only, no paging, no time
            return self._group()
        return list(_pages(self.transport, listed.name, since, until))

    def _group(self) -> list[str]:
        group = self.transport.asm
        body = self.transport.api.sdk(lambda api: api.asm.groups._(str(group)).suppressions.get())
        return _group_entries(_json_list(body, f"the unsubscribe group {group}"))


def source(transport: Transport) -> SendGridSuppressions:
    assert isinstance(transport, SendGridTransport)  # the registry makes it from ours
    return SendGridSuppressions(transport)


def _pages(transport: SendGridTransport, name: str, since: int, until: int
           ) -> Iterator[str]:
    """The addresses on list ``name`` from ``since`` to ``until``, every page read."""
    offset = 0
    while True:
        params = {"start_time": since, "end_time": until, "limit": PAGE, "offset": offset}
        body = transport.api.sdk(
            lambda api: api.suppression._(name).get(query_params=params))  # noqa: B023
        where = f"the {name} list (offset {offset})"
        page = _json_list(body, where)
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
