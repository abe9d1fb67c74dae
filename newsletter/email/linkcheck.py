"""Fetch every link of an issue, concurrently, and report the ones that fail.

Every request goes through the guard the tool keeps for pages it reads on an editor's
behalf (``newsletter/guard.py``: no internal addresses, after DNS and at every redirect;
redirects capped), and each link has one deadline for everything (connecting, redirects,
a server that trickles a byte a second). ``allow_private`` (``--allow-private``, for an
intranet) lets the check reach internal addresses too. Sites that refuse robots (403,
429) are warnings: the link may well work for a person.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx

from newsletter import guard
from newsletter.content.issue import Parsed
from newsletter.content.links import links
from newsletter.errors import Problem, Severity
from newsletter.guard import MAX_REDIRECTS, InternalAddress, PublicOnly, failure

REFUSES_ROBOTS = (403, 429)


def check_links(parsed: Parsed, *, timeout: float = 10.0, concurrency: int = 8,
                allow_private: bool = False) -> list[Problem]:
    """One problem per link that fails: an error status, no answer within ``timeout`` in
    all, no connection, or an internal address. 403 and 429 are warnings."""
    unique: dict[str, tuple[str | int, ...]] = {}
    for path, url, _ in links(parsed.doc.data):
        unique.setdefault(url, path)
    # A thread of its own gets a fresh event loop even when the caller already runs one
    # (a notebook, a preview server, Playwright's sync API in tests).
    with ThreadPoolExecutor(1) as pool:
        failures = pool.submit(asyncio.run, _check_all(list(unique), timeout, concurrency,
                                                       allow_private)).result()
    return sorted(parsed.doc.problem(unique[url], why, severity=severity)
                  for url, (why, severity) in failures.items())


async def _check_all(urls: list[str], timeout: float, concurrency: int,
                     allow_private: bool) -> dict[str, tuple[str, Severity]]:
    limit = asyncio.Semaphore(concurrency)
    transport = httpx.AsyncHTTPTransport() if allow_private else PublicOnly()
    async with guard.client(timeout, transport) as client:

        async def one(url: str) -> tuple[str, tuple[str, Severity] | None]:
            async with limit:
                try:  # one deadline for the whole of it, however the server dawdles
                    return url, await asyncio.wait_for(_failure(client, url), timeout)
                except TimeoutError:
                    return url, (f"link {url} did not answer within {timeout:g} s",
                                 Severity.ERROR)

        results = await asyncio.gather(*(one(url) for url in urls))
    return {url: why for url, why in results if why}


async def _failure(client: httpx.AsyncClient, url: str) -> tuple[str, Severity] | None:
    try:
        response = await client.head(url)
        if response.status_code in (403, 405, 501):  # many sites refuse HEAD but serve GET
            async with client.stream("GET", url) as streamed:
                response = streamed
    except httpx.TooManyRedirects:
        return f"link {url} redirects more than {MAX_REDIRECTS} times", Severity.ERROR
    except httpx.TimeoutException:
        raise TimeoutError from None
    except InternalAddress as exc:
        return f"link {url}: {exc} (--allow-private to check it)", Severity.ERROR
    except httpx.HTTPError as exc:
        return f"link {url} failed: {failure(exc)}", Severity.ERROR
    status = f"link {url} answered {response.status_code} {response.reason_phrase}"
    if response.status_code in REFUSES_ROBOTS:
        return f"{status} (the site may refuse robots: check it in a browser)", Severity.WARNING
    if response.status_code >= 400:
        return status, Severity.ERROR
    return None
