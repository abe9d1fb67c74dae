"""The service's mailer: sends the confirmation emails of queued requests and the
welcomes of readers who confirmed (once each: store/welcomes.py), in the background,
within seconds, and keeps the service's own tables small.

It wakes on a fixed beat, never because a request came in: what it does for one address
(a reader already: nothing; a new one: an email) then never shows in the time of anyone's
answer, not even the next one's. Each beat it claims queued requests one at a time (the
queue is in the database, so several instances and a restart share it), and every so
often it prunes what expires by itself: requests whose links have expired, readers who
asked before the queue and never confirmed, and the counts of past hours. So a stranger's
requests cost rows for a few days at most, with no operator to run ``prune``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

from starlette.concurrency import run_in_threadpool

from newsletter.errors import NewsletterError, TransportRejected, TransportUnavailable
from newsletter.redact import addresses
from newsletter.store import consent, signups, throttle, welcomes
from newsletter.store.status import Status
from newsletter.store.subscribers import find, find_by_id, now
from newsletter.web.link import send_link
from newsletter.web.service import Service
from newsletter.web.subscribe import send_confirmation

log = logging.getLogger("newsletter.web")
BEAT = 1.0  # seconds between looks at the queue
PRUNE_EVERY = 600.0  # seconds between prunings
PER_BEAT = 50  # requests mailed at most per beat, so a beat stays short


class Mailer:
    def __init__(self, service: Service) -> None:
        self.service = service
        self._pruned = 0.0

    async def run(self) -> None:
        """Work on every beat until cancelled; a failing beat is logged, never fatal."""
        while True:
            await asyncio.sleep(BEAT)
            try:
                await run_in_threadpool(self.beat)
            except Exception as exc:  # the database away, say: the next beat tries again
                log.warning("mailer: %s: %s", type(exc).__name__, _first_line(exc))

    def beat(self) -> int:
        """Mail what is due (up to :data:`PER_BEAT`), prune when it is time; return how
        many requests were handled."""
        handled = 0
        while handled < PER_BEAT and (signup := signups.claim(self.service.engine)):
            self.handle(signup)
            handled += 1
        while self.service.welcomer and handled < PER_BEAT and (
                reader := welcomes.claim(self.service.engine, now())) is not None:
            self.welcome(reader)
            handled += 1
        if time.monotonic() - self._pruned > PRUNE_EVERY:
            self.prune()
        return handled

    def handle(self, signup: signups.Signup) -> None:
        """Mail one request's confirmation link (or a reader's own link), or forget the
        request. The log names the
        request's number, never its address."""
        engine = self.service.engine
        reason = signups.refusal(engine, signup)
        if reason is not None:
            signups.drop(engine, signup)
            log.info("mailer: request %d not mailed: %s", signup.id, reason)
            return
        try:
            self.send(signup)
        except TransportRejected as exc:  # final (a 5xx, an address the relay refuses)
            # Dropped at once: tried again for two hours, such a request would hold a
            # place in the queue's bound that strangers could fill with addresses the
            # relay refuses, turning everyone away.
            signups.drop(engine, signup)
            log.warning("mailer: request %d: the email was refused (%s); given up",
                        signup.id, _first_line(exc))
            return
        except NewsletterError as exc:  # unreachable, disk full: worth another try
            again = signups.retry(engine, signup)
            log.warning("mailer: request %d: the email did not go (%s)%s",
                        signup.id, _first_line(exc), "" if again else "; given up")
            return
        signups.mailed(engine, signup)
        log.info("mailer: request %d mailed", signup.id)

    def send(self, signup: signups.Signup) -> None:
        """The email a request asked for: a confirmation link, or a reader's own link
        (none if the reader was erased since the refusal was decided)."""
        if not signups.is_link(signup):
            send_confirmation(self.service, signup)
        elif (reader := find(self.service.engine, signup.email)) is not None:
            send_link(self.service, reader)

    def welcome(self, reader_id: int) -> None:
        """Send one claimed welcome. What may have left is never sent again: a send with
        no answer is uncertain; one refused before it left waits and is tried again."""
        engine, welcomer = self.service.engine, self.service.welcomer
        reader = find_by_id(engine, reader_id)
        if welcomer is None or reader is None or reader.status != Status.ACTIVE:
            welcomes.end(engine, reader_id, "skipped")  # left (or erased) before it went
            return
        try:
            self.service.transport.send_notice(welcomer.notice(reader, now()))
        except TransportUnavailable as exc:
            self._unsent(reader_id, exc, surely=exc.not_sent)
            return
        except NewsletterError as exc:  # refused, or a file that could not be written
            self._unsent(reader_id, exc, surely=True)
            return
        welcomes.sent(engine, reader_id, now())
        log.info("mailer: reader %d welcomed", reader_id)

    def _unsent(self, reader_id: int, exc: NewsletterError, *, surely: bool) -> None:
        engine = self.service.engine
        if not surely:
            welcomes.end(engine, reader_id, "uncertain")
            log.warning("mailer: reader %d: no answer for the welcome (%s); not sent again",
                        reader_id, _first_line(exc))
            return
        again = welcomes.retry(engine, reader_id, now())
        log.warning("mailer: reader %d: the welcome did not go (%s)%s", reader_id,
                    _first_line(exc), "" if again else "; given up")

    def prune(self) -> None:
        """Remove what has expired: requests whose links no longer work (kept a day at
        least, for the daily cap), readers who asked before the queue and never
        confirmed, and request counts of past hours."""
        self._pruned = time.monotonic()
        engine, days = self.service.engine, self.service.publication.readers.confirm_days
        expired = now() - dt.timedelta(days=max(days, 1))
        gone = signups.prune(engine, expired)
        gone += consent.drop_unconfirmed(engine, expired)
        throttle.prune(engine)
        if gone:
            log.info("mailer: %d expired requests removed", gone)


def _first_line(exc: BaseException) -> str:
    """The first line of an error, with any address in it redacted (a relay's refusal
    quotes the address it refused)."""
    text = addresses(str(exc)).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
