"""Reading request bodies with a limit: a form is a few hundred bytes, and nothing larger
is read into memory."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

MAX_FORM = 16 * 1024


class TooLarge(Exception):
    """The body is longer than the limit (answered 413)."""


async def body(request: Request, limit: int) -> bytes:
    """The request body; TooLarge past ``limit`` bytes, read no further."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge
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
