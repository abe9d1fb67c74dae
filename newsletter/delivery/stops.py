"""Why a send stopped before its end, as a value, and the one error each reason ends in.

Any thread may ask the send to stop (a refusal, a lost lease, a signal, too many failed
batches): the first of each reason is kept, and when several came, the one that matters
most decides how the run ends (:data:`ORDER`).
"""

from __future__ import annotations

import threading
from enum import Enum

from newsletter.errors import DeliveryError, SendPaused, TransportRejected


class StopReason(Enum):
    REFUSED = "refused"  # the provider refused the request itself: fix the cause
    LEASE_LOST = "lease lost"  # another run took the issue over
    SIGNAL = "signal"  # Ctrl-C or SIGTERM
    FAILED_BATCHES = "failed batches"  # too many batches failed every attempt


ORDER = (StopReason.REFUSED, StopReason.LEASE_LOST, StopReason.SIGNAL,
         StopReason.FAILED_BATCHES)


class Stop:
    """The send's stop: an event the workers and the retries watch, and why it was set."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.why: dict[StopReason, str] = {}
        self.refusal: TransportRejected | None = None  # the provider's first, when refused

    def __call__(self, reason: StopReason, detail: str = "") -> None:
        # Safe in a signal handler: no lock, a dict's setdefault and an event's set.
        self.why.setdefault(reason, detail)
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    def reason(self) -> StopReason | None:
        """The reason that decides how the run ends; None if it was not stopped."""
        return next((r for r in ORDER if r in self.why), None)

    def error(self, sent: int, failed_batches: int, last_error: str | None,
              report: object) -> DeliveryError | None:
        """The error the run ends with, and the line that says so; None to end well."""
        reason = self.reason()
        detail = self.why.get(reason, "") if reason else ""
        if reason is StopReason.REFUSED:
            first = self.refusal
            return TransportRejected(f"{detail}; the send stopped (nothing more was sent; "
                                     "fix the cause and run again to resume)",
                                     status=first.status if first else None,
                                     code=first.code if first else None)
        if reason is StopReason.LEASE_LOST:
            return DeliveryError(detail)
        if reason is StopReason.SIGNAL:
            return SendPaused(f"stopped by {detail}: the requests in flight were settled, "
                              f"{sent:,} recipients were sent to in this run; run the same "
                              "command again to resume", report=report)
        if reason is StopReason.FAILED_BATCHES:
            return SendPaused(f"paused after {failed_batches} failed batches (last: "
                              f"{last_error or 'errors'}); run the same command again to "
                              "resume", report=report)
        return None

    def summary(self, failed_batches: int) -> str | None:
        """Why this run stopped early, for its report."""
        reason = self.reason()
        detail = self.why.get(reason, "") if reason else ""
        return {StopReason.REFUSED: detail, StopReason.LEASE_LOST: detail,
                StopReason.SIGNAL: f"stopped by {detail}",
                StopReason.FAILED_BATCHES: f"paused after {failed_batches} failed batches",
                None: None}[reason]
