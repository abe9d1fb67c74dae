"""Fetch every link of an issue, concurrently and with a timeout, and report failures."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx

from newsletter import __version__
from newsletter.content.issue import Parsed
from newsletter.content.links import links
from newsletter.errors import Problem

USER_AGENT = f"newsletter-linkcheck/{__version__}"


def check_links(parsed: Parsed, *, timeout: float = 10.0, concurrency: int = 8) -> list[Problem]:
    """One problem per link that fails (an error status, no answer in time, no connection)."""
    unique: dict[str, tuple[str | int, ...]] = {}
    for path, url, _ in links(parsed.doc.data):
        unique.setdefault(url, path)
    # A thread of its own gets a fresh event loop even when the caller already runs one
    # (a notebook, a preview server, Playwright's sync API in tests).
    with ThreadPoolExecutor(1) as pool:
        failures = pool.submit(asyncio.run, _check_all(list(unique), timeout,
                                                       concurrency)).result()
    return sorted(parsed.doc.problem(unique[url], why) for url, why in failures.items())


async def _check_all(urls: list[str], timeout: float, concurrency: int) -> dict[str, str]:
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=True,
                                 headers={"User-Agent": USER_AGENT}) as client:

        async def one(url: str) -> tuple[str, str | None]:
            async with limit:
                return url, await _failure(client, url, timeout)

        results = await asyncio.gather(*(one(url) for url in urls))
    return {url: why for url, why in results if why}


async def _failure(client: httpx.AsyncClient, url: str, timeout: float) -> str | None:
    try:
        response = await client.head(url)
        if response.status_code in (403, 405, 501):  # many sites refuse HEAD but serve GET
            async with client.stream("GET", url) as streamed:
                response = streamed
    except httpx.TimeoutException:
        return f"link {url} did not answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        return f"link {url} failed: {type(exc).__name__}: {exc}"
    if response.status_code >= 400:
        return f"link {url} answered {response.status_code} {response.reason_phrase}"
    return None
