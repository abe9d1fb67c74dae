"""Reading request bodies with a size limit and a deadline: a form is a few hundred bytes,
nothing larger is read into memory, and nothing slower than READ_DEADLINE holds a
connection. A client that goes away mid-body raises starlette's ClientDisconnect, which
the application answers with one log line (app.py)."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

from starlette.requests import Request

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


async def body(request: Request, limit: int, deadline: float = READ_DEADLINE) -> bytes:
    """The request body; TooLarge past ``limit`` bytes, read no further; TooSlow when it
    has not all arrived within ``deadline`` seconds."""
    if _declared(request) > limit:
        raise TooLarge
    try:
        async with asyncio.timeout(deadline):
            return await _read(request, limit)
    except TimeoutError:
        raise TooSlow from None


def _declared(request: Request) -> int:
    """The Content-Length, or 0 (the body is counted as it comes anyway)."""
    value = request.headers.get("content-length", "")
    if not (value.isascii() and value.isdigit()):
        return 0
    return int(value) if len(value) < 19 else 2**63  # int() of 4,400 digits raises


async def _read(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def form(request: Request) -> dict[str, str]:
    """A urlencoded form's fields (the last of a repeated name); TooLarge past MAX_FORM.
    Multipart is not read: every form here is urlencoded."""
    raw = await body(request, MAX_FORM)
    if not raw:
        return {}
    try:
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True,
                              max_num_fields=50))
    except ValueError:  # more fields than any of our forms has
        raise TooLarge from None
