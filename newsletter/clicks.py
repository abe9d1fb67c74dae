"""Click links: a story's link in the email, sent through the readers' service
(``SERVICE/c/TOKEN``), which counts the click and redirects to the story. And the open
pixel (``SERVICE/o/TOKEN``, when ``open_pixel`` is set): an image of one pixel whose
token names the issue alone.

The token carries the issue's date and the story's URL, under an HMAC-SHA256 (16 bytes)
with a key of its own derived from ``NEWSLETTER_SECRET``. So the service:

- redirects only to a URL that was signed for an issue: never an open redirect, whatever
  a stranger puts in a link (another URL, another issue's signature, a changed byte);
- needs no database to redirect: a click still lands when the database is down;
- learns nothing of the reader: no token names one (the ``aggregate`` level of
  tracking, the default). Every reader gets the same link for a story.

At the ``individual`` level, each link and the pixel carry besides ``?r=`` and the
reader's own token (:data:`READER`, filled per reader at delivery as the unsubscribe
link is: a "reader" token of tokens.py, signed with ``NEWSLETTER_SECRET``). The service
checks it before the click is counted and keeps the click for that reader too; a
reader part that does not verify counts the click as at the aggregate level.

Each token has one spelling (canonical unpadded base64url, as tokens.py's), so the same
click cannot be told apart by its spelling.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac

from newsletter.errors import BadLink

__all__ = ["MAX_URL", "READER", "READER_PART", "Click", "key", "make", "make_open", "read"]

MAX_URL = 2000  # the longest story URL a link carries (the events' url column)
_SIG_BYTES = 16
_VERSION = b"\x01"  # a click: the issue's date, then the URL
_OPEN = b"\x02"  # an open: the issue's date alone
_URLSAFE = bytes.maketrans(b"+/", b"-_")
READER = "%%reader%%"  # stands for the reader's token until delivery fills it
READER_PART = f"?r={READER}"  # what a link and the pixel carry at the individual level


def key(secret: bytes) -> bytes:
    """The key of click links: derived, so a click token can never pass for a reader's
    link token, nor the other way round."""
    return hmac.digest(secret, b"newsletter click links", hashlib.sha256)


class Click:
    """What a click link names: the issue and the story's URL; or, for the open pixel,
    the issue alone (``url`` empty)."""

    __slots__ = ("issue", "url")

    def __init__(self, issue: dt.date, url: str) -> None:
        self.issue = issue
        self.url = url

    @property
    def opened(self) -> bool:
        return not self.url


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def make(click_key: bytes, issue: dt.date, url: str) -> str:
    """The token of a click link to ``url`` in ``issue``."""
    if not url.startswith(("https://", "http://")) or len(url) > MAX_URL:
        raise ValueError("a click link goes to an http(s) URL of at most 2,000 characters")
    payload = _VERSION + issue.isoformat().encode() + url.encode()
    return _b64(payload) + "." + _b64(_mac(click_key, payload))


def make_open(click_key: bytes, issue: dt.date) -> str:
    """The token of the open pixel of ``issue``: the same for every reader."""
    payload = _OPEN + issue.isoformat().encode()
    return _b64(payload) + "." + _b64(_mac(click_key, payload))


def read(click_key: bytes, token: str) -> Click:
    """The click a token names; BadLink for anything not made by :func:`make` with this
    key, in its one spelling."""
    head, dot, mac = token.partition(".")
    if not dot or len(token) > 4 * MAX_URL:
        raise BadLink("not a click link")
    try:
        payload, given = _unb64(head), _unb64(mac)
    except ValueError:
        raise BadLink("not a click link") from None
    if not hmac.compare_digest(given, _mac(click_key, payload)):
        raise BadLink("not a click link of this publication")
    kind = payload[:1]
    if not ((kind == _VERSION and len(payload) >= 12) or (kind == _OPEN and len(payload) == 11)):
        raise BadLink("not a click link of this version")
    try:
        issue = dt.date.fromisoformat(payload[1:11].decode("ascii"))
        url = payload[11:].decode("utf-8")
    except ValueError:
        raise BadLink("not a click link") from None
    return Click(issue, url)


def _mac(click_key: bytes, payload: bytes) -> bytes:
    return hmac.digest(click_key, payload, hashlib.sha256)[:_SIG_BYTES]


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValueError("not base64url") from None
    if _b64(raw) != text:
        raise ValueError("not the canonical spelling")
    return raw
