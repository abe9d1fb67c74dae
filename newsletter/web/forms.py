"""Reading request bodies with a size limit and a deadline: a form is a few hundred bytes,
nothing larger is read into memory, and nothing slower than READ_DEADLINE holds a
connection. A client that goes away mid-body raises starlette's ClientDisconnect, which
the application answers with one log line (app.py). A body the application did not read
to its end closes the connection after the answer (UnreadBodyCloses)."""

from __future__ import annotations

import asyncio
from typing import Protocol
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.errors import NewsletterError

MAX_FORM = 16 * 1024
# A whole body in this time, or 408. Our forms are under a kilobyte and a provider's posts
# under a megabyte: on any working link they arrive in well under a second. A body that
# trickles ("slowloris") would otherwise hold its connection, and a slot of the server's
# concurrency limit, for as long as the client likes.
READ_DEADLINE = 10.0


class TooLarge(NewsletterError):
    """The body is longer than the limit (answered 413)."""


class TooSlow(NewsletterError):
    """The body did not arrive within READ_DEADLINE (answered 408, connection closed)."""


class Meter(Protocol):
    """What counts a body's bytes as they arrive (budget.Holder)."""

    def take(self, n: int) -> None:
        """``n`` more bytes arrived; raise to stop reading (they are not kept)."""

    def reading(self, deadline: asyncio.Timeout) -> None:
        """The read has begun, with this deadline, which the meter may bring forward."""

    def read(self) -> None:
        """The read is over, whole or not."""


async def body(request: Request, limit: int, deadline: float = READ_DEADLINE,
               meter: Meter | None = None) -> bytes:
    """The request body; TooLarge past ``limit`` bytes, read no further; TooSlow when it
    has not all arrived within ``deadline`` seconds (or by the time ``meter`` says)."""
    if _declared(request) > limit:
        raise TooLarge
    try:
        async with asyncio.timeout(deadline) as timeout:
            if meter is not None:
                meter.reading(timeout)
            return await _read(request, limit, meter)
    except TimeoutError:
        raise TooSlow from None
    finally:
        if meter is not None:
            meter.read()


def _declared(request: Request) -> int:
    """The Content-Length, or 0 (the body is counted as it comes anyway)."""
    value = request.headers.get("content-length", "")
    if not (value.isascii() and value.isdigit()):
        return 0
    return int(value) if len(value) < 19 else 2**63  # int() of 4,400 digits raises


async def _read(request: Request, limit: int, meter: Meter | None) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        if meter is not None:
            meter.take(len(chunk))
        chunks.append(chunk)
    return b"".join(chunks)


async def form(request: Request) -> dict[str, str]:
    """A urlencoded form's fields (the last of a repeated name); TooLarge past MAX_FORM.
    Multipart is not read: every form here is urlencoded."""
    raw = await body(request, MAX_FORM)
    if not raw:
        return {}
    try:
        # Strict, bytes and %-escapes alike: "replace" would turn bytes that are not
        # UTF-8 into U+FFFD, and an address of them would be queued and mailed.
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True,
                              max_num_fields=50, errors="strict"))
    except UnicodeDecodeError:  # (a ValueError too: first)
        raise HTTPException(400, "the form is not UTF-8") from None
    except ValueError:  # more fields than any of our forms has
        raise TooLarge from None


class UnreadBodyCloses:
    """``Connection: close`` on the answer to a request whose body the application did not
    read to its end: the route never reads one (every GET, a 404, a 405), or stopped (too
    large, refused on its headers).

    Why: uvicorn stops its keep-alive timer whenever data arrives and starts it again only
    once the request's body is complete, so a client that declares a body, reads the
    answer and sends one more byte held its connection, and a slot of the concurrency
    limit, for ever. Both of uvicorn's HTTP implementations (httptools and h11) close the
    connection once an answer carrying ``Connection: close`` is sent, whatever is still
    unread: this holds whichever of them serves, and under any other ASGI server. The
    rest of such a body could not be told from the next request anyway.
    (server.RequestInTime is the backstop: a deadline for any body, whatever the route.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        ended = False

        async def receiving() -> Message:
            nonlocal ended
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                ended = True
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and not ended:
                headers = [(name, value) for name, value in message.get("headers", [])
                           if name.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receiving, sending)


def _has_body(scope: Scope) -> bool:
    """Whether the request declares a body: a chunked one, or a Content-Length but 0."""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False
