"""Subscribing with double opt-in: the form, the confirmation email, the confirm page.

The answer to the form is the same page, after the same work, whatever the address was
(new, waiting, active, gone, bounced): the request is checked for what was typed and
queued (store/signups.py), and everything that depends on the address is decided later
by the service's mailer (mailer.py), which no answer waits for. So neither the page nor
its timing nor a relay's refusal tells anybody who reads the newsletter. What does
differ, an invalid address, is about what was typed, not about the list. Abuse is met by
the guard of every form that queues (asking.py: a body size limit, a limit of requests
an hour per client network, a hidden field that scripts fill, the ALTCHA challenge when
it is on, a bound on the queue), and by at most one confirmation email an hour and three
a day per address.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import cache

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from newsletter import timing, tokens
from newsletter.errors import LinkExpired, SubscriberError
from newsletter.safetext import MAX_NAME, one_line
from newsletter.store import consent, signups
from newsletter.store.status import Status
from newsletter.store.subscribers import Subscriber, check_timezone, find, find_by_id
from newsletter.web import asking, challenge, forms
from newsletter.web.asking import network
from newsletter.web.pages import mask
from newsletter.web.service import Service

log = logging.getLogger("newsletter.web")


@cache
def zones() -> list[str]:
    """Timezone names for the form's suggestions."""
    return sorted(z for z in timing.names() if "/" in z and
                  not z.startswith(("Etc/", "SystemV/")))


async def form_page(service: Service, values: dict[str, str] | None = None,
                    error: str = "", status: int = 200) -> Response:
    """The form, again with what was typed and an ``error`` named in subscribe.html.j2
    (``no_address``, ``bad_address``, ``bad_timezone``, ``challenge``)."""
    shown = {key: (values or {}).get(key, "")[:400] for key in ("email", "name", "timezone")}
    # Off the event loop: it lists the issues folder and may read a few files.
    latest = await run_in_threadpool(service.pages.latest)
    return service.pages.render("subscribe.html.j2", status, values=shown, error=error,
                                zones=zones(), latest=latest,
                                tracking=service.publication.tracking,
                                altcha_script=altcha_script(service))


def altcha_script(service: Service) -> str | None:
    """The ALTCHA widget's script, for a form that shows the widget (None: no challenge)."""
    readers = service.publication.readers
    return readers.altcha_script if readers.altcha else None


async def altcha_challenge(request: Request) -> Response:
    service: Service = request.app.state.service
    readers = service.publication.readers
    if not readers.altcha:
        return PlainTextResponse("no challenge is set up", 404)
    return JSONResponse(challenge.challenge(service.secret, readers.altcha_difficulty))


async def subscribe_form(request: Request) -> Response:
    return await form_page(request.app.state.service)


def sent_page(service: Service, address: str) -> Response:
    return service.pages.message("sent", address=address,
                                 days=service.publication.readers.confirm_days)


FORM = asking.Form(
    "subscribe", form_page, sent_page, details=True,
    source=lambda service: f"form {service.publication.service_url}/subscribe")


async def subscribe(request: Request) -> Response:
    return await asking.ask(request, FORM)


def send_confirmation(service: Service, signup: signups.Signup) -> None:
    """The confirmation email for a queued request. It carries nothing the requester
    typed but the address: no name, in the greeting or the To: header (anyone may type
    anyone's address, and words meant for its owner)."""
    from newsletter.email.message import Notice

    token = tokens.make(service.secret, "confirm", signup.key)
    url = f"{service.publication.service_url}/confirm?t={token}"
    values: dict[str, object] = {"confirm_url": url,
                                 "days": service.publication.readers.confirm_days}
    subject = " ".join(service.pages.text("confirm_email_subject.txt.j2", **values).split())
    values["subject"] = subject
    notice = Notice(signup.email, None, subject,
                    service.pages.text("confirm_email.txt.j2", **values),
                    service.pages.text("confirm_email.html.j2", **values), kind="confirm")
    service.transport.send_notice(notice)


async def confirm_page(request: Request) -> Response:
    service: Service = request.app.state.service
    token = request.query_params.get("t", "")
    found = await run_in_threadpool(_awaiting, service, token)
    if isinstance(found, Response):
        return found
    shown = await run_in_threadpool(_prefilled, service, found)
    return confirm_form(service, found, token, shown)


