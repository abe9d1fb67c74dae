"""The one way out to the web: every page the tool reads on an editor's behalf (the link
check, ``newsletter add``) goes through here.

The links come from contributors, so the guard is careful where it goes: no request goes
to a loopback, private, link-local or otherwise internal address, judged after DNS
resolution and again at every redirect (httpx asks the transport for each hop, so none
escapes); redirects are capped; a body is read up to a cap; and the callers put one
deadline over everything (connecting, redirects, a server that trickles a byte a second).

Tests serve real pages from a server on loopback. They name that server's ``host:port``
in ``stand_ins``: the guard then treats that one address as the public site it stands
for, and still judges every other hop (a redirect from it to another internal address is
refused). It is a parameter of the library only; no command or setting exposes it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection

import httpx

from newsletter.version import __version__

# An ordinary browser's, with our name at the end: some sites answer bots differently.
USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              f"Chrome/124.0 Safari/537.36 newsletter-linkcheck/{__version__}")
MAX_REDIRECTS = 5


class InternalAddress(httpx.TransportError):
    pass


class PublicOnly(httpx.AsyncHTTPTransport):
    """Refuses a request (the first, or any redirect) whose host resolves to an address
    inside a network, unless its ``host:port`` is one of ``stand_ins``."""

    def __init__(self, *, stand_ins: Collection[str] = ()) -> None:
        super().__init__()
        self.stand_ins = frozenset(stand_ins)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host, port = request.url.host, request.url.port or 443
        if f"{host}:{port}" not in self.stand_ins:
            await _refuse_internal(host, port)
        return await super().handle_async_request(request)


async def _refuse_internal(host: str, port: int) -> None:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except OSError as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
    for *_, address in infos:
        ip = ipaddress.ip_address(address[0])
        if not ip.is_global or ip.is_multicast:
            raise InternalAddress(f"{host} is an internal address ({ip}); links must "
                                  "lead to the public web")


def client(timeout: float, transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    """A client that follows at most :data:`MAX_REDIRECTS` redirects, as a browser."""
    return httpx.AsyncClient(timeout=timeout, follow_redirects=True,
                             max_redirects=MAX_REDIRECTS, transport=transport,
                             headers={"User-Agent": USER_AGENT})


async def read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    """At most ``max_bytes`` of a streamed body, and whether there was more (the rest is
    never read: the connection is closed with the response)."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= max_bytes:
            return b"".join(chunks)[:max_bytes], True
    return b"".join(chunks), False
