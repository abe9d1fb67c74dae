"""Subscribing with double opt-in: the form, the confirmation email, the confirm page.

The answer to the form is the same page whatever the address was (new, waiting, active,
gone), so the form tells nobody who reads the newsletter. What does differ, an invalid
address, is about what was typed, not about the list. Abuse is met by a hidden field
that people leave empty and scripts fill, a limit of requests an hour per client address
(counted in the database, so it holds across instances), at most one confirmation email
an hour per address, and a body size limit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import zoneinfo
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from newsletter import tokens
from newsletter.errors import NewsletterError, SubscriberError
from newsletter.store import consent, throttle
from newsletter.store.subscribers import Subscriber, find_by_id
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
        request_ = await run_in_threadpool(
            consent.request, service.engine, address, name=fields.get("name"),
            timezone=fields.get("timezone", "").strip() or None,
            source=_source(request))
    except SubscriberError as exc:
        return form_page(service, fields, _why(exc, address), 400)
    if request_.send:
        try:
            await run_in_threadpool(send_confirmation, service, request_)
        except NewsletterError as exc:  # refused, unreachable, outbox full
            await run_in_threadpool(consent.release_send, service.engine,
                                    request_.subscriber_id)
            log.warning("subscribe: the confirmation email did not go: %s", exc)
            return service.pages.message("Please try again soon", [
                "We could not send the confirmation email just now. Please try again in a "
                "few minutes."], 503)
    return sent_page(service, address)


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


def _source(request: Request) -> str:
    """Where the form was: ``form``, or ``form HOST`` when posted from another site."""
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    host = urlsplit(origin).hostname or ""
    own = urlsplit(str(request.base_url)).hostname or ""
    return f"form {host}" if host and host != own else "form"


def _why(exc: SubscriberError, address: str) -> str:
    if not address:
        return "Please give an email address."
    text = str(exc)
    if "timezone" in text.lower() or "zone" in text.lower():
        return "That timezone is not one we know: choose one from the list, e.g. Europe/Paris."
    return "That does not look like an email address: please check it."


def send_confirmation(service: Service, request_: consent.Request) -> None:
    from newsletter.email.message import Notice

    token = tokens.make(service.secret, "confirm", request_.subscriber_id)
    url = f"{service.publication.service_url}/confirm?t={token}"
    subject = f"Confirm your subscription to {service.publication.name}"
    values = {"name": request_.name, "confirm_url": url, "subject": subject,
              "days": service.publication.readers.confirm_days}
    notice = Notice(request_.email, request_.name, subject,
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
    await run_in_threadpool(consent.confirm, service.engine, found.id)
    manage = tokens.make_pair(service.secret, found.id)[1]
    return service.pages.message("You are subscribed", [
        f"{mask(found.email)} will get {service.publication.name} from the next issue on.",
        "Every issue has a link at its foot to change your name or timezone, or to leave."],
        link=("Manage your subscription", f"manage?t={manage}"))


def _awaiting(service: Service, token: str) -> Subscriber | Response:
    """The reader a confirmation link is for, or the page to show instead."""
    pages, days = service.pages, service.publication.readers.confirm_days
    try:
        subscriber_id = tokens.read(service.secret, token, "confirm", max_age_days=days)
    except SubscriberError as exc:
        if "expired" in str(exc):
            return pages.message("This link has expired", [
                f"Confirmation links work for {days} days. Ask again and we will send a "
                "new one."], 400, link=("Subscribe", "subscribe"))
        return pages.invalid()
    found = consent.awaiting(service.engine, subscriber_id, _day(tokens.made_on(token)))
    if found is not None:
        return found
    current = find_by_id(service.engine, subscriber_id)
    if current is not None and current.status == "active":
        return pages.message("You are already subscribed", [
            f"{mask(current.email)} gets {service.publication.name}; there is nothing more "
            "to do."])
    return pages.message("Nothing to confirm", [
        "This link was replaced by a newer one, or the request was withdrawn. To subscribe, "
        "ask again."], 400, link=("Subscribe", "subscribe"))


def _day(days_since_1970: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=days_since_1970)
