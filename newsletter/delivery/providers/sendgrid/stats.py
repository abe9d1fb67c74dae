"""SendGrid's category statistics, as a stats source (``stats sync``).

Every message of an issue carries the category ``issue-DATE`` (transport.py), so
``GET /v3/categories/stats`` with that one category gives the issue's own figures, by
day, from the day before the issue's date (a reader far east gets it then, in UTC) to
today. The days are added up. What SendGrid counts, in our words:

    processed                       accepted
    delivered, deferred             delivered, deferred
    bounces, blocks                 bounced, hard and soft
    bounce_drops, spam_report_drops dropped, for a bounce, a spam report,
    unsubscribe_drops, invalid_emails   an unsubscribe, an invalid address
    spam_reports, unsubscribes      complained, unsubscribed
    opens, clicks                   opened, clicked (no detail: SendGrid does not split
                                    a machine's opens here, nor clicks by link)

``requests``, ``unique_opens`` and ``unique_clicks`` are not kept: the figures here are
counts of events, as the webhook's are. The API key needs the ``stats.read`` permission.
A reply that is not what SendGrid documents is an error, never zero.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from newsletter.delivery.providers.base import IssueStats, Transport
from newsletter.delivery.providers.sendgrid.transport import SendGridTransport
from newsletter.errors import DeliveryError, TransportRejected, TransportUnavailable
from newsletter.store.vocabulary import Detail, Kind

METRICS: dict[str, tuple[Kind, Detail | None]] = {
    "processed": (Kind.ACCEPTED, None), "delivered": (Kind.DELIVERED, None),
    "deferred": (Kind.DEFERRED, None), "bounces": (Kind.BOUNCED, Detail.HARD),
    "blocks": (Kind.BOUNCED, Detail.SOFT), "bounce_drops": (Kind.DROPPED, Detail.BOUNCED),
    "spam_report_drops": (Kind.DROPPED, Detail.COMPLAINED),
    "unsubscribe_drops": (Kind.DROPPED, Detail.UNSUBSCRIBED),
    "invalid_emails": (Kind.DROPPED, Detail.INVALID),
    "spam_reports": (Kind.COMPLAINED, None), "unsubscribes": (Kind.UNSUBSCRIBED, None),
    "opens": (Kind.OPENED, None), "clicks": (Kind.CLICKED, None),
}
PERMISSION = "stats.read"


def category(day: dt.date) -> str:
    """The category every message of the issue of ``day`` carries (transport.py)."""
    return f"issue-{day.isoformat()}"


class SendGridStats:
    """The issue's category, asked day by day and added up."""

    where = "SendGrid's category stats (GET /v3/categories/stats)"

    def __init__(self, transport: SendGridTransport) -> None:
        self.transport = transport

    def issue(self, day: dt.date, today: dt.date, following: dt.date | None
              ) -> IssueStats | None:
        name = category(day)
        query = {"categories": name, "start_date": (day - dt.timedelta(days=1)).isoformat(),
                 "end_date": max(day, today).isoformat(), "aggregated_by": "day"}
        try:  # the query in the path: the API's params take numbers only
            response = self.transport.api.get(f"/categories/stats?{urlencode(query)}")
        except TransportUnavailable as exc:
            raise _limited(exc, name) from None
        except TransportRejected as exc:
            found = _refused(exc, name)
            if found is None:
                return None
            raise found from None
        return _added_up(_json(response.content, name), name)


def source(transport: Transport) -> SendGridStats:
    assert isinstance(transport, SendGridTransport)  # the registry makes it from ours
    return SendGridStats(transport)


def _refused(exc: TransportRejected, name: str) -> DeliveryError | None:
    """What a refusal means: None for a category SendGrid does not know (nothing was
    sent with it), else the error to report."""
    if exc.status == 404:
        return None
    if exc.status in (401, 403):
        return DeliveryError(f"stats sync: SendGrid refused the API key ({exc.status}) for "
                             f"category {name}: the key needs the {PERMISSION} permission "
                             "(Settings > API Keys)")
    return DeliveryError(f"stats sync: category {name}: {exc}")


def _limited(exc: TransportUnavailable, name: str) -> DeliveryError:
    wait = f"; try again in {exc.retry_after:.0f} s" if exc.retry_after is not None else ""
    if exc.status == 429:
        return DeliveryError(f"stats sync: SendGrid's rate limit was reached asking for "
                             f"category {name}{wait}; nothing was written")
    return DeliveryError(f"stats sync: category {name}: {exc}{wait}; nothing was written")


def _json(body: bytes | None, name: str) -> list[Any]:
    try:
        data = json.loads(body or b"[]")
    except ValueError:
        raise _unexpected(name, "a body that is not JSON") from None
    if not isinstance(data, list):
        raise _unexpected(name, "JSON that is not a list of days")
    return data


def _added_up(days: list[Any], name: str) -> IssueStats | None:
    """The days' metrics of ``name``, added up in our words; None when no day has any."""
    found: IssueStats = {}
    seen = False
    for number, entry in enumerate(days, 1):
        stats = entry.get("stats", []) if isinstance(entry, dict) else None
        if not isinstance(stats, list) or not isinstance(entry.get("date"), str):
            raise _unexpected(name, f"day {number} without a date and a list of stats")
        for part in stats:
            if not isinstance(part, dict) or part.get("name", name) != name:
                continue  # another category's: not asked for, not ours
            metrics = part.get("metrics")
            if not isinstance(metrics, dict):
                raise _unexpected(name, f"day {number} without metrics")
            seen |= _add(found, metrics, name, number)
    return found if seen else None


def _add(found: IssueStats, metrics: dict[str, Any], name: str, number: int) -> bool:
    """Add one day's metrics; whether any was above zero."""
    some = False
    for metric, (kind, detail) in METRICS.items():
        value = metrics.get(metric)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _unexpected(name, f"day {number} whose {metric!r} is not a count")
        details = found.setdefault(kind, {})
        details[detail] = details.get(detail, 0) + value
        some |= value > 0
    return some


def _unexpected(name: str, what: str) -> DeliveryError:
    return DeliveryError(f"stats sync: SendGrid answered category {name} with {what}; "
                         "nothing was written")
