"""The editor's preview: a local web page showing an issue as readers will see it.

The page shows the inbox line (subject and preheader), the lint findings, the email at
phone (375 px) and desktop (600 px) widths, a dark-mode rendering and the text edition.
Everything is rendered afresh on each request, from the files as they are on disk, and a
watcher tells open pages (over server-sent events) to reload when the issue file, the
settings or a template is saved. A file that does not validate shows its errors in the
page; the server keeps running.
"""

from __future__ import annotations

import html
import ipaddress
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import watchfiles

from newsletter.config import Environment
from newsletter.email.render import TEMPLATES
from newsletter.errors import ConfigError, NewsletterError, ProblemsFound
from newsletter.project import Project, Rendered

_DARK = re.compile(r"@media\s*\(prefers-color-scheme:\s*dark\)")


@dataclass(frozen=True)
class Source:
    """Where the preview reads from: the settings file and one issue file."""

    config: Path
    issue: Path
    env: Environment | None = None  # None: read the process's environment

    def folders(self) -> list[Path]:
        """Folders to watch. Editors save by writing a new file and renaming it over the
        old one, which a watch on the file itself would lose; its folder sees it."""
        overrides = self.config.parent / "templates"
        folders = {self.config.parent.resolve(), self.issue.parent.resolve(), TEMPLATES}
        return sorted(folders | ({overrides.resolve()} if overrides.is_dir() else set()))

    def concerns(self, path: Path) -> bool:
        """Whether a change to ``path`` can change the preview."""
        return path in (self.config.resolve(), self.issue.resolve()) or \
            path.name.endswith(".j2")

    def render(self) -> Rendered:
        project = Project(self.config, self.env)  # afresh: settings and templates may have changed
        return project.render(self.issue)


def dark(html_text: str) -> str:
    """The email with its dark-mode rules always on, for a side-by-side look."""
    return _DARK.sub("@media all", html_text)


