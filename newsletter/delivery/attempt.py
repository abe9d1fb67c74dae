"""One batch's trip to the provider, retries included, as a value: what was sent, what
came back, how long it took, and what the ledger must be told about it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from newsletter.delivery.pacing import Backoff, RateLimiter
from newsletter.delivery.providers.base import Outcome
from newsletter.errors import RefusedAfterNoAnswer, TransportRejected, TransportUnavailable
from newsletter.store.ledger import Ledger
from newsletter.store.recipient import Recipient

# Said on a batch that was sent again after an attempt that got no answer.
TWICE = ("an earlier attempt got no answer; if the provider had taken it, these "
         "recipients got the issue twice")
# Said on a batch whose last try surely failed after an earlier try got no answer.
TWICE_UNKNOWN = "an earlier attempt got no answer, so the provider may have taken it"


@dataclass(frozen=True)
class BatchAttempt:
    number: int
    size: int  # recipients it went to
    outcome: Outcome
    tries: int
    seconds: float
    timed_out: bool  # an earlier try got no answer: the provider may have taken it twice

    @property
    def note(self) -> str | None:
        return TWICE if self.timed_out else None


def send_batch(number: int, recipients: Sequence[Recipient], ledger: Ledger,
               dispatch: Callable[[Sequence[Recipient]], Outcome], backoff: Backoff,
               limiter: RateLimiter) -> BatchAttempt:
    """Send a claimed batch, trying again what may work later; the ledger knows at each
    try whether it is out (in flight) or surely not taken (pending). Raises what the last
    try raised."""
    started, timed_out, tries = time.monotonic(), False, 0
    for attempt in backoff.retrying():
        with attempt:
            tries = attempt.retry_state.attempt_number
            if tries > 1:
                ledger.in_flight_again(number)
            limiter.wait()
            try:
                outcome = dispatch(recipients)
            except TransportUnavailable as exc:
                if exc.not_sent and timed_out:
                    # This try surely did not go, but an earlier one got no answer and
                    # may have been taken: the batch's fate stays unknown, never pending
                    # (a later run would send it again).
                    raise TransportUnavailable(f"{exc} ({TWICE_UNKNOWN})", not_sent=False,
                                               retry_after=exc.retry_after,
                                               status=exc.status) from exc
                timed_out = timed_out or not exc.not_sent
                if exc.not_sent:  # surely not taken: a crash while we wait loses nothing
                    ledger.release(number, str(exc))
                raise
            except TransportRejected as exc:
                if timed_out:
                    raise RefusedAfterNoAnswer(f"{exc} ({TWICE_UNKNOWN})", status=exc.status,
                                               code=exc.code) from exc
                raise
    return BatchAttempt(number, len(recipients), outcome, tries,
                        time.monotonic() - started, timed_out)
