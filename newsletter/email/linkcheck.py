"""Fetch every link of an issue, concurrently, and report the ones that fail.

The links come from contributors, so the checker is careful where it goes: each link has
one deadline for everything (connecting, redirects, a server that trickles a byte a
second), redirects are capped, and no request goes to a loopback, private, link-local or
otherwise internal address, after DNS resolution and at every redirect, unless asked
(``allow_private``, for a test server or an intranet). Sites that refuse robots (403,
429) are warnings: the link may well work for a person.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor

import httpx

from newsletter import __version__
from newsletter.content.issue import Parsed
from newsletter.content.links import links
from newsletter.errors import Problem, Severity

# An ordinary browser's, with our name at the end: some sites answer bots differently.
USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              f"Chrome/124.0 Safari/537.36 newsletter-linkcheck/{__version__}")
MAX_REDIRECTS = 5
REFUSES_ROBOTS = (403, 429)


class InternalAddress(httpx.TransportError):
    pass


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


class PublicOnly(httpx.AsyncHTTPTransport):
    """Refuses a request (the first, or any redirect) whose host resolves to an address
    inside a network. httpx asks the transport for every hop, so no hop escapes."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host, port = request.url.host, request.url.port or 443
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                                 type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
        for *_, address in infos:
            ip = ipaddress.ip_address(address[0])
            if not ip.is_global or ip.is_multicast:
                raise InternalAddress(f"{host} is an internal address ({ip}); links must "
                                      "lead to the public web (--allow-private to check it)")
        return await super().handle_async_request(request)


async def _check_all(urls: list[str], timeout: float, concurrency: int,
                     allow_private: bool) -> dict[str, tuple[str, Severity]]:
    limit = asyncio.Semaphore(concurrency)
    transport = httpx.AsyncHTTPTransport() if allow_private else PublicOnly()
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=True,
                                 max_redirects=MAX_REDIRECTS, transport=transport,
                                 headers={"User-Agent": USER_AGENT}) as client:

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
        return f"link {url}: {exc}", Severity.ERROR
    except httpx.HTTPError as exc:
        return f"link {url} failed: {type(exc).__name__}: {exc}", Severity.ERROR
    status = f"link {url} answered {response.status_code} {response.reason_phrase}"
    if response.status_code in REFUSES_ROBOTS:
        return f"{status} (the site may refuse robots: check it in a browser)", Severity.WARNING
    if response.status_code >= 400:
        return status, Severity.ERROR
    return None
