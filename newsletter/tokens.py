"""Signed tokens for the links in an email: verifiable without a database lookup, and
cheap enough (a microsecond or so) for a million recipients.

A token is the subscriber's address key and an HMAC-SHA256 of it (16 bytes) under
``NEWSLETTER_SECRET``, both URL-safe base64. The web service and the command line verify
them; delivery makes them. Kept apart from both so each can use it alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from newsletter.errors import SubscriberError

DEV_SECRET = b"newsletter-development-only"
_SIG_BYTES = 16
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    # The one-call form of base64.urlsafe_b64encode, unpadded: it runs twice per recipient.
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: bytes, key: str) -> str:
    raw = key.encode()
    digest = hmac.digest(secret, raw, hashlib.sha256)[:_SIG_BYTES]  # one C call: ~1 us
    return f"{_b64(raw)}.{_b64(digest)}"


def verify(secret: bytes, token: str) -> str:
    """The address key a token was made for; SubscriberError if it was not made by us."""
    if not token.isascii() or len(token) > 2000:
        raise SubscriberError("not an unsubscribe token")
    try:
        encoded, _ = token.split(".", 1)
        key = _unb64(encoded).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise SubscriberError("not an unsubscribe token") from None
    if not hmac.compare_digest(sign(secret, key), token):
        raise SubscriberError("unsubscribe token does not verify (wrong NEWSLETTER_SECRET?)")
    return key
