"""A page read for ``newsletter add``, through the tool's guard (``newsletter/guard.py``).

One deadline covers the page and its oEmbed answer together, a body is read up to
:data:`MAX_BYTES` (the metadata is in the head; a 50 MB page costs 2 MB), and every
refusal is an honest :class:`FetchError`: a 403 or 429 names robots and paywalls, a
401 or 402 a subscription, anything that is not HTML says what it was.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import re2

from newsletter import guard
from newsletter.errors import FetchError

MAX_BYTES = 2_000_000
MAX_OEMBED_BYTES = 100_000
HTML_TYPES = ("text/html", "application/xhtml+xml")
# On RE2, whose time is linear in the page's length: a page is anyone's, and Python's
# engine took 1.2 s for 8,000 unclosed "<link " tags (quadratic: a 2 MB page of them ran
# for half an hour), in the editor's command or the workflow that suggests a story.
CHARSET = re2.compile(rb"""(?i)<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""")
OEMBED_LINK = re2.compile(
    r"""(?i)<link\b[^>]*type\s*=\s*["']application/json\+oembed["'][^>]*>""")
HREF = re2.compile(r"""(?i)href\s*=\s*["']([^"']+)["']""")
REFUSED = {401: "asks for a login or a subscription (a paywall?)",
           402: "asks for payment (a paywall)",
           403: "refuses robots or needs a subscription: open it in a browser",
           429: "asks robots to slow down: try again later, or open it in a browser"}


@dataclass(frozen=True)
class Page:
    url: str  # where the redirects ended
    html: str
    truncated: bool  # the body was longer than MAX_BYTES; the rest was never read
    oembed: dict[str, Any]  # the oEmbed answer the page points to, if any


@dataclass(frozen=True)
class Guard:
    """How ``add`` reaches the web. ``stand_ins`` is the tests' seam (see guard.py)."""

    deadline: float = 15.0
    stand_ins: Collection[str] = ()


def read(url: str, settings: Guard) -> Page:
    """The page at ``url`` (and its oEmbed answer), or FetchError saying why not."""
    # A thread of its own gets a fresh event loop even inside a running one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _read(url, settings)).result()


async def _read(url: str, settings: Guard) -> Page:
    transport = guard.PublicOnly(stand_ins=settings.stand_ins)
    async with guard.client(settings.deadline, transport) as client:
        try:  # one deadline for all of it, however the server dawdles
            return await asyncio.wait_for(_page(client, url), settings.deadline)
        except TimeoutError:
            raise FetchError(f"{url}: no answer within {settings.deadline:g} s") from None


async def _page(client: httpx.AsyncClient, url: str) -> Page:
    try:
        async with client.stream("GET", url) as response:
            _refuse(url, response)
            body, truncated = await guard.read_capped(response, MAX_BYTES)
            final, header = str(response.url), response.charset_encoding
    except httpx.TooManyRedirects:
        raise FetchError(f"{url}: redirects more than {guard.MAX_REDIRECTS} times") from None
    except httpx.TimeoutException:
        raise TimeoutError from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{url}: {guard.failure(exc)}") from None
    html = decode(body, header)
    return Page(final, html, truncated, await _oembed(client, final, html))


def _refuse(url: str, response: httpx.Response) -> None:
    status = response.status_code
    if status >= 400:
        why = REFUSED.get(status, "")
        raise FetchError(f"{url}: answered {status} {response.reason_phrase}"
                         + (f"; the site {why}" if why else ""))
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind and kind not in HTML_TYPES:
        raise FetchError(f"{url}: is {kind}, not a web page; add this story by hand")


def decode(body: bytes, header: str | None) -> str:
    """The page's text: the charset the server named, else the one the page names in a
    meta tag, else UTF-8; bytes that do not fit become U+FFFD, never an error."""
    named = CHARSET.search(body[:4096])
    for candidate in (header, named.group(1).decode("ascii") if named else None, "utf-8"):
        if candidate:
            try:
                return body.decode(candidate, errors="replace")
            except LookupError:  # a name Python does not know
                continue
    return body.decode("utf-8", errors="replace")


async def _oembed(client: httpx.AsyncClient, base: str, html: str) -> dict[str, Any]:
    """The JSON oEmbed answer the page points to (a ``<link>`` in its head), or {}: a
    missing or broken answer leaves the page's own metadata to speak."""
    tag = OEMBED_LINK.search(html)
    href = HREF.search(tag.group(0)) if tag else None
    if href is None:
        return {}
    target = httpx.URL(base).join(href.group(1).replace("&amp;", "&"))
    try:
        async with client.stream("GET", target) as response:
            body, truncated = await guard.read_capped(response, MAX_OEMBED_BYTES)
            if response.status_code != 200 or truncated:
                return {}
        answer = json.loads(body)
    except (httpx.HTTPError, ValueError):
        return {}
    return answer if isinstance(answer, dict) else {}
