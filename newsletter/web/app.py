"""The readers' web service (ASGI, Starlette): subscribing with double opt-in
(subscribe.py), one-click unsubscribe, each reader's own page (manage.py), and each
provider's events, at ``/webhooks/NAME`` for every provider whose webhook is set up
(the registry, delivery/providers/registry.py, says which). Stateless over the same
database as the command line, so several instances can run behind a load balancer on
one PostgreSQL.

RFC 8058: a mail provider POSTs ``List-Unsubscribe=One-Click`` to the link in the
``List-Unsubscribe`` header, with no cookies and following no redirect; that POST
unsubscribes at once and answers 200. A GET of the same link is what a person (or a link
scanner) does: it changes nothing, and shows a page with a button that POSTs.

Hostile clients: every body is read with a size limit and a deadline (forms.py), and
one left unread closes its connection after the answer (forms.UnreadBodyCloses); the
webhook's signature headers are checked before its body is read, and the bytes its
bodies hold at once are bounded, per process and per client address (budget.py); a
client that leaves mid-body is one log line; no answer is a redirect built from the
request's Host (there are no redirects at all: a path with a trailing slash is a 404);
and an exception that escapes a route is one log line and a 500 that still carries the
security headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from newsletter import clicks as link_keys
from newsletter import look
from newsletter.config import Environment
from newsletter.content import settings
from newsletter.content.settings import Publication
from newsletter.delivery.providers import registry
from newsletter.delivery.providers.base import Refused, Webhook
from newsletter.errors import SubscriberError
from newsletter.safetext import for_terminal
from newsletter.store import consent, db, subscribers
from newsletter.store import events as store_events
from newsletter.web import budget, clicks, clients, forms, link, manage, startup, subscribe, welcome
from newsletter.web.mailer import Mailer
from newsletter.web.pages import Message, Pages, mask
from newsletter.web.recent import Issues
from newsletter.web.service import Service

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


def create_app(config: str | Path | None = None, env: Environment | None = None) -> Starlette:
    """The application for the publication whose settings are ``config``. Refuses to start
    without a real NEWSLETTER_SECRET: the links it honours are signed with it."""
    env = env or Environment.from_environ()
    path = Path(config or env.config_file or settings.SETTINGS_FILE)
    secret = env.secret.encode()
    hooks = registry.webhooks(env)  # a key set up wrong is refused here, in one line
    publication = settings.load(path)
    startup.check(secret, publication)  # a short secret, no service_url of its own: refused
    engine = db.connect(db.database_url(env.database_url, path.parent))
    # The publication's folders, beside its settings (look.py passes over a templates
    # folder that is not there).
    templates, issues = look.own_folder(path.parent), Issues(publication, path.parent / "issues")
    # A transport that cannot be made is refused here, at start, in one line.
    transport = registry.make("auto", publication, env, outbox=path.parent / "outbox")
    pages = Pages(publication, templates, issues)
    service = Service(publication, engine, secret, hooks, pages, transport,
                      welcome.load(path.parent, publication, secret, templates=templates,
                                   issues=issues))
    tally = clicks.Tally(engine)
    app = Starlette(routes=_routes(service, tally), exception_handlers=_handlers(service),
                    lifespan=_mailing(service, tally))
    # Starlette answers /manage/ with a redirect to /manage, built from the request's Host
    # header: a forged Host made it a redirect to any site. A trailing slash is a 404.
    app.router.redirect_slashes = False
    app.state.service = service
    # The page for an exception that escapes every route, made now: nothing is rendered
    # while something is failing.
    app.add_middleware(_Headers, headers=security_headers(publication),
                       error_page=pages.text("message.html.j2", message="server_error").encode())
    app.add_middleware(forms.UnreadBodyCloses)  # outside _Headers: it sees every answer
    app.add_middleware(clients.ProxyCheck)  # warns when a proxy hides the readers' addresses
    return app


def security_headers(publication: Publication) -> dict[str, str]:
    """The headers every answer carries. With ALTCHA, its script's origin may load, and
    the widget may fetch a challenge and solve it in a worker."""
    headers = dict(SECURITY_HEADERS)
    if publication.logo_origin:  # the masthead's image, from where it is (checked, ASCII)
        headers["Content-Security-Policy"] += f"; img-src {publication.logo_origin}"
    script = publication.readers.altcha_script
    if publication.readers.altcha and script:
        parts = urlsplit(script)
        origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "'self'"
        headers["Content-Security-Policy"] += (f"; script-src {origin}; connect-src 'self'; "
                                               "worker-src blob:")
    return headers


def _mailing(service: Service, tally: clicks.Tally
             ) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """The app's lifespan: the mailer of queued requests, and the writer of the clicks'
    counts, run while the app does."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(Mailer(service).run()), asyncio.create_task(tally.run())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return lifespan


