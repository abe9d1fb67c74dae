"""The readers' web service (ASGI, Starlette): one-click unsubscribe, and SendGrid's
events. Stateless over the same database as the command line, so several instances can
run behind a load balancer on one PostgreSQL.

RFC 8058: a mail provider POSTs ``List-Unsubscribe=One-Click`` to the link in the
``List-Unsubscribe`` header, with no cookies and following no redirect; that POST
unsubscribes at once and answers 200. A GET of the same link is what a person (or a link
scanner) does: it changes nothing, and shows a page with a button that POSTs.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment as Templates
from jinja2 import PackageLoader, select_autoescape
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from newsletter.config import Environment
from newsletter.content import settings
from newsletter.content.settings import Publication
from newsletter.errors import ConfigError, SubscriberError
from newsletter.store import db, subscribers
from newsletter.store import events as store_events
from newsletter.tokens import DEV_SECRET
from newsletter.web import sendgrid

log = logging.getLogger("newsletter.web")
ONE_CLICK = ("List-Unsubscribe", "One-Click")
MAX_FORM = 16 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never pass it on
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Service:
    publication: Publication
    engine: Engine
    secret: bytes
    webhook_key: object | None  # an EllipticCurvePublicKey when the webhook is set up


def create_app(config: str | Path | None = None, env: Environment | None = None) -> Starlette:
    """The application for the publication whose settings are ``config``. Refuses to start
    without a real NEWSLETTER_SECRET: the links it honours are signed with it."""
    env = env or Environment.from_environ()
    path = Path(config or env.config_file or settings.SETTINGS_FILE)
    secret = env.secret.encode()
    if not secret or secret == DEV_SECRET:
        raise ConfigError("NEWSLETTER_SECRET is not set (or is the development key): the "
                          "service cannot check the links it is asked to honour")
    key = None
    if env.sendgrid_webhook_key:
        try:
            key = sendgrid.public_key(env.sendgrid_webhook_key)
        except ValueError as exc:
            raise ConfigError(f"SENDGRID_WEBHOOK_PUBLIC_KEY: {exc}") from None
    publication = settings.load(path)
    engine = db.connect(db.database_url(env.database_url, path.parent))
    service = Service(publication, engine, secret, key)
    app = Starlette(routes=_routes(service))
    app.add_middleware(_Headers)
    return app


def factory() -> Starlette:
    """For ``uvicorn --factory``: the settings and secrets from the environment."""
    return create_app()


def _routes(service: Service) -> list[Route]:
    pages = _Pages(service.publication)

    def health(_request: Request) -> Response:
        with service.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    def unsubscribe_page(request: Request) -> Response:
        subscriber = _subscriber(service, request.query_params.get("t", ""))
        if subscriber is None:
            return pages.invalid()
        return pages.render("unsubscribe.html.j2", "Unsubscribe", masked=mask(subscriber.email),
                            token=request.query_params["t"], action="unsubscribe")

    async def unsubscribe(request: Request) -> Response:
        form = await _form(request)
        token = request.query_params.get("t") or form.get("t", "")
        one_click = form.get(ONE_CLICK[0]) == ONE_CLICK[1]
        # The database is blocking work: off the event loop, in the thread pool.
        if one_click:  # a mail provider: one statement, the same answer every time
            done = await run_in_threadpool(_one_click, service, token)
            return PlainTextResponse("unsubscribed") if done else \
                PlainTextResponse("invalid link", 400)
        subscriber = await run_in_threadpool(_unsubscribe, service, token)
        if subscriber is None:
            return pages.invalid()
        return pages.message("You are unsubscribed", [
            f"{mask(subscriber.email)} will get no more email from {service.publication.name}.",
            "Changed your mind? You are welcome back any time."])

    async def webhook(request: Request) -> Response:
        return await _webhook(service, request)

    return [Route("/health", health), Route("/unsubscribe", unsubscribe_page, methods=["GET"]),
            Route("/unsubscribe", unsubscribe, methods=["POST"]),
            Route("/webhooks/sendgrid", webhook, methods=["POST"])]


async def _webhook(service: Service, request: Request) -> Response:
    if service.webhook_key is None:
        return PlainTextResponse("the SendGrid webhook is not set up", 404)
    body = await _body(request, sendgrid.MAX_BODY)
    if body is None:
        return PlainTextResponse("too large", 413)
    try:
        sendgrid.verify(service.webhook_key, request.headers, body,  # type: ignore[arg-type]
                        dt.datetime.now(dt.UTC))
        batch = sendgrid.events(body)
    except sendgrid.Refused as exc:
        return PlainTextResponse(f"refused: {exc}", 401 if "signature" in str(exc) or
                                 "unsigned" in str(exc) else 400)
    recorded = await run_in_threadpool(store_events.record, service.engine, batch)
    return JSONResponse({"received": len(batch), "new": recorded.new})


def _one_click(service: Service, token: str) -> bool:
    try:
        subscribers.unsubscribe_by_link(service.engine, service.secret, token)
    except SubscriberError:
        return False
    return True


def _unsubscribe(service: Service, token: str) -> subscribers.Subscriber | None:
    """The subscriber a token names, unsubscribed now if they were active."""
    subscriber = _subscriber(service, token)
    if subscriber is not None and subscriber.status == "active":
        subscribers.set_status(service.engine, subscriber.email, "unsubscribed")
    return subscriber


def _subscriber(service: Service, token: str) -> subscribers.Subscriber | None:
    try:
        return subscribers.find_by_link(service.engine, service.secret, token)
    except SubscriberError:
        return None


async def _form(request: Request) -> dict[str, str]:
    body = await _body(request, MAX_FORM)
    if not body:
        return {}
    from urllib.parse import parse_qsl

    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def _body(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it is longer than ``limit``."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def mask(address: str) -> str:
    """``ann.smith@example.org`` -> ``a*******h@example.org``: enough to recognise one's
    own, not enough to learn someone else's from a forwarded link."""
    local, _, domain = address.rpartition("@")
    shown = local[:1] + "*" * max(len(local) - 2, 1) + (local[-1:] if len(local) > 2 else "")
    return f"{shown}@{domain}"


class _Pages:
    def __init__(self, publication: Publication) -> None:
        self.publication = publication
        self.env = Templates(loader=PackageLoader("newsletter.web", "templates"),
                             autoescape=select_autoescape(default=True))

    def render(self, template: str, title: str, status: int = 200, **values: object
               ) -> HTMLResponse:
        page = self.env.get_template(template).render(pub=self.publication, title=title,
                                                      **values)
        return HTMLResponse(page, status)

    def message(self, title: str, lines: list[str], status: int = 200) -> HTMLResponse:
        return self.render("message.html.j2", title, status, lines=lines)

    def invalid(self) -> HTMLResponse:
        return self.message("This link does not work", [
            "It may have been changed on the way, or made for another purpose.",
            "To stop the newsletter, use the unsubscribe link of a recent issue, or reply "
            "to it and ask: a person will take you off the list."], 400)


class _Headers:
    """Security headers on every answer, and a log line without addresses or tokens."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, object], receive: object, send: object) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [0]

        async def sending(message: dict[str, object]) -> None:
            if message.get("type") == "http.response.start":
                status[0] = int(message["status"])  # type: ignore[call-overload]
                headers = list(message.get("headers") or [])  # type: ignore[call-overload]
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)  # type: ignore[operator]

        await self.app(scope, receive, sending)
        log.info("%s %s %s %.1f ms", scope.get("method"), scope.get("path"), status[0],
                 (time.perf_counter() - started) * 1000)
