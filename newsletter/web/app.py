"""The readers' web service (ASGI, Starlette): subscribing with double opt-in
(subscribe.py), one-click unsubscribe, each reader's own page (manage.py), and SendGrid's
events. Stateless over the same database as the command line, so several instances can
run behind a load balancer on one PostgreSQL.

RFC 8058: a mail provider POSTs ``List-Unsubscribe=One-Click`` to the link in the
``List-Unsubscribe`` header, with no cookies and following no redirect; that POST
unsubscribes at once and answers 200. A GET of the same link is what a person (or a link
scanner) does: it changes nothing, and shows a page with a button that POSTs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from newsletter.config import Environment
from newsletter.content import settings
from newsletter.content.settings import Publication
from newsletter.delivery import transports
from newsletter.delivery.transports import Transport
from newsletter.errors import ConfigError, SubscriberError
from newsletter.store import consent, db, subscribers
from newsletter.store import events as store_events
from newsletter.web import clients, forms, manage, sendgrid, startup, subscribe
from newsletter.web.mailer import Mailer
from newsletter.web.pages import Pages, mask

log = logging.getLogger("newsletter.web")
ONE_CLICK = ("List-Unsubscribe", "One-Click")
SECURITY_HEADERS = {  # the policy for a publication without ALTCHA (security_headers)
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
    pages: Pages
    # What confirmation emails go by: the command line's ``auto`` choice (SendGrid, SMTP,
    # else the outbox beside newsletter.yaml), made when the process starts.
    transport: Transport


def create_app(config: str | Path | None = None, env: Environment | None = None) -> Starlette:
    """The application for the publication whose settings are ``config``. Refuses to start
    without a real NEWSLETTER_SECRET: the links it honours are signed with it."""
    env = env or Environment.from_environ()
    path = Path(config or env.config_file or settings.SETTINGS_FILE)
    secret = env.secret.encode()
    key = None
    if env.sendgrid_webhook_key:
        try:
            key = sendgrid.public_key(env.sendgrid_webhook_key)
        except ValueError as exc:
            raise ConfigError(f"SENDGRID_WEBHOOK_PUBLIC_KEY: {exc}") from None
    publication = settings.load(path)
    startup.check(secret, publication)  # a short secret, no service_url of its own: refused
    engine = db.connect(db.database_url(env.database_url, path.parent))
    overrides = path.parent / "templates"
    # A transport that cannot be made is refused here, at start, in one line.
    transport = transports.make("auto", publication, env, outbox=path.parent / "outbox")
    service = Service(publication, engine, secret, key,
                      Pages(publication, overrides if overrides.is_dir() else None), transport)
    app = Starlette(routes=_routes(service), lifespan=_mailing(service))
    app.state.service = service
    app.add_middleware(_Headers, headers=security_headers(publication))
    app.add_middleware(clients.ProxyCheck)  # warns when a proxy hides the readers' addresses
    return app


def security_headers(publication: Publication) -> dict[str, str]:
    """The headers every answer carries. With ALTCHA, its script's origin may load, and
    the widget may fetch a challenge and solve it in a worker."""
    headers = dict(SECURITY_HEADERS)
    script = publication.readers.altcha_script
    if publication.readers.altcha and script:
        parts = urlsplit(script)
        origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "'self'"
        headers["Content-Security-Policy"] += (f"; script-src {origin}; connect-src 'self'; "
                                               "worker-src blob:")
    return headers


def _mailing(service: Service) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """The app's lifespan: the mailer of queued requests runs while the app does."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(Mailer(service).run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan


def factory() -> Starlette:
    """For ``uvicorn --factory``: the settings and secrets from the environment."""
    return create_app()


def _routes(service: Service) -> list[Route]:
    pages = service.pages

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
        try:
            form = await forms.form(request)
        except forms.TooLarge:
            return PlainTextResponse("too large", 413)
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
            "Changed your mind? You are welcome back any time."],
            link=("Subscribe again", "subscribe"))

    async def webhook(request: Request) -> Response:
        return await _webhook(service, request)

    return [Route("/health", health), Route("/unsubscribe", unsubscribe_page, methods=["GET"]),
            Route("/unsubscribe", unsubscribe, methods=["POST"]),
            Route("/subscribe", subscribe.subscribe_form, methods=["GET"]),
            Route("/subscribe", subscribe.subscribe, methods=["POST"]),
            Route("/altcha", subscribe.altcha_challenge, methods=["GET"]),
            Route("/confirm", subscribe.confirm_page, methods=["GET"]),
            Route("/confirm", subscribe.confirm, methods=["POST"]),
            Route("/manage", manage.show, methods=["GET"]),
            Route("/manage", manage.save, methods=["POST"]),
            Route("/manage/data", manage.download, methods=["POST"]),
            Route("/manage/forget", manage.forget, methods=["POST"]),
            Route("/webhooks/sendgrid", webhook, methods=["POST"])]


async def _webhook(service: Service, request: Request) -> Response:
    if service.webhook_key is None:
        return PlainTextResponse("the SendGrid webhook is not set up", 404)
    try:
        body = await forms.body(request, sendgrid.MAX_BODY)
    except forms.TooLarge:
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
    """The subscriber a token names, unsubscribed now if they were active (or still to
    confirm: leaving withdraws the request too)."""
    subscriber = _subscriber(service, token)
    if subscriber is not None:
        consent.leave(service.engine, subscriber.id)
    return subscriber


def _subscriber(service: Service, token: str) -> subscribers.Subscriber | None:
    try:
        return subscribers.find_by_link(service.engine, service.secret, token)
    except SubscriberError:
        return None


class _Headers:
    """Security headers on every answer, and a log line without addresses or tokens."""

    def __init__(self, app: Callable[..., Awaitable[None]], headers: dict[str, str]) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: dict[str, object], receive: object, send: object) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [0]

        async def sending(message: dict[str, object]) -> None:
            if message.get("type") == "http.response.start":
                status[0] = int(message["status"])  # type: ignore[call-overload]
                headers = list(message.get("headers") or [])  # type: ignore[call-overload]
                headers += self.headers
                message = {**message, "headers": headers}
            await send(message)  # type: ignore[operator]

        await self.app(scope, receive, sending)
        log.info("%s %s %s %.1f ms", scope.get("method"), scope.get("path"), status[0],
                 (time.perf_counter() - started) * 1000)