def confirm_form(service: Service, found: signups.Signup | Subscriber, token: str,
                 values: dict[str, str], error: str = "", status: int = 200) -> Response:
    """The confirm page: the masked address, the name and timezone that confirming saves
    (fields the owner may change or clear), and the button; ``error`` is the name of one
    in confirm.html.j2 (``bad_name``, ``bad_timezone``)."""
    shown = {key: values.get(key, "")[:400] for key in ("name", "timezone")}
    return service.pages.render("confirm.html.j2", status, masked=mask(found.email),
                                token=token, values=shown, error=error, zones=zones())


def _prefilled(service: Service, found: signups.Signup | Subscriber) -> dict[str, str]:
    """What the confirm page offers to save: what the request said, else what is on file
    for the address (a reader coming back keeps theirs unless they change it)."""
    current = find(service.engine, found.email) if isinstance(found, signups.Signup) else found
    name = found.name or (current.name if current else None)
    zone = found.timezone or (current.timezone if current else None)
    # A row of an earlier release may hold a name with characters one_line takes out now.
    return {"name": one_line(name), "timezone": zone or ""}


async def confirm(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        fields = await forms.form(request)
    except forms.TooLarge:
        return service.pages.message("too_large", 413)
    token = fields.get("t", "")
    found = await run_in_threadpool(_awaiting, service, token)
    if isinstance(found, Response):
        return found
    chosen = _chosen(fields, network(request))
    if isinstance(chosen, str):  # nothing is confirmed until what is saved is valid
        return confirm_form(service, found, token, fields, chosen, 400)
    reader = await run_in_threadpool(_confirm, service, found, chosen)
    if reader is None:  # confirmed by another click at the same instant
        return _nothing_to_confirm(service)
    manage = tokens.make_pair(service.secret, reader.link_key)[1]
    return service.pages.message("subscribed", masked=mask(reader.email), manage_token=manage)


def _chosen(fields: dict[str, str], network: str) -> signups.Choice | str:
    """What the confirming form says, or the name of its error. A form without the
    fields (a page of an earlier release, a script) saved nothing it did not show."""
    if "name" not in fields and "timezone" not in fields:
        return signups.Choice(network=network, seen=False)
    name = one_line(fields.get("name"))
    if len(name) > MAX_NAME:
        return "bad_name"
    try:
        zone = check_timezone(fields.get("timezone", "").strip() or None)
    except SubscriberError:
        return "bad_timezone"
    return signups.Choice(name or None, zone, network)


def _confirm(service: Service, found: signups.Signup | Subscriber,
             chosen: signups.Choice) -> Subscriber | None:
    welcome = service.welcomer is not None
    if isinstance(found, signups.Signup):
        return signups.confirm(service.engine, found, welcome=welcome, chosen=chosen)
    if not consent.confirm(service.engine, found.id, welcome=welcome, chosen=chosen):
        return None
    return find_by_id(service.engine, found.id)


def _awaiting(service: Service, token: str) -> signups.Signup | Subscriber | Response:
    """What a confirmation link still has to confirm (a queued request, or a reader who
    asked before the queue), or the page to show instead."""
    pages, days = service.pages, service.publication.readers.confirm_days
    try:
        link = tokens.read(service.secret, token, "confirm", max_age_days=days)
    except LinkExpired:
        return pages.message("expired", 400, days=days)
    except SubscriberError:
        return pages.invalid()
    if link.key is not None:
        signup = signups.by_key(service.engine, link.key)
        if signup is not None and signups.confirmable(service.engine, signup):
            return signup
        current = find(service.engine, signup.email) if signup is not None else None
    else:  # a link of the kind before the queue: its reader, if they still hold it
        legacy = consent.awaiting(service.engine, link.legacy_id or 0, _day(link.made))
        if legacy is not None:
            return legacy
        current = None
    if current is not None and current.status == Status.ACTIVE:
        return pages.message("already_subscribed", masked=mask(current.email))
    return _nothing_to_confirm(service)


def _nothing_to_confirm(service: Service) -> Response:
    return service.pages.message("nothing_to_confirm", 400)


def _day(days_since_1970: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=days_since_1970)
