"""Subscribing with double opt-in: the form, the confirmation email, the confirm page.

The answer to the form is the same page, after the same work, whatever the address was
(new, waiting, active, gone, bounced): the request is checked for what was typed and
queued (store/signups.py), and everything that depends on the address is decided later
by the service's mailer (mailer.py), which no answer waits for. So neither the page nor
its timing nor a relay's refusal tells anybody who reads the newsletter. What does
differ, an invalid address, is about what was typed, not about the list. Abuse is met by
a hidden field that people leave empty and scripts fill, a limit of requests an hour per
client network (counted in the database, so it holds across instances), a bound on the
queue, at most one confirmation email an hour and three a day per address, and a body
size limit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import zoneinfo
from functools import cache
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from newsletter import tokens
from newsletter.errors import BadTimezone, LinkExpired, SubscriberError
from newsletter.store import consent, signups, throttle
from newsletter.store.status import Status
from newsletter.store.subscribers import Subscriber, find, find_by_id
from newsletter.web import challenge, clients, forms
from newsletter.web.pages import mask

if TYPE_CHECKING:
    from newsletter.web.app import Service

log = logging.getLogger("newsletter.web")
HONEYPOT = "website"  # hidden from people by the page's style; scripts fill it in


@cache
def zones() -> list[str]:
    """Timezone names for the form's suggestions."""
    return sorted(z for z in zoneinfo.available_timezones() if "/" in z and
                  not z.startswith(("Etc/", "SystemV/", "posix/", "right/")))


def form_page(service: Service, values: dict[str, str] | None = None, error: str = "",
              status: int = 200) -> Response:
    shown = {key: (values or {}).get(key, "")[:400] for key in ("email", "name", "timezone")}
    readers = service.publication.readers
    return service.pages.render("subscribe.html.j2", f"Subscribe to {service.publication.name}",
                                status, values=shown, error=error, zones=zones(),
                                altcha_script=readers.altcha_script if readers.altcha else None)


async def altcha_challenge(request: Request) -> Response:
    service: Service = request.app.state.service
    readers = service.publication.readers
    if not readers.altcha:
        return PlainTextResponse("no challenge is set up", 404)
    return JSONResponse(challenge.challenge(service.secret, readers.altcha_difficulty))


async def subscribe_form(request: Request) -> Response:
    return form_page(request.app.state.service)