def factory() -> Starlette:
    """For ``uvicorn --factory``: the settings and secrets from the environment."""
    return create_app()


# Set on answers after which the connection must not be reused: the body was not read
# (so the rest of it would be taken for the next request), or the client is too slow.
CLOSE = {"Connection": "close"}
# The status the log gives a request whose client went away before its body was read
# (nginx's "client closed request"); nobody receives it.
CLIENT_GONE = 499
# The bytes of webhook bodies held at once, per process, and one client address's share
# (budget.py says why bytes, not bodies): what a stranger with well-formed signature
# headers can make the service hold is 16 MiB, and 8 of it from one address. A provider's
# post that finds it full takes the place of reads that have gone on for over a second,
# or, where there are none, gets a 503 and is retried.
WEBHOOK_BYTES = 16 * 1024 * 1024
WEBHOOK_SHARE = WEBHOOK_BYTES // 2
# Bodies checked and parsed at once, per process: a parse holds several times its body's
# size, and verifying may wait on a provider's certificate. Those that are in wait here
# (their bytes already counted) rather than being refused.
WEBHOOK_CHECKS = 4


def _handlers(service: Service) -> dict[Any, Callable[[Request, Exception], Response]]:
    def gone(_request: Request, _exc: Exception) -> Response:
        return Response(status_code=CLIENT_GONE)  # logged once by _Headers, sent nowhere

    def too_slow(request: Request, _exc: Exception) -> Response:
        """A form's body too slow for a person's browser is the error page; a program's
        post to a webhook gets the line it always got."""
        if request.url.path.startswith(MACHINES):
            return PlainTextResponse("the request body took too long", 408, headers=CLOSE)
        return service.pages.message("error", 408, headers=CLOSE, status_code=408)

    def http_error(request: Request, exc: Exception) -> Response:
        """A page in the publication's look for people; a provider posting to a
        webhook's address gets the line it always got."""
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith(MACHINES):
            return PlainTextResponse(exc.detail, exc.status_code, headers=exc.headers)
        page = _ERROR_PAGES.get(exc.status_code, "error")
        return service.pages.message(page, exc.status_code, headers=exc.headers,
                                     status_code=exc.status_code)

    return {ClientDisconnect: gone, forms.TooSlow: too_slow, HTTPException: http_error}


# Addresses that programs call (providers' webhooks, the health check, the open pixel):
# their errors stay plain text. A click link (/c/) is a reader's: its errors are pages.
MACHINES = ("/webhooks/", "/health", "/o/")
_ERROR_PAGES: dict[int, Message] = {404: "not_found", 405: "method_not_allowed"}


def _routes(service: Service, tally: clicks.Tally) -> list[Route]:
    pages = service.pages

    def health(_request: Request) -> Response:
        with service.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    def unsubscribe_page(request: Request) -> Response:
        subscriber = _subscriber(service, request.query_params.get("t", ""))
        if subscriber is None:
            return pages.invalid()
        return pages.render("unsubscribe.html.j2", masked=mask(subscriber.email),
                            token=request.query_params["t"], action="unsubscribe")

    async def unsubscribe(request: Request) -> Response:
        try:
            form = await forms.form(request)
        except forms.TooLarge:
            # The page every form gives, to a one-click POST too: one can only be told by
            # its form, which is 26 bytes (RFC 8058), and a provider reads the status alone.
            return service.pages.message("too_large", 413)
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
        return pages.message("unsubscribed", masked=mask(subscriber.email))

    bodies = budget.Budget(WEBHOOK_BYTES, WEBHOOK_SHARE)
    checking = asyncio.Semaphore(WEBHOOK_CHECKS)

    def webhook(hook: Webhook[Any]) -> Callable[[Request], Awaitable[Response]]:
        async def receive(request: Request) -> Response:
            # The body's bytes count until its events are stored: the events parsed
            # from it are held as long as that.
            client = clients.bucket(request.client.host if request.client else None)
            with bodies.account(client) as holder:
                received = await _received(hook, request, holder, checking)
                if isinstance(received, Response):
                    return received
                recorded = await run_in_threadpool(
                    store_events.record, service.engine, received,
                    individual=service.publication.individual)
            # 200 with events refused too: the post would fail the same way at each retry.
            return JSONResponse({"received": len(received), "new": recorded.new,
                                 "refused": recorded.refused})

        return receive

    async def no_webhook(request: Request) -> Response:
        # A fixed line: the name is the caller's, and no answer repeats a stranger's words.
        return PlainTextResponse("no webhook is set up by that name", 404, headers=CLOSE)

    hooks = [Route(f"/webhooks/{name}", webhook(hook), methods=["POST"])
             for name, hook in service.webhooks.items()]

    click_key = link_keys.key(service.secret)
    readers = clicks.Readers(service.secret, service.publication.individual)

    async def click(request: Request) -> Response:  # async: nothing here waits
        return clicks.redirect(request, click_key, tally, pages, readers)

    async def pixel(request: Request) -> Response:
        return clicks.opened(request, click_key, tally, readers)

    return [Route("/", subscribe.subscribe_form, methods=["GET"]),
            Route("/health", health), Route("/unsubscribe", unsubscribe_page, methods=["GET"]),
            Route("/c/{token}", click, methods=["GET", "HEAD"]),
            Route("/o/{token}", pixel, methods=["GET", "HEAD"]),
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
            Route("/manage/link", link.ask, methods=["POST"]),
            *hooks, Route("/webhooks/{name}", no_webhook, methods=["POST"])]


