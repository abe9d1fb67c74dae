"""Signed tokens for the links in an email: verifiable without a database lookup, and
cheap enough (a microsecond or so) for a million recipients.

A token (``v2.PAYLOAD.MAC``) names what it is for (unsubscribe, confirm, manage), the
subscriber's number and the day it was made, and carries an HMAC-SHA256 of that (16
bytes) under ``NEWSLETTER_SECRET``: it reveals no address, serves one purpose only, and
can expire. The web service and the command line verify them; delivery makes them. Kept
apart from both so each can use it alone.

Links in emails sent before (``ADDRESS.MAC``, the address in base64) keep working for
unsubscribing: :func:`verify` still reads them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import time

from newsletter.errors import SubscriberError

DEV_SECRET = b"newsletter-development-only"
_SIG_BYTES = 16
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    # The one-call form of base64.urlsafe_b64encode, unpadded: it runs twice per recipient.
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


PURPOSES = {"unsubscribe": b"u", "confirm": b"c", "manage": b"m"}
_EPOCH = 18262  # 2020-01-01, in days since 1970: a token's day fits two bytes till 2199
_PAYLOAD = struct.Struct(">cQH")  # purpose, subscriber id, day made


def make(secret: bytes, purpose: str, subscriber_id: int, day: int | None = None) -> str:
    """A token for ``purpose`` and subscriber ``subscriber_id``, made on ``day`` (days since
    1970; today by default)."""
    made = (day if day is not None else int(time.time()) // 86400) - _EPOCH
    raw = _PAYLOAD.pack(PURPOSES[purpose], subscriber_id, max(made, 0))
    digest = hmac.digest(secret, b"v2" + raw, hashlib.sha256)[:_SIG_BYTES]
    return f"v2.{_b64(raw)}.{_b64(digest)}"


def read(secret: bytes, token: str, purpose: str, *, max_age_days: int | None = None,
         today: int | None = None) -> int:
    """The subscriber number a ``purpose`` token was made for; SubscriberError if it was
    not made by us, for another purpose, or is older than ``max_age_days``."""
    try:
        version, payload, mac = token.split(".")
        raw = _unb64(payload)
        kind, subscriber_id, made = _PAYLOAD.unpack(raw)
    except (ValueError, binascii.Error, struct.error):
        raise SubscriberError("not a link of ours") from None
    expected = hmac.digest(secret, b"v2" + raw, hashlib.sha256)[:_SIG_BYTES]
    if version != "v2" or not hmac.compare_digest(_b64(expected), mac):
        raise SubscriberError("the link does not verify (wrong NEWSLETTER_SECRET?)")
    if kind != PURPOSES[purpose]:
        raise SubscriberError("the link was made for something else")
    age = (today if today is not None else int(time.time()) // 86400) - _EPOCH - made
    if max_age_days is not None and age > max_age_days:
        raise SubscriberError("the link has expired")
    return int(subscriber_id)


def sign(secret: bytes, key: str) -> str:
    """A token of the first kind (the address key, signed): read, no longer made."""
    raw = key.encode()
    digest = hmac.digest(secret, raw, hashlib.sha256)[:_SIG_BYTES]  # one C call: ~1 us
    return f"{_b64(raw)}.{_b64(digest)}"


def verify(secret: bytes, token: str) -> str:
    """The address key a first-kind token was made for; SubscriberError if it was not made
    by us."""
    if not token.isascii() or len(token) > 2000 or token.count(".") != 1:
        raise SubscriberError("not an unsubscribe token")
    try:
        encoded, _ = token.split(".", 1)
        key = _unb64(encoded).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise SubscriberError("not an unsubscribe token") from None
    if not hmac.compare_digest(sign(secret, key), token):
        raise SubscriberError("unsubscribe token does not verify (wrong NEWSLETTER_SECRET?)")
    return key
