"""How fast a send goes, and how it waits: requests spaced to a rate, and a batch that
failed for a reason that may pass (429, 5xx, a timeout) tried again after a backoff."""

from __future__ import annotations

import threading
import time

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_when_event_set,
    wait_random_exponential,
)

from newsletter.errors import TransportUnavailable


class RateLimiter:
    """At most ``rate`` request starts a second, across the send's threads; a long pause
    earns no burst."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next_start = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_start)
            self.next_start = start + self.interval
        time.sleep(start - now)


class Backoff:
    """The retries of one batch: up to ``attempts`` in all, waiting a random exponential
    backoff from ``base`` seconds (at least what the server asked for, at most ``cap``).
    No new attempt once ``stop`` is set, and no wait for one: a send that stops sets the
    batch aside at once."""

    def __init__(self, attempts: int, base: float, cap: float, stop: threading.Event) -> None:
        self.attempts, self.base, self.cap, self.stop = attempts, base, cap, stop

    def retrying(self) -> Retrying:
        return Retrying(retry=retry_if_exception_type(TransportUnavailable),
                        stop=stop_after_attempt(self.attempts) | stop_when_event_set(self.stop),
                        wait=self._wait, sleep=self._pause, reraise=True)

    def _pause(self, seconds: float) -> None:
        self.stop.wait(seconds)  # cut short when the send stops

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_random_exponential(multiplier=self.base, max=self.cap)(state)
        exc = state.outcome.exception() if state.outcome else None
        hint = getattr(exc, "retry_after", None) or 0.0
        return min(max(backoff, hint), self.cap)
