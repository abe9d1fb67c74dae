"""SES's account-level suppression list, as a suppression source (delivery/suppressions.py
applies it).

SES keeps one list per account and region, each address with its reason, BOUNCE or
COMPLAINT; a send to an address on it is not attempted (SES reports it as a bounce).
`newsletter suppressions sync` reads it as two lists, ``bounces`` and ``complaints``,
through ListSuppressedDestinations: by reason, from the time of the last sync
(``StartDate``, ``EndDate``, on the time each address was last put there), page by page
(``NextToken``). Every page is read and checked before the list is returned; a reply
that is not what SES documents is an error, never an empty list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from newsletter.delivery.providers.base import SuppressionList, Transport
from newsletter.delivery.providers.ses.transport import Refusal, SesTransport
from newsletter.errors import DeliveryError
from newsletter.store.states import Status

PAGE = 1000  # SES's largest page
# list -> (SES's reason, the status it gives a reader)
LISTS = {"bounces": ("BOUNCE", Status.BOUNCED),
         "complaints": ("COMPLAINT", Status.COMPLAINED)}
_MOST_PAGES = 100_000  # a hundred million addresses: past that, a server that never ends


class SesSuppressions:
    """The account's suppression list, by reason."""

    def __init__(self, transport: SesTransport) -> None:
        self.transport = transport

    def lists(self) -> Sequence[SuppressionList]:
        return [SuppressionList(name, status) for name, (_, status) in LISTS.items()]

    def read(self, listed: SuppressionList, since: int, until: int) -> list[str]:
        reason = LISTS[listed.name][0]
        return [address for page in self._pages(reason, since, until)
                for address in _entries(page, reason, listed.name)]

    def _pages(self, reason: str, since: int, until: int) -> Iterator[Any]:
        query: dict[str, Any] = {"Reasons": [reason], "PageSize": PAGE,
                                 "StartDate": dt.datetime.fromtimestamp(since, dt.UTC),
                                 "EndDate": dt.datetime.fromtimestamp(until, dt.UTC)}
        seen: set[str] = set()
        for _ in range(_MOST_PAGES):
            page = self._ask(query)
            yield page
            token = page.get("NextToken") if isinstance(page, dict) else None
            if token is None:
                return
            if not isinstance(token, str) or not token or token in seen:
                raise _unexpected(reason, "a page token that is not new text")
            seen.add(token)
            query["NextToken"] = token
        raise _unexpected(reason, f"more than {_MOST_PAGES:,} pages")

    def _ask(self, query: dict[str, Any]) -> Any:
        client = self.transport.client
        try:
            return self.transport.call(lambda: client.list_suppressed_destinations(**query))
        except Refusal as exc:  # SES's words about the request: nothing to apply
            raise DeliveryError(f"suppressions sync: {exc}") from None
        except (AttributeError, TypeError, ValueError, KeyError):
            # botocore's parser meets a reply of another shape than SES's model with
            # whatever error the mismatch happens to make.
            raise _unexpected(query["Reasons"][0], "a reply that its model cannot read"
                              ) from None


def source(transport: Transport) -> SesSuppressions:
    assert isinstance(transport, SesTransport)  # the registry makes it from ours
    return SesSuppressions(transport)


def _entries(page: Any, reason: str, name: str) -> list[str]:
    """The addresses of one page, each entry checked against SES's documented shape."""
    if not isinstance(page, dict):
        raise _unexpected(reason, "a reply that is not an object")
    summaries = page.get("SuppressedDestinationSummaries", [])
    if not isinstance(summaries, list):
        raise _unexpected(reason, "summaries that are not a list")
    found = []
    for number, entry in enumerate(summaries, 1):
        address = entry.get("EmailAddress") if isinstance(entry, dict) else None
        if not isinstance(address, str) or "@" not in address:
            raise _unexpected(reason, f"entry {number} without an address")
        if entry.get("Reason") != reason:
            raise _unexpected(reason, f"entry {number} with another reason than {reason}")
        if not isinstance(entry.get("LastUpdateTime"), dt.datetime):
            raise _unexpected(reason, f"entry {number} without a time")
        found.append(address)
    return found


def _unexpected(reason: str, what: str) -> DeliveryError:
    return DeliveryError(f"suppressions sync: SES answered the suppression list ({reason}) "
                         f"with {what}; nothing of that list was applied and its mark was "
                         "not moved")
