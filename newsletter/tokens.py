"""Signed tokens for the links in an email: verifiable without a database lookup, and
cheap enough (a microsecond or so) for a million recipients.

A token (``v2.PAYLOAD.MAC``; ``v3`` for the unsubscribe and manage pair every email
carries) names what it is for (unsubscribe, confirm, manage), the subscriber's number and
the day it was made, and carries an HMAC-SHA256 of that (16 bytes) under
``NEWSLETTER_SECRET``: it reveals no address, serves one purpose only, and can expire.
The web service and the command line verify them; delivery makes them. Kept apart from
both so each can use it alone.

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


# The two links every email carries, unsubscribe and manage, come from one HMAC: its
# first half signs the one, its second half the other. Each half is an independent
# pseudorandom value, so holding one says nothing of the other, and a send of a million
# pays for one HMAC a reader, not two.
_PAIRED = {b"u": slice(0, _SIG_BYTES), b"m": slice(_SIG_BYTES, 2 * _SIG_BYTES)}


_TAIL = struct.Struct(">QH")  # the payload after its purpose byte


class Signer:
    """Makes the token pairs of one send: the secret's HMAC state is keyed once and copied
    for each reader, half the cost of keying it every time (a send makes a million)."""

    def __init__(self, secret: bytes) -> None:
        self._keyed = hmac.new(secret, b"v3", hashlib.sha256)
        self._prefixes: dict[bytes, str] = {}

    def pair(self, subscriber_id: int, day: int | None = None) -> tuple[str, str]:
        """The unsubscribe and manage tokens for one subscriber (``v3``), made on ``day``
        (days since 1970; today by default)."""
        made = (day if day is not None else int(time.time()) // 86400) - _EPOCH
        tail = _TAIL.pack(subscriber_id, max(made, 0))
        mac = self._keyed.copy()
        mac.update(tail)
        digest = mac.digest()
        leave = _b64(b"u" + tail)
        # The two payloads differ in their first byte only, so in their first four
        # base64 characters only (three bytes each): those come from a small cache.
        head = self._prefixes.get(tail[:2])
        if head is None:
            head = self._prefixes[tail[:2]] = _b64(b"m" + tail[:2])
        return (f"v3.{leave}.{_b64(digest[_PAIRED[b'u']])}",
                f"v3.{head}{leave[4:]}.{_b64(digest[_PAIRED[b'm']])}")


def make_pair(secret: bytes, subscriber_id: int, day: int | None = None) -> tuple[str, str]:
    """The unsubscribe and manage tokens for one subscriber (``v3``), made on ``day``."""
    return Signer(secret).pair(subscriber_id, day)


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
    if version == "v2":
        expected = hmac.digest(secret, b"v2" + raw, hashlib.sha256)[:_SIG_BYTES]
    elif version == "v3" and kind in _PAIRED:
        expected = hmac.digest(secret, b"v3" + raw[1:], hashlib.sha256)[_PAIRED[kind]]
    else:
        raise SubscriberError("not a link of ours")
    if not hmac.compare_digest(_b64(expected), mac):
        raise SubscriberError("the link does not verify (wrong NEWSLETTER_SECRET?)")
    if kind != PURPOSES[purpose]:
        raise SubscriberError("the link was made for something else")
    age = (today if today is not None else int(time.time()) // 86400) - _EPOCH - made
    if max_age_days is not None and age > max_age_days:
        raise SubscriberError("the link has expired")
    return int(subscriber_id)


def is_current(token: str) -> bool:
    """Whether ``token`` is of a kind made now (v2, v3), not an address-carrying one."""
    return token.startswith(("v2.", "v3."))


def made_on(token: str) -> int:
    """The day (days since 1970) a current token was made; read only after :func:`read`."""
    return int(_PAYLOAD.unpack(_unb64(token.split(".")[1]))[2]) + _EPOCH


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
