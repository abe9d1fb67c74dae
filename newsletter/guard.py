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


class CannotResolve(httpx.ConnectError):
    """A host name DNS does not know (its message says so in full)."""


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
        raise CannotResolve(f"cannot resolve {host}: {exc.strerror}") from None
    for *_, address in infos:
        ip = ipaddress.ip_address(address[0])
        if not ip.is_global or ip.is_multicast:
            # A name says which address it led to; an address is said once.
            where = host if host == str(ip) else f"{host} ({ip})"
            raise InternalAddress(f"{where} is an internal address; links must lead to the "
                                  "public web")


# What a failed request met, in a reader's words, most specific first: the message of
# httpx's error follows, never its class name (an editor reads these, not a programmer).
_FAILURES: tuple[tuple[type[httpx.HTTPError], str], ...] = (
    (httpx.ConnectTimeout, "no connection in time"),
    (httpx.ConnectError, "cannot connect"),
    (httpx.TimeoutException, "no answer in time"),
    (httpx.RemoteProtocolError, "the server's answer is not HTTP"),
    (httpx.UnsupportedProtocol, "not an http(s) address"),
    (httpx.ProxyError, "the proxy refused"),
    (httpx.DecodingError, "the answer could not be decoded"),
    (httpx.NetworkError, "the connection failed"),
)


def failure(exc: httpx.HTTPError) -> str:
    """Why a request failed, in words: "cannot connect: [Errno 111] Connection refused"."""
    if isinstance(exc, InternalAddress | CannotResolve):  # ours: their words are whole
        return str(exc)
    what = next((words for kind, words in _FAILURES if isinstance(exc, kind)),
                "the request failed")
    detail = str(exc).strip()
    return f"{what}: {detail}" if detail and detail != what else what


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