class Changes:
    """A counter that goes up on every save, and wakes whoever waits for it."""

    def __init__(self) -> None:
        self.version = 0
        self.condition = threading.Condition()
        self.stop = threading.Event()

    def bump(self) -> None:
        with self.condition:
            self.version += 1
            self.condition.notify_all()

    def wait_past(self, version: int, timeout: float) -> int:
        with self.condition:
            self.condition.wait_for(lambda: self.version > version or self.stop.is_set(),
                                    timeout)
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


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Preview: {title}</title>
<style>
 body {{ margin: 0; font: 15px/1.45 system-ui, sans-serif; background: #e9e7e2; color: #222; }}
 header {{ padding: 12px 20px; background: #fff; border-bottom: 1px solid #ccc; }}
 .inbox {{ font-size: 15px; }} .inbox b {{ margin-right: .5em; }} .inbox span {{ color: #666; }}
 .findings {{ margin: 8px 0 0; padding-left: 1.2em; font-family: ui-monospace, monospace;
              font-size: 13px; }}
 .findings .error {{ color: #b00020; }} .findings .warning {{ color: #8a5a00; }}
 .views {{ display: flex; gap: 20px; padding: 20px; align-items: flex-start; flex-wrap: wrap; }}
 figure {{ margin: 0; }} figcaption {{ font-size: 12px; color: #555; margin-bottom: 4px; }}
 iframe {{ border: 1px solid #bbb; background: #fff; height: 1400px; }}
 pre {{ background: #fff; border: 1px solid #bbb; padding: 12px; width: 640px; overflow: auto;
        white-space: pre-wrap; }}
</style></head>
<body data-version="{version}">
<header>{header}</header>
<main class="views">{views}</main>
<script>
 const events = new EventSource("/events?since={version}");
 events.onmessage = () => location.reload();
</script>
</body></html>
"""


def page(source: Source, version: int) -> str:
    try:
        rendered = source.render()
    except ProblemsFound as exc:
        return _page(f"{source.issue.name}: not valid", _findings(exc.problems), "", version)
    except NewsletterError as exc:
        return _page(source.issue.name, f'<p class="findings error">{html.escape(str(exc))}</p>',
                     "", version)
    except Exception as exc:
        return _page(source.issue.name, '<p class="findings error">the preview could not be '
                     f"made: {html.escape(repr(exc))}</p>", "", version)
    email = rendered.email
    header = (f'<div class="inbox"><b>{html.escape(email.subject)}</b>'
              f"<span>{html.escape(email.preheader)}</span></div>"
              + (_findings(rendered.findings) if rendered.findings
                 else '<p class="findings">No findings.</p>'))
    views = "".join([
        _frame("Phone, 375 px", "/email.html", 375),
        _frame("Desktop, 600 px", "/email.html", 600),
        _frame("Dark mode, 375 px", "/email-dark.html", 375),
        f'<figure><figcaption>Plain text</figcaption><pre class="text">'
        f"{html.escape(email.text)}</pre></figure>",
    ])
    return _page(email.subject, header, views, version)


def _page(title: str, header: str, views: str, version: int) -> str:
    return PAGE.format(title=html.escape(title), header=header, views=views, version=version)


def _frame(caption: str, src: str, width: int) -> str:
    return (f'<figure><figcaption>{caption}</figcaption>'
            f'<iframe title="{caption}" src="{src}" width="{width}"></iframe></figure>')


def _findings(problems: object) -> str:
    items = "".join(f'<li class="{p.severity.value}">{html.escape(str(p))}</li>'
                    for p in problems)  # type: ignore[attr-defined]
    return f'<ul class="findings">{items}</ul>'


def _email_part(source: Source, part: Callable[[Rendered], str]) -> str | None:
    try:
        return part(source.render())
    except NewsletterError:
        return None


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def host_name(header: str | None) -> str:
    """The name in a Host header, without its port."""
    value = (header or "").strip().lower()
    if value.startswith("["):  # an IPv6 literal: [::1]:8000
        return value.partition("]")[0] + "]"
    return value.rpartition(":")[0] if value.count(":") == 1 else value


def handler(source: Source, changes: Changes,
            allowed_hosts: frozenset[str] = LOOPBACK_NAMES) -> type[BaseHTTPRequestHandler]:
    """Requests must name this machine: a page elsewhere cannot read the issue through a
    DNS name that points here (DNS rebinding)."""
    routes: dict[str, tuple[str, Callable[[Rendered], str]]] = {
        "/email.html": ("text/html", lambda r: r.email.html),
        "/email-dark.html": ("text/html", lambda r: dark(r.email.html)),
        "/email.txt": ("text/plain", lambda r: r.email.text),
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if host_name(self.headers.get("Host")) not in allowed_hosts:
                return self._send(403, "text/plain", "this preview answers to its own host "
                                  "names only (newsletter preview --allow-host NAME)")
            path, _, query = self.path.partition("?")
            if path == "/":
                return self._send(200, "text/html", page(source, changes.version))
            if path == "/events":
                since = _since(query, changes.version)
                if since is None:
                    return self._send(400, "text/plain", "since must be a whole number")
                return self._events(since)
            if path in routes:
                kind, part = routes[path]
                body = _email_part(source, part)
                if body is not None:
                    return self._send(200, kind, body)
                return self._send(422, "text/plain", "the issue does not validate; see /")
            return self._send(404, "text/plain", "not found")

        def _send(self, status: int, kind: str, body: str) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _events(self, since: int) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            try:
                while not changes.stop.is_set():
                    now = changes.wait_past(since, timeout=15)
                    if now > since:
                        self.wfile.write(b"data: reload\n\n")
                        self.wfile.flush()
                        return
                    self.wfile.write(b": keep-alive\n\n")  # notices a closed tab
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return

    return Handler


def _since(query: str, current: int) -> int | None:
    values = parse_qs(query, keep_blank_values=True).get("since")
    if values is None:
        return current
    text = values[-1]
    return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else None


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() == "localhost"


class PreviewServer:
    """The server and its watcher, started and stopped together."""

    def __init__(self, source: Source, host: str = "127.0.0.1", port: int = 0,
                 allow_hosts: tuple[str, ...] = ()) -> None:
        self.changes = Changes()
        allowed = LOOPBACK_NAMES | {h.lower() for h in allow_hosts}
        self.httpd = ThreadingHTTPServer((host, port), handler(source, self.changes,
                                                               frozenset(allowed)))
        self.httpd.daemon_threads = True
        self.source = source
        self.threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> PreviewServer:
        self.threads = [watch(self.source, self.changes),
                        threading.Thread(target=self.httpd.serve_forever, args=(0.1,),
                                         daemon=True)]
        self.threads[1].start()
        return self

    def stop(self) -> None:
        self.changes.stop.set()
        self.changes.bump()
        self.httpd.shutdown()
        self.httpd.server_close()

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
