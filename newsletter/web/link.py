""""Email me my link": a reader who lost every issue asks for the link to their own page.

The answer must not tell anyone who reads: whatever address is typed (a reader, a
stranger, a reader's address in other capitals), the page is the same, with the same
status, after the same work, which is the subscribe form's, behind the same guard
(asking.py: the same hourly budget, hidden field and ALTCHA challenge): check what was
typed, queue one row (store/signups.py, ``LINK_SOURCE``). The mailer (mailer.py)
decides later, on its own beat, whether the address belongs to an active or pending
reader, and only then sends the link, within the address's hourly and daily share of
emails.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from newsletter import tokens
from newsletter.store import signups
from newsletter.store.subscribers import Subscriber
from newsletter.web import asking
from newsletter.web.service import Service
from newsletter.web.subscribe import altcha_script


def form_page(service: Service, address: str = "", error: str = "",
              status: int = 200) -> Response:
    """The form; ``error`` names one in link.html.j2 (``no_address``, ``bad_address``,
    ``challenge``)."""
    return service.pages.render("link.html.j2", status, address=address[:400], error=error,
                                altcha_script=altcha_script(service))


async def _again(service: Service, fields: dict[str, str], error: str,
                 status: int) -> Response:
    return form_page(service, fields.get("email", "").strip(), error, status)


def _sent(service: Service, address: str) -> Response:
    return service.pages.message("link_sent", address=address)


FORM = asking.Form("link", _again, _sent, source=lambda _service: signups.LINK_SOURCE)


async def ask(request: Request) -> Response:
    return await asking.ask(request, FORM)


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
