"""No page of the readers' service links to a route that does not exist: every page, in
every state a reader can bring it to, through a real ``newsletter serve``, on SQLite and
PostgreSQL; each ``href`` and ``src`` is fetched, each form's action asked with its method.
"""

from __future__ import annotations

import email
import time
from collections.abc import Iterator
from email import policy
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine

from newsletter import tokens
from newsletter.store import consent
from newsletter.store import subscribers as store
from tests.helpers import asked_before_the_queue
from tests.web.served import Served, newsletter_serve
from tests.web.server import SECRET
from tests.web.test_readers import notices, wait_for

KEY = SECRET.encode()
SITE = "news.bigmedia.example"  # the publication's site_url: another server, not ours


@pytest.fixture
def served(project_dir: Path, engine: Engine,
           signing_key: ec.EllipticCurvePrivateKey) -> Iterator[Served]:
    with newsletter_serve(project_dir, engine, signing_key) as running:
        yield running


class Links(HTMLParser):
    """The ``href``s and ``src``s of a page, and its forms as (method, action)."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []
        self.forms: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.forms.append(((values.get("method") or "get").upper(), values.get("action")
                               or ""))
        self.fetched += [value for name, value in attrs if name in ("href", "src") and value]


class Crawl:
    """The pages seen, by the state that showed them, and what their links answered."""

    def __init__(self, served: Served) -> None:
        self.base = served.url
        self.client = httpx.Client(base_url=served.url, follow_redirects=False, timeout=30)
        self.pages: dict[str, tuple[str, str]] = {}  # state -> (its URL, its HTML)

    def seen(self, state: str, answer: httpx.Response, status: int) -> httpx.Response:
        assert answer.status_code == status, (state, answer.status_code, answer.text[:300])
        self.pages[state] = (str(answer.url), answer.text)
        return answer

    def get(self, state: str, url: str, status: int = 200) -> httpx.Response:
        return self.seen(state, self.client.get(url), status)

    def post(self, state: str, url: str, data: dict[str, str], status: int = 200
             ) -> httpx.Response:
        return self.seen(state, self.client.post(url, data=data), status)

    def broken(self) -> list[str]:
        """Every link or form, of every page seen, that leads to no route."""
        checked: dict[tuple[str, str], int] = {}
        broken = []
        for state, (url, html) in self.pages.items():
            links = Links()
            links.feed(html)
            wanted = [("GET", href) for href in links.fetched] + links.forms
            for method, target in wanted:
                absolute = urljoin(url, target)
                if not self._ours(absolute):
                    continue
                if (method, absolute) not in checked:
                    checked[method, absolute] = self.client.request(method, absolute).status_code
                if checked[method, absolute] in (404, 405):
                    broken.append(f"{state}: {method} {target} -> {checked[method, absolute]}")
        assert len(checked) > 5  # the crawl did look at links
        return broken

    def _ours(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("mailto", "tel"):
            return False
        assert parts.hostname in ("127.0.0.1", SITE), url  # nothing points anywhere else
        return parts.netloc == urlsplit(self.base).netloc


def confirmation(project_dir: Path, address: str) -> tuple[str, str]:
    """The confirmation link of the last email to ``address``, from the outbox, and the
    email's HTML."""
    for path in sorted((project_dir / "outbox" / "notices").glob("*.eml"), reverse=True):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] and address in message["To"]:
            html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
            return next(href for href in _hrefs(html) if "/confirm?t=" in href), html
    raise AssertionError(f"no confirmation email to {address}")


def test_every_link_of_every_page_in_every_state_leads_somewhere(
        served: Served, engine: Engine, project_dir: Path) -> None:
    crawl = Crawl(served)
    _subscribing(crawl)
    _confirming(crawl, engine, project_dir)
    _managing(crawl, engine)
    _odd_addresses(crawl)
    _rate_limited(crawl)
    assert crawl.broken() == []


def _subscribing(crawl: Crawl) -> None:
    crawl.get("subscribe form", "/subscribe")
    crawl.post("subscribe: no address", "/subscribe", {}, 400)
    crawl.post("subscribe: not an address", "/subscribe", {"email": "not-an-address"}, 400)
    crawl.post("subscribe: unknown timezone", "/subscribe",
               {"email": "ann@example.org", "timezone": "Mars/Olympus"}, 400)
    crawl.post("subscribe: hidden field filled", "/subscribe",
               {"email": "bot@example.org", "website": "x"})
    crawl.post("subscribe: too large", "/subscribe", {"email": "x" * 20_000}, 413)
    crawl.post("subscribe: sent", "/subscribe", {"email": "ann@example.org"})
    crawl.post("subscribe: late", "/subscribe", {"email": "late@example.org"})
    crawl.post("subscribe: withdrawn", "/subscribe", {"email": "gone@example.org"})


