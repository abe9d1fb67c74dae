"""The editor's preview: a local web page showing an issue as readers will see it.

The page shows the inbox line (subject and preheader), the lint findings, the email at
phone (375 px) and desktop (600 px) widths, a dark-mode rendering and the text edition.
Everything is rendered afresh on each request, from the files as they are on disk, and a
watcher tells open pages (over server-sent events) to reload when an issue file, the
settings or a template is saved. A file that does not validate shows its errors in the
page; the server keeps running.

``/`` is the issue named on the command line; ``/YYYY-MM-DD/`` is the issue of that date.
It is a Starlette app run by uvicorn, as the readers' service is, with its pages in
``templates/`` (Jinja) and their words in the package's catalogue, in the publication's
language (newsletter/words.py). It answers only to this machine's names: a page
elsewhere cannot read an unsent issue through a DNS name that points here (DNS
rebinding).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import html
import ipaddress
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import uvicorn
import watchfiles
from jinja2 import Environment as Templates
from jinja2 import PackageLoader
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from newsletter import look, words
from newsletter.clicks import READER_PART
from newsletter.config import Environment
from newsletter.content.settings import Publication
from newsletter.email.render import (
    GREETING_HTML_TOKEN,
    GREETING_TOKEN,
    MANAGE_TOKEN,
    UNSUBSCRIBE_TOKEN,
    without_open_pixel,
)
from newsletter.email.welcome import WelcomeEmail
from newsletter.errors import ConfigError, IssueNotFound, NewsletterError, ProblemsFound
from newsletter.project import SUFFIXES, Project, Rendered

_DARK = re.compile(r"@media\s*\(prefers-color-scheme:\s*dark\)")
# An issue's date in a path: ASCII digits only (``int`` and ``fromisoformat`` would take
# other scripts' digits, and ``fromisoformat`` other ISO spellings), never a path.
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ENGLISH = "en-US"  # the preview's words while the settings cannot be read


@dataclass(frozen=True)
class Source:
    """Where the preview reads from: the settings file and one issue file (the one shown
    at ``/``; the others are found by date in the publication's issues folder)."""

    config: Path
    issue: Path
    env: Environment | None = None  # None: read the process's environment

    @property
    def issues_dir(self) -> Path:
        return self.config.parent / "issues"

    def folders(self) -> list[Path]:
        """Folders to watch. Editors save by writing a new file and renaming it over the
        old one, which a watch on the file itself would lose; its folder sees it."""
        folders = {self.config.parent.resolve(), self.issue.parent.resolve(),
                   *(d.resolve() for d in look.folders(look.own_folder(self.config.parent)))}
        more = {self.issues_dir.resolve()} if self.issues_dir.is_dir() else set()
        return sorted(folders | more)

    def concerns(self, path: Path) -> bool:
        """Whether a change to ``path`` can change a page of the preview."""
        welcome = self.config.parent / "welcome.yaml"
        return path in (self.config.resolve(), self.issue.resolve(), welcome.resolve()) or \
            path.name.endswith(".j2") or \
            (path.parent == self.issues_dir.resolve() and path.suffix in SUFFIXES)

    def project(self) -> Project:
        return Project(self.config, self.env)  # afresh: settings and templates may have changed

    def render(self, day: dt.date | None = None) -> Rendered:
        project = self.project()
        rendered = project.render(self.issue if day is None
                                  else project.resolve(day.isoformat()))
        return as_read(rendered, project.publication)


def as_read(rendered: Rendered, publication: Publication) -> Rendered:
    """The issue as a sample reader gets it: the reader's tokens filled in (their
    greeting, with sample_reader.txt.j2's name, and stand-ins for their own links), as
    delivery fills them for each reader."""
    name = templates(publication.locale).get_template("sample_reader.txt.j2").render().strip()
    greeting = publication.delivery.greeting_for(name) or ""
    values = {GREETING_TOKEN: greeting, GREETING_HTML_TOKEN: html.escape(greeting),
              UNSUBSCRIBE_TOKEN: _stand_in(publication.unsubscribe_base),
              MANAGE_TOKEN: _stand_in(publication.manage_base),
              READER_PART: ""}  # a click in the preview is no reader's
    email = rendered.email
    filled = dataclasses.replace(email, html=_fill(email.html, values),
                                 text=_fill(email.text, values))
    return dataclasses.replace(rendered, email=filled)


def _stand_in(base: str) -> str:
    """A reader's link with a token that is no reader's."""
    return f"{base}{'&' if '?' in base else '?'}t=PREVIEW"


def _fill(text: str, values: dict[str, str]) -> str:
    for token, value in values.items():
        text = text.replace(token, value)
    return text


def dark(html_text: str) -> str:
    """The email with its dark-mode rules always on, for a side-by-side look."""
    return _DARK.sub("@media all", html_text)


class Changes:
    """A counter that goes up on every save; pages that wait for it look every tenth of
    a second (a thread or a task a tab would cost more than the looking)."""

    def __init__(self) -> None:
        self.version = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def bump(self) -> None:
        with self.lock:
            self.version += 1

    async def wait_past(self, version: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.version <= version and not self.stop.is_set() and \
                time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return self.version


def watch(source: Source, changes: Changes) -> threading.Thread:
    def relevant(_change: watchfiles.Change, path: str) -> bool:
        return source.concerns(Path(path).resolve())

    def run() -> None:
        for _ in watchfiles.watch(*source.folders(), watch_filter=relevant, recursive=False,
                                  stop_event=changes.stop, debounce=100, step=50,
                                  rust_timeout=500, yield_on_timeout=False):
            changes.bump()

    thread = threading.Thread(target=run, name="preview-watch", daemon=True)
    thread.start()
    return thread


@cache
def templates(locale: str) -> Templates:
    return words.templates(PackageLoader("newsletter.site", "templates"), locale)


def publication_locale(source: Source) -> str:
    """The publication's ``locale`` for the preview's own words, English while the
    settings cannot be read (the page then says why)."""
    try:
        return source.project().publication.locale
    except NewsletterError:
        return ENGLISH


def message(locale: str, name: str, status: int, **values: Any) -> HTMLResponse:
    """A page of a sentence or two (preview_message.html.j2 holds their words, by name)."""
    body = templates(locale).get_template("preview_message.html.j2").render(
        message=name, **values)
    return HTMLResponse(body, status, headers=HEADERS)


HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
PARTS: dict[str, tuple[type[Response], Callable[[Rendered], str]]] = {
    # Without the open pixel: the editor's looking is no reader's open.
    "email.html": (HTMLResponse, lambda r: without_open_pixel(r.email.html)),
    "email-dark.html": (HTMLResponse, lambda r: dark(without_open_pixel(r.email.html))),
    "email.txt": (PlainTextResponse, lambda r: r.email.text),
}


def page(source: Source, day: dt.date | None, version: int) -> HTMLResponse:
    """The preview page: the issue's email in every view, or why it cannot be shown."""
    locale, values = ENGLISH, {"version": version, "name": source.issue.name if day is None
                               else day.isoformat()}
    try:
        project = source.project()
        locale = project.publication.locale
        path = source.issue if day is None else project.resolve(day.isoformat())
        values["name"] = path.name
        rendered = as_read(project.render(path), project.publication)
    except IssueNotFound:
        return message(locale, "no_issue", 404, day=values["name"])
    except ProblemsFound as exc:
        return _page(locale, problems=exc.problems, invalid=True, **values)
    except NewsletterError as exc:
        return _page(locale, error=str(exc), **values)
    except Exception as exc:  # the page shows what went wrong; the server lives on
        return _page(locale, failure=repr(exc), **values)
    return _page(locale, email=rendered.email, problems=rendered.findings, **values)


def welcome_page(source: Source, version: int) -> HTMLResponse:
    """The welcome email a reader gets once they confirm (welcome.yaml), in every view,
    with stand-ins for the reader's own links; or why it cannot be shown."""
    locale, values = ENGLISH, {"version": version, "name": "welcome.yaml"}
    try:
        project = source.project()
        locale = project.publication.locale
        if not project.welcome_file.is_file():
            return message(locale, "no_welcome", 404)
        email = project.welcome_email()
    except ProblemsFound as exc:
        return _page(locale, problems=exc.problems, invalid=True, **values)
    except NewsletterError as exc:
        return _page(locale, error=str(exc), **values)
    return _page(locale, email=email, **values)


def welcome_part(source: Source, name: str) -> Response:
    """One of the welcome email's views alone."""
    kind, extract = WELCOME_PARTS[name]
    try:
        project = source.project()
        if not project.welcome_file.is_file():
            return message(project.publication.locale, "no_welcome", 404)
        return kind(extract(project.welcome_email()), headers=HEADERS)
    except NewsletterError:
        return message(publication_locale(source), "not_valid", 422)


WELCOME_PARTS: dict[str, tuple[type[Response], Callable[[WelcomeEmail], str]]] = {
    "email.html": (HTMLResponse, lambda w: w.html),
    "email-dark.html": (HTMLResponse, lambda w: dark(w.html)),
    "email.txt": (PlainTextResponse, lambda w: w.text),
}


def _page(locale: str, **values: Any) -> HTMLResponse:
    values = {"email": None, "problems": [], "invalid": False, "error": None,
              "failure": None, **values}
    body = templates(locale).get_template("preview.html.j2").render(**values)
    return HTMLResponse(body, headers=HEADERS)


def part(source: Source, day: dt.date | None, name: str) -> Response:
    """One of the email's views alone (what the page's frames show)."""
    kind, extract = PARTS[name]
    try:
        return kind(extract(source.render(day)), headers=HEADERS)
    except IssueNotFound:
        return message(publication_locale(source), "no_issue", 404,
                       day=day.isoformat() if day else source.issue.name)
    except NewsletterError:
        return message(publication_locale(source), "not_valid", 422)


def day_of(request: Request) -> dt.date | None:
    """The date a path names, None for the issue of the command line; 404 for what is
    not shaped like a date, 400 for a date that is not one (2024-02-30)."""
    text = request.path_params.get("day")
    if text is None:
        return None
    if not _DAY.fullmatch(text):
        raise HTTPException(404)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise HTTPException(400, "bad_date") from None


def routes(source: Source, changes: Changes) -> list[Route]:
    async def show(request: Request) -> Response:
        return await run_in_threadpool(page, source, day_of(request), changes.version)

    def shows(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def show_part(request: Request) -> Response:
            return await run_in_threadpool(part, source, day_of(request), name)
        return show_part

    async def to_page(request: Request) -> Response:
        day = day_of(request)  # refused first: nothing is echoed that is not a date
        assert day is not None
        # Relative, so it names no host: /2024-07-24 -> /2024-07-24/.
        return Response(status_code=308, headers={"Location": f"{day.isoformat()}/", **HEADERS})

    async def events(request: Request) -> Response:
        since = _since(request.query_params.getlist("since"), changes.version)
        if since is None:
            raise HTTPException(400, "bad_since")
        return StreamingResponse(_events(changes, since), media_type="text/event-stream",
                                 headers=HEADERS)

    async def welcome(request: Request) -> Response:
        return await run_in_threadpool(welcome_page, source, changes.version)

    def welcome_shows(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def show_part(request: Request) -> Response:
            return await run_in_threadpool(welcome_part, source, name)
        return show_part

    async def to_welcome(request: Request) -> Response:
        return Response(status_code=308, headers={"Location": "welcome/", **HEADERS})

    return [Route("/", show), Route("/events", events),
            Route("/welcome/", welcome), Route("/welcome", to_welcome),
            *(Route(f"/welcome/{name}", welcome_shows(name)) for name in WELCOME_PARTS),
            *(Route(f"/{name}", shows(name)) for name in PARTS),
            Route("/{day}/", show), Route("/{day}", to_page),
            *(Route(f"/{{day}}/{name}", shows(name)) for name in PARTS)]


async def _events(changes: Changes, since: int) -> AsyncIterator[bytes]:
    while not changes.stop.is_set():
        if await changes.wait_past(since, timeout=15) > since:
            yield b"data: reload\n\n"
            return
        yield b": keep-alive\n\n"  # notices a closed tab


def _since(values: list[str], current: int) -> int | None:
    if not values:
        return current
    text = values[-1]
    return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else None


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def host_name(header: str | None) -> str:
    """The name in a Host header, without its port."""
    value = (header or "").strip().lower()
    if value.startswith("["):  # an IPv6 literal: [::1]:8000
        return value.partition("]")[0] + "]"
    return value.rpartition(":")[0] if value.count(":") == 1 else value


class OwnNames:
    """Requests must name this machine (or a name the editor allowed): 403 otherwise."""

    def __init__(self, app: ASGIApp, source: Source, allowed: frozenset[str]) -> None:
        self.app, self.source, self.allowed = app, source, allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if host_name(host) not in self.allowed:
                locale = await run_in_threadpool(publication_locale, self.source)
                await message(locale, "wrong_host", 403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(source: Source, changes: Changes,
               allowed_hosts: frozenset[str] = LOOPBACK_NAMES) -> ASGIApp:
    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        name = exc.detail if exc.detail in ("bad_date", "bad_since") else "not_found"
        status = exc.status_code if exc.status_code in (400, 404, 405) else 404
        locale = await run_in_threadpool(publication_locale, source)
        return message(locale, "method" if status == 405 else name, status)

    app = Starlette(routes=routes(source, changes), exception_handlers={HTTPException: refused})
    app.router.redirect_slashes = False  # a redirect would take its host from the request
    return OwnNames(app, source, allowed_hosts)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def listening_socket(host: str, port: int) -> socket.socket:
    """Bound here, so that a port in use is an OSError for the command to report, and
    port 0 a free port whose number the URL can say."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class PreviewServer:
    """The uvicorn server and the watcher, started and stopped together."""

    def __init__(self, source: Source, host: str = "127.0.0.1", port: int = 0,
                 allow_hosts: tuple[str, ...] = ()) -> None:
        self.changes = Changes()
        self.source = source
        allowed = frozenset(LOOPBACK_NAMES | {h.lower() for h in allow_hosts})
        self.socket = listening_socket(host, port)
        # Like `newsletter serve`: no access log, no Server header. Open event streams
        # end when the watcher stops; the short grace is for a tab that is mid-request.
        self.server = uvicorn.Server(uvicorn.Config(
            create_app(source, self.changes, allowed), log_level="warning",
            access_log=False, server_header=False, lifespan="off",
            timeout_graceful_shutdown=2))
        self.threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def start(self) -> PreviewServer:
        serving = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                   name="preview-server", daemon=True)
        self.threads = [watch(self.source, self.changes), serving]
        serving.start()
        deadline = time.monotonic() + 10
        while not self.server.started and serving.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def wait(self) -> None:
        """Until the server stops (Ctrl-C is the caller's to catch)."""
        while self.threads[1].is_alive():
            self.threads[1].join(0.5)  # in steps, so the main thread sees Ctrl-C

    def stop(self) -> None:
        self.changes.stop.set()
        self.changes.bump()
        self.server.should_exit = True
        for thread in self.threads:
            thread.join(10)
        self.socket.close()

    def __enter__(self) -> PreviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


SCREENSHOT_WIDTHS = (375, 600)


def screenshots(source: Source, out_dir: Path, chromium: str) -> list[Path]:
    """PNGs of the email at each width, taken in headless Chromium (for pull requests)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ConfigError("screenshots need Playwright: pip install playwright "
                          "(it drives the Chromium already on this machine)") from None
    if not Path(chromium).exists():
        raise ConfigError(f"no Chromium at {chromium} (set CHROMIUM to its path)")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with PreviewServer(source) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for width in SCREENSHOT_WIDTHS:
            tab = browser.new_page(viewport={"width": width, "height": 900})
            response = tab.goto(server.url + "email.html")
            if response is None or response.status != 200:
                raise ConfigError(f"{source.issue}: does not validate; run newsletter check")
            target = out_dir / f"email-{width}.png"
            tab.screenshot(path=str(target), full_page=True)
            written.append(target)
        browser.close()
    return written


# Headless Chromium as root on a machine with no network but the registries.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
