""""Email me my link": a reader who lost every issue asks for the link to their own page.

The answer must not tell anyone who reads: whatever address is typed (a reader, a
stranger, a reader's address in other capitals), the page is the same, with the same
status, after the same work, which is the subscribe form's: count the client's requests
(the same hourly budget as subscribing), check what was typed, queue one row
(store/signups.py, ``LINK_SOURCE``). The mailer (mailer.py) decides later, on its own
beat, whether the address belongs to an active or pending reader, and only then sends
the link, within the address's hourly and daily share of emails.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from newsletter import tokens
from newsletter.errors import SubscriberError
from newsletter.store import signups
from newsletter.store.subscribers import Subscriber
from newsletter.web import forms
from newsletter.web.subscribe import QueueFull, network, over_limit

if TYPE_CHECKING:
    from newsletter.web.app import Service

log = logging.getLogger("newsletter.web")


def form_page(service: Service, address: str = "", error: str = "",
              status: int = 200) -> Response:
    """The form; ``error`` names one in link.html.j2 (``no_address``, ``bad_address``)."""
    return service.pages.render("link.html.j2", status, address=address[:400], error=error)


async def ask(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        fields = await forms.form(request)
    except forms.TooLarge:
        return service.pages.message("too_large", 413)
    client = request.client.host if request.client else "unknown"
    if await run_in_threadpool(over_limit, service, client):
        return service.pages.message("busy", 429)
    address = fields.get("email", "").strip()
    try:
        await run_in_threadpool(_queue, service, address, network(request))
    except SubscriberError:  # about what was typed, never about the list
        return form_page(service, address, "bad_address" if address else "no_address", 400)
    except QueueFull:
        return service.pages.message("queue_full", 503)
    return service.pages.message("link_sent", address=address)


def _queue(service: Service, address: str, client_network: str) -> None:
    if signups.waiting(service.engine) >= signups.MAX_QUEUED:
        raise QueueFull
    signups.queue(service.engine, address, source=signups.LINK_SOURCE,
                  network=client_network)


def send_link(service: Service, reader: Subscriber) -> None:
    """The email with ``reader``'s own link (to the address on file, not as typed)."""
    from newsletter.email.message import Notice

    manage = tokens.make_pair(service.secret, reader.link_key)[1]
    values: dict[str, object] = {"manage_url": f"{service.publication.manage_base}?t={manage}"}
    subject = " ".join(service.pages.text("link_email_subject.txt.j2", **values).split())
    values["subject"] = subject
    service.transport.send_notice(Notice(
        reader.email, None, subject, service.pages.text("link_email.txt.j2", **values),
        service.pages.text("link_email.html.j2", **values), kind="link"))