def _confirming(crawl: Crawl, engine: Engine, project_dir: Path) -> None:
    wait_for(lambda: len(notices(project_dir)) >= 3)  # the mailer's, within seconds
    link, html = confirmation(project_dir, "ann@example.org")
    crawl.pages["confirmation email"] = (link, html)
    crawl.get("confirm page", link)
    token = link.split("t=")[1]
    done = crawl.post("confirmed", "/confirm", {"t": token})
    crawl.get("confirm page: spent", link)
    manage = next(href for href in _hrefs(done.text) if "manage?t=" in href)
    crawl.get("manage: active", urljoin(str(done.url), manage))
    late = tokens.read(KEY, confirmation(project_dir, "late@example.org")[0].split("t=")[1],
                       "confirm")
    expired = tokens.make(KEY, "confirm", late.key or "", day=int(time.time()) // 86400 - 30)
    crawl.get("confirm page: expired", f"/confirm?t={expired}", 400)
    waiting = asked_before_the_queue(engine, "waiting@example.org")
    crawl.get("manage: pending", f"/manage?t={tokens.make_pair(KEY, waiting.link_key)[1]}")
    withdrawn = confirmation(project_dir, "gone@example.org")[0]
    crawl.client.post("/confirm", data={"t": withdrawn.split("t=")[1]})
    gone = store.find(engine, "gone@example.org")
    assert gone is not None
    consent.leave(engine, gone.id)
    crawl.get("confirm page: withdrawn", withdrawn, 400)


def _managing(crawl: Crawl, engine: Engine) -> None:
    ann = store.find(engine, "ann@example.org")
    assert ann is not None
    leave, manage = tokens.make_pair(KEY, ann.link_key)
    crawl.post("manage: saved", "/manage", {"t": manage, "name": "Ann"})
    crawl.post("manage: unknown timezone", "/manage", {"t": manage, "timezone": "Nowhere"}, 400)
    data = crawl.client.post("/manage/data", data={"t": manage})
    assert data.status_code == 200 and data.json()["subscriber"]
    crawl.get("unsubscribe page", f"/unsubscribe?t={leave}")
    crawl.post("unsubscribed", "/unsubscribe", {"t": leave})
    crawl.get("manage: unsubscribed", f"/manage?t={manage}")
    crawl.post("forget: not ticked", "/manage/forget", {"t": manage}, 400)
    crawl.post("erased", "/manage/forget", {"t": manage, "sure": "yes"})
    crawl.get("manage: erased", f"/manage?t={manage}")


def _odd_addresses(crawl: Crawl) -> None:
    crawl.get("manage: no link", "/manage")
    crawl.get("manage: invalid link", "/manage?t=forged", 400)
    crawl.get("unsubscribe: invalid link", "/unsubscribe?t=forged", 400)
    crawl.get("confirm: invalid link", "/confirm?t=forged", 400)
    crawl.get("not found", "/no-such-page", 404)
    crawl.get("not found: a trailing slash", "/manage/?t=x", 404)


def _rate_limited(crawl: Crawl) -> None:
    for n in range(200):  # the limit is readers.requests_per_hour (20 by default)
        answer = crawl.client.post("/subscribe", data={"email": f"r{n}@example.org"})
        if answer.status_code == 429:
            crawl.seen("subscribe: too many", answer, 429)
            return
    raise AssertionError("no 429 after 200 requests")


def _hrefs(html: str) -> list[str]:
    links = Links()
    links.feed(html)
    return links.fetched


def test_under_a_path_prefix_the_links_keep_it(project_dir: Path, engine: Engine) -> None:
    """Served as https://example.org/news/ (a proxy strips the prefix), every link and form
    of a page leads under /news/, not to the site's root."""
    from starlette.testclient import TestClient

    from newsletter.web.app import create_app
    from tests.web.conftest import service_env

    settings = project_dir / "newsletter.yaml"
    base = settings.read_text().partition("readers:\n")[0]  # the fixture's block, replaced
    settings.write_text(base + "readers:\n  service_url: https://example.org/news/\n")
    with TestClient(create_app(settings, service_env(engine))) as client:
        pages = [client.get("/subscribe").text, client.get("/manage").text,
                 client.get("/nowhere").text]
    targets = [target for html in pages for target in _hrefs(html) + _actions(html)
               if "example.org" not in target and SITE not in target]
    assert targets and all(target.startswith("/news/") for target in targets), targets


def _actions(html: str) -> list[str]:
    links = Links()
    links.feed(html)
    return [action for _, action in links.forms]