async def subscribe(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        fields = await forms.form(request)
    except forms.TooLarge:
        return service.pages.message("Too much", ["That form was larger than any of ours."],
                                     413)
    client = request.client.host if request.client else "unknown"
    if await run_in_threadpool(_over_limit, service, client):
        return service.pages.message("Please wait a while", [
            "There were many requests from your network in the last hour. Try again in an "
            "hour, or ask a person: reply to any issue."], 429)
    address = fields.get("email", "").strip()
    if fields.get(HONEYPOT):
        log.info("subscribe: hidden field filled; nothing done")
        return sent_page(service, address)
    if service.publication.readers.altcha:
        refused = await run_in_threadpool(challenge.problem, service.engine, service.secret,
                                          fields.get(challenge.FIELD, ""))
        if refused:
            log.info("subscribe: challenge %s", refused)
            return form_page(service, fields, "Please wait for the check below the form to "
                             "finish (it needs JavaScript), then subscribe again.", 400)
    try:
        await run_in_threadpool(_queue, service, address, fields, _network(request))
    except SubscriberError as exc:
        return form_page(service, fields, _why(exc, address), 400)
    except QueueFull:
        log.warning("subscribe: %d requests wait to be mailed; asking people to come back",
                    signups.MAX_QUEUED)
        return service.pages.message("Please try again soon", [
            "Many people asked at once. Please try again in a few minutes."], 503)
    return sent_page(service, address)


class QueueFull(Exception):
    """More requests wait to be mailed than the queue takes (answered 503, whoever
    asked)."""


def _queue(service: Service, address: str, fields: dict[str, str], network: str) -> None:
    """The work every request does, whoever asked: check what was typed, count the queue,
    add one row. Nothing here reads the list of readers."""
    if signups.waiting(service.engine) >= signups.MAX_QUEUED:
        raise QueueFull
    signups.queue(service.engine, address, name=fields.get("name"),
                  timezone=fields.get("timezone", "").strip() or None,
                  source=f"form {service.publication.service_url}/subscribe",
                  network=network)


def sent_page(service: Service, address: str) -> Response:
    days = service.publication.readers.confirm_days
    return service.pages.message("Check your inbox", [
        f"If {address} can receive {service.publication.name}, a message with a link to "
        "confirm is on its way. Nothing is sent until you confirm.",
        f"The link works for {days} days. Nothing there? Look in the spam folder; you may "
        "ask again in an hour."])


def _over_limit(service: Service, client: str) -> bool:
    client = clients.bucket(client)  # an IPv4 address or an IPv6 /64, however spelt
    # The client's address is kept only as a keyed hash, and only for the hour.
    digest = hmac.new(service.secret, client.encode(), hashlib.sha256).hexdigest()[:32]
    return throttle.hit(service.engine, f"ip:{digest}") > \
        service.publication.readers.requests_per_hour


def _network(request: Request) -> str:
    """The client's network as the rate limit counts it, for the consent record: what the
    server saw (through a trusted proxy), never what the client says of itself."""
    return clients.bucket(request.client.host if request.client else "unknown")


def _why(exc: SubscriberError, address: str) -> str:
    if not address:
        return "Please give an email address."
    if isinstance(exc, BadTimezone):
        return "That timezone is not one we know: choose one from the list, e.g. Europe/Paris."
    return "That does not look like an email address: please check it."


def send_confirmation(service: Service, signup: signups.Signup) -> None:
    """The confirmation email for a queued request. It carries nothing the requester
    typed but the address: no name, in the greeting or the To: header (anyone may type
    anyone's address, and words meant for its owner)."""
    from newsletter.email.message import Notice

    token = tokens.make(service.secret, "confirm", signup.key)
    url = f"{service.publication.service_url}/confirm?t={token}"
    subject = f"Confirm your subscription to {service.publication.name}"
    values = {"confirm_url": url, "subject": subject,
              "days": service.publication.readers.confirm_days}
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
    return service.pages.render("confirm.html.j2", "Confirm your subscription",
                                masked=mask(found.email), token=token)


async def confirm(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        token = (await forms.form(request)).get("t", "")
    except forms.TooLarge:
        return service.pages.invalid()
    found = await run_in_threadpool(_awaiting, service, token)
    if isinstance(found, Response):
        return found
    reader = await run_in_threadpool(_confirm, service, found)
    if reader is None:  # confirmed by another click at the same instant
        return _nothing_to_confirm(service)
    manage = tokens.make_pair(service.secret, reader.link_key)[1]
    return service.pages.message("You are subscribed", [
        f"{mask(reader.email)} will get {service.publication.name} from the next issue on.",
        "Every issue has a link at its foot to change your name or timezone, or to leave."],
        link=("Manage your subscription", f"manage?t={manage}"))


def _confirm(service: Service, found: signups.Signup | Subscriber) -> Subscriber | None:
    if isinstance(found, signups.Signup):
        return signups.confirm(service.engine, found)
    if not consent.confirm(service.engine, found.id):
        return None
    return find_by_id(service.engine, found.id)


def _awaiting(service: Service, token: str) -> signups.Signup | Subscriber | Response:
    """What a confirmation link still has to confirm (a queued request, or a reader who
    asked before the queue), or the page to show instead."""
    pages, days = service.pages, service.publication.readers.confirm_days
    try:
        link = tokens.read(service.secret, token, "confirm", max_age_days=days)
    except LinkExpired:
        return pages.message("This link has expired", [
            f"Confirmation links work for {days} days. Ask again and we will send a "
            "new one."], 400, link=("Subscribe", "subscribe"))
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
        return pages.message("You are already subscribed", [
            f"{mask(current.email)} gets {service.publication.name}; there is nothing more "
            "to do."])
    return _nothing_to_confirm(service)


def _nothing_to_confirm(service: Service) -> Response:
    return service.pages.message("Nothing to confirm", [
        "This link was used already, replaced by a newer one, or the request was "
        "withdrawn. To subscribe, ask again."], 400, link=("Subscribe", "subscribe"))


def _day(days_since_1970: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=days_since_1970)
