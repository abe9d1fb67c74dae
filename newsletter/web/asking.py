"""The guard of every form that queues a request (subscribe.py, link.py), so that each
meets abuse the same way: a body size limit (413), a limit of requests an hour per
client network (429, counted in the database, so it holds across instances), a hidden
field that people leave empty and scripts fill (the same answer as for a person, and
nothing queued), the ALTCHA challenge when ``readers.altcha`` is on (the form again,
and nothing queued), and a bound on the queue (503, whoever asked).

What passes is queued (store/signups.py) and answered with the same page whatever the
address was; the mailer (mailer.py) decides later what it means.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from newsletter.errors import BadTimezone, SubscriberError
from newsletter.store import signups, throttle
from newsletter.web import challenge, clients, forms
from newsletter.web.service import Service

log = logging.getLogger("newsletter.web")
HONEYPOT = "website"  # hidden from people by the page's style; scripts fill it in


class QueueFull(Exception):
    """More requests wait to be mailed than the queue takes (answered 503, whoever
    asked)."""


@dataclass(frozen=True)
class Form:
    """What differs between the forms that queue a request."""

    name: str  # for the log: "subscribe", "link"
    # The form again, with what was typed and the name of an error in its template.
    again: Callable[[Service, dict[str, str], str, int], Awaitable[Response]]
    # The answer for whatever address was typed (the same page for a hidden field filled).
    done: Callable[[Service, str], Response]
    source: Callable[[Service], str]  # the queued row's source
    details: bool = False  # whether the form's name and timezone are queued too


async def ask(request: Request, form: Form) -> Response:
    """The guard, then the queue, then the same answer whatever the address was."""
    service: Service = request.app.state.service
    try:
        fields = await forms.form(request)
    except forms.TooLarge:
        return service.pages.message("too_large", 413)
    client = request.client.host if request.client else "unknown"
    if await run_in_threadpool(over_limit, service, client):
        return service.pages.message("busy", 429)
    address = fields.get("email", "").strip()
    if fields.get(HONEYPOT):
        log.info("%s: hidden field filled; nothing done", form.name)
        return form.done(service, address)
    if service.publication.readers.altcha:
        refused = await run_in_threadpool(challenge.problem, service.engine, service.secret,
                                          fields.get(challenge.FIELD, ""))
        if refused:
            log.info("%s: challenge %s", form.name, refused)
            return await form.again(service, fields, "challenge", 400)
    details = {"name": fields.get("name"),
               "timezone": fields.get("timezone", "").strip() or None} if form.details else {}
    try:
        await run_in_threadpool(queue, service, address, network(request),
                                source=form.source(service), **details)
    except SubscriberError as exc:  # about what was typed, never about the list
        return await form.again(service, fields, _why(exc, address), 400)
    except QueueFull:
        log.warning("%s: %d requests wait to be mailed; asking people to come back",
                    form.name, signups.MAX_QUEUED)
        return service.pages.message("queue_full", 503)
    return form.done(service, address)


def queue(service: Service, address: str, network: str, *, source: str,
          name: str | None = None, timezone: str | None = None) -> None:
    """The work every request does, whoever asked: check what was typed, count the queue,
    add one row. Nothing here reads the list of readers."""
    if signups.waiting(service.engine) >= signups.MAX_QUEUED:
        raise QueueFull
    signups.queue(service.engine, address, name=name, timezone=timezone, source=source,
                  network=network)


def over_limit(service: Service, client: str) -> bool:
    client = clients.bucket(client)  # an IPv4 address or an IPv6 /64, however spelt
    # The client's address is kept only as a keyed hash, and only for the hour.
    digest = hmac.new(service.secret, client.encode(), hashlib.sha256).hexdigest()[:32]
    return throttle.hit(service.engine, f"ip:{digest}") > \
        service.publication.readers.requests_per_hour


def network(request: Request) -> str:
    """The client's network as the rate limit counts it, for the consent record: what the
    server saw (through a trusted proxy), never what the client says of itself."""
    return clients.bucket(request.client.host if request.client else "unknown")


def _why(exc: SubscriberError, address: str) -> str:
    """The name of the form's error (its words are the template's)."""
    if not address:
        return "no_address"
    if isinstance(exc, BadTimezone):
        return "bad_timezone"
    return "bad_address"
