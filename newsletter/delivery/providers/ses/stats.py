"""SES's sending metrics, as a stats source (``stats sync``).

SES counts by day, not by message tag: BatchGetMetricData (Virtual Deliverability
Manager's namespace, ``VDM``) answers per configuration set, sending identity or ISP, never
per ``issue`` tag. So an issue's figures here are its configuration set's, from the
issue's day (UTC) to the day before the next issue sent, or to today: exact for a
publication whose set carries nothing else and whose issues come a day or more apart,
as long as its readers act before the next issue; events that come later are counted
with the next one. The docs say so (docs/figures.md).

What SES counts, in our words: SEND accepted, DELIVERY delivered, PERMANENT_BOUNCE and
TRANSIENT_BOUNCE bounced hard and soft, COMPLAINT complained, OPEN and CLICK opened and
clicked (SES counts unique opens and clicks there, with no detail). The account needs
VDM turned on, and the credentials ``ses:BatchGetMetricData``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from newsletter.delivery.providers.base import IssueStats, Transport
from newsletter.delivery.providers.ses.transport import Refusal, SesTransport
from newsletter.errors import DeliveryError, TransportRejected, TransportUnavailable
from newsletter.store.vocabulary import Detail, Kind

METRICS: dict[str, tuple[Kind, Detail | None]] = {
    "SEND": (Kind.ACCEPTED, None), "DELIVERY": (Kind.DELIVERED, None),
    "PERMANENT_BOUNCE": (Kind.BOUNCED, Detail.HARD),
    "TRANSIENT_BOUNCE": (Kind.BOUNCED, Detail.SOFT), "COMPLAINT": (Kind.COMPLAINED, None),
    "OPEN": (Kind.OPENED, None), "CLICK": (Kind.CLICKED, None),
}
PERMISSION = "ses:BatchGetMetricData"
_DENIED = ("AccessDeniedException", "AccessDenied", "ACCESS_DENIED")


class SesStats:
    """The configuration set's metrics over the issue's days, in one request."""

    def __init__(self, transport: SesTransport) -> None:
        self.transport = transport
        self.where = (f"SES's metrics of configuration set {transport.configuration_set} "
                      "(BatchGetMetricData)")

    def issue(self, day: dt.date, today: dt.date, following: dt.date | None
              ) -> IssueStats | None:
        end = min(following or today + dt.timedelta(days=1), today + dt.timedelta(days=1))
        end = max(end, day + dt.timedelta(days=1))
        queries = [{"Id": metric.lower(), "Namespace": "VDM", "Metric": metric,
                    "Dimensions": {"CONFIGURATION_SET": self.transport.configuration_set},
                    "StartDate": _midnight(day), "EndDate": _midnight(end)}
                   for metric in METRICS]
        reply = self._ask(queries, day)
        return _added_up(reply, day)

    def _ask(self, queries: list[dict[str, Any]], day: dt.date) -> Any:
        client = self.transport.client
        try:
            return self.transport.call(lambda: client.batch_get_metric_data(Queries=queries))
        except TransportUnavailable as exc:
            raise DeliveryError(f"stats sync: SES's rate limit or an outage stopped the "
                                f"metrics of {day}: {exc}; nothing was written") from None
        except TransportRejected as exc:
            raise _refused(exc.code, str(exc), day) from None
        except Refusal as exc:  # a code about one reader's message: never a denial
            raise _refused(None, str(exc), day) from None
        except (AttributeError, TypeError, ValueError, KeyError):
            raise _unexpected(day, "a reply that its model cannot read") from None


def source(transport: Transport) -> SesStats:
    assert isinstance(transport, SesTransport)  # the registry makes it from ours
    return SesStats(transport)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def _refused(code: str | None, words: str, day: dt.date) -> DeliveryError:
    """SES's refusal, told by its error code (``words`` are only repeated)."""
    if code in _DENIED:
        return DeliveryError(f"stats sync: SES refused the metrics of {day}: the "
                             f"credentials need {PERMISSION}, and the account Virtual "
                             "Deliverability Manager turned on")
    return DeliveryError(f"stats sync: SES refused the metrics of {day}: {words}")


def _added_up(reply: Any, day: dt.date) -> IssueStats | None:
    """Each metric's values added up in our words; None when every one is zero."""
    if not isinstance(reply, dict):
        raise _unexpected(day, "a reply that is not an object")
    for error in reply.get("Errors") or []:
        code = error.get("Code", "") if isinstance(error, dict) else ""
        raise _refused(str(code) or None,
                       f"{code}: {error.get('Message', '')}" if code else str(error), day)
    results = {r.get("Id"): r for r in reply.get("Results") or [] if isinstance(r, dict)}
    found: IssueStats = {}
    for metric, (kind, detail) in METRICS.items():
        values = results.get(metric.lower(), {}).get("Values")
        if not isinstance(values, list) or \
                not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise _unexpected(day, f"no list of counts for {metric}")
        details = found.setdefault(kind, {})
        details[detail] = details.get(detail, 0) + sum(values)
    return found if any(n for d in found.values() for n in d.values()) else None


def _unexpected(day: dt.date, what: str) -> DeliveryError:
    return DeliveryError(f"stats sync: SES answered the metrics of {day} with {what}; "
                         "nothing was written")