async def _received(hook: Webhook[Any], request: Request, holder: budget.Holder,
                    checking: asyncio.Semaphore) -> list[store_events.Event] | Response:
    """A provider's events, or the answer that refuses the post. Whatever cannot be the
    provider's is refused on its headers alone, before a byte of the body is read, and the
    connection closed so that the body is not read afterwards either."""
    try:
        admitted = hook.admit(request.headers, dt.datetime.now(dt.UTC))
        body = await forms.body(request, hook.max_body, meter=holder)
        # Off the event loop: verifying may fetch a provider's certificate (with a
        # deadline), and parsing a large post takes milliseconds. At most WEBHOOK_CHECKS
        # at once; the body's bytes stay counted in the budget until the answer.
        async with checking:
            batch = await run_in_threadpool(hook.events, admitted, body)
    except forms.TooLarge:
        return PlainTextResponse("too large", 413, headers=CLOSE)
    except budget.Full:
        return PlainTextResponse("busy: try again", 503,
                                 headers={**CLOSE, "Retry-After": "5"})
    except Refused as exc:
        return PlainTextResponse(f"refused: {exc}", exc.status, headers=CLOSE)
    return batch


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
        consent.leave(service.engine, subscriber.id,
                      subscribers.link_day(service.secret, token))
    return subscriber


def _subscriber(service: Service, token: str) -> subscribers.Subscriber | None:
    try:
        return subscribers.find_by_link(service.engine, service.secret, token)
    except SubscriberError:
        return None


class _Headers:
    """Security headers on every answer, and a log line without addresses or tokens.

    An exception that escapes the application is answered here (500, with the headers:
    the error page, or on what programs call, MACHINES, a line of plain text like their
    other errors) and logged as one line: its type and where it was raised, never its
    message, which can hold an address (a database error quotes its parameters)."""

    def __init__(self, app: Callable[..., Awaitable[None]], headers: dict[str, str],
                 error_page: bytes) -> None:
        self.app = app
        self.error_page = error_page
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

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:  # the one place that answers for every route
            if not status[0]:
                await self._failed(str(scope.get("path", "")), sending)
            log.error("%s %s %s %s at %s %.1f ms", scope.get("method"), _path(scope),
                      status[0] or 500, type(exc).__name__, _where(exc),
                      (time.perf_counter() - started) * 1000)
            return
        gone = " (the client went away)" if status[0] == CLIENT_GONE else ""
        log.info("%s %s %s%s %.1f ms", scope.get("method"), _path(scope), status[0],
                 gone, (time.perf_counter() - started) * 1000)

    async def _failed(self, path: str, sending: Callable[[dict[str, object]], Awaitable[None]]
                      ) -> None:
        """The 500: the page people see, or plain text where a program called."""
        machine = path.startswith(MACHINES)
        await sending(_ERROR_START_TEXT if machine else _ERROR_START)
        await sending({"type": "http.response.body",
                       "body": _ERROR_TEXT if machine else self.error_page})


def _path(scope: dict[str, object]) -> str:
    """The request's path as the log shows it: control characters escaped (a stranger's
    %0a must not write a line of its own, nor %1b colour the operator's terminal), and
    cut short (a request line may be 64 KiB)."""
    path = str(scope.get("path", ""))
    shown = for_terminal(path[:_LOGGED_PATH])
    return shown[:_LOGGED_PATH] + "…" if len(shown) > _LOGGED_PATH or \
        len(path) > _LOGGED_PATH else shown


_LOGGED_PATH = 300
_ERROR_START: dict[str, object] = {
    "type": "http.response.start", "status": 500,
    "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"connection", b"close")]}
_ERROR_START_TEXT: dict[str, object] = {
    "type": "http.response.start", "status": 500,
    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]}
_ERROR_TEXT = b"internal server error"


def _where(exc: BaseException) -> str:
    """``file:line`` of the innermost frame of ours that ``exc`` passed through (a
    database error is raised deep in the driver; where we called it says more), or of
    the innermost frame at all. No message, no values."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [frame for frame in frames if frame.filename.startswith(_PACKAGE)] or frames
    return f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"


_PACKAGE = str(Path(__file__).resolve().parent.parent)  # newsletter/
