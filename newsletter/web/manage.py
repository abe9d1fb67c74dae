"""A reader's own page, reached by the manage link at the foot of every issue: their name
and timezone, leaving, a download of everything kept about them, and erasing it. The page
and the download say what is kept of opens and clicks at the publication's level of
tracking; at ``individual`` the download lists the reader's own (store/activity.py).

The link's token is for managing only (see tokens.py); it does not expire, as the link
in an old issue should still work. Every change is a POST carrying the token.
"""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from newsletter import tokens
from newsletter.errors import SubscriberError
from newsletter.store import activity, consent
from newsletter.store.status import Status
from newsletter.store.subscribers import Subscriber, find_by_link
from newsletter.web import forms, link
from newsletter.web.pages import mask
from newsletter.web.service import Service
from newsletter.web.subscribe import zones


def _reader(service: Service, token: str) -> Subscriber | Response:
    try:
        found = find_by_link(service.engine, service.secret, token, "manage")
    except SubscriberError:
        return service.pages.invalid()
    if found is None:
        return service.pages.message("nothing_stored")
    return found


def page(service: Service, reader: Subscriber, token: str, *, saved: bool = False,
         error: str = "", status: int = 200, name: str | None = None,
         timezone: str | None = None) -> Response:
    """The reader's page; ``error`` is the name of one in manage.html.j2 (``bad_timezone``,
    ``not_sure``), whose words, and the reader's status in words, are the template's."""
    leave = tokens.make_pair(service.secret, reader.link_key)[0]
    return service.pages.render(
        "manage.html.j2", status, masked=mask(reader.email),
        reader_status=str(reader.status),
        active=reader.status == Status.ACTIVE, token=token, unsubscribe_token=leave,
        name=reader.name or "" if name is None else name,
        timezone=reader.timezone or "" if timezone is None else timezone,
        saved=saved, error=error, zones=zones(), tracking=service.publication.tracking)


async def show(request: Request) -> Response:
    service: Service = request.app.state.service
    token = request.query_params.get("t", "")
    if not token:  # someone who lost their link: they may ask for it by email
        return link.form_page(service)
    found = await run_in_threadpool(_reader, service, token)
    return found if isinstance(found, Response) else page(service, found, token)


async def _posted(request: Request) -> tuple[dict[str, str], Subscriber | Response]:
    service: Service = request.app.state.service
    try:
        fields = await forms.form(request)
    except forms.TooLarge:
        return {}, service.pages.message("too_large", 413)
    return fields, await run_in_threadpool(_reader, service, fields.get("t", ""))


async def save(request: Request) -> Response:
    service: Service = request.app.state.service
    fields, found = await _posted(request)
    if isinstance(found, Response):
        return found
    name, zone = fields.get("name", ""), fields.get("timezone", "").strip()
    try:
        await run_in_threadpool(consent.set_preferences, service.engine, found.id,
                                name=name, timezone=zone or None)
    except SubscriberError:
        return page(service, found, fields["t"], status=400, name=name, timezone=zone,
                    error="bad_timezone")
    updated = await run_in_threadpool(_reader, service, fields["t"])
    assert not isinstance(updated, Response)
    return page(service, updated, fields["t"], saved=True)


async def download(request: Request) -> Response:
    service: Service = request.app.state.service
    _, found = await _posted(request)
    if isinstance(found, Response):
        return found
    data = await run_in_threadpool(consent.record, service.engine, found.id)
    kept: dict[str, object] = {
        "publication": service.publication.name, "subscriber": data,
        # What is kept of opens and clicks, said, so they need not ask.
        "opens_and_clicks": _reading(service)}
    # Rows kept while the level was individual are listed whatever the level is now.
    rows = await run_in_threadpool(activity.of_reader, service.engine, found.id)
    if rows or service.publication.individual:
        kept["opened_and_clicked"] = rows
    body = json.dumps(kept, indent=2, ensure_ascii=False)
    return Response(body + "\n", media_type="application/json", headers={
        "Content-Disposition": 'attachment; filename="my-subscription.json"'})


def _reading(service: Service) -> str:
    """What is kept of opens and clicks, in the reader's language: the template's words."""
    tracking = service.publication.tracking
    return service.pages.text("opens_and_clicks.txt.j2", tracking=tracking).strip()


async def forget(request: Request) -> Response:
    service: Service = request.app.state.service
    fields, found = await _posted(request)
    if isinstance(found, Response):
        return found
    if fields.get("sure") != "yes":
        return page(service, found, fields["t"], status=400,
                    error="not_sure")
    await run_in_threadpool(consent.forget, service.engine, found.id)
    return service.pages.message("erased", masked=mask(found.email))
