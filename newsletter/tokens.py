"""Signed tokens for the links in an email: verifiable without a database lookup, and
cheap enough (a microsecond or so) for a million recipients.

A token (``v4.PAYLOAD.MAC``) names what it is for (unsubscribe, manage, confirm, or the
reader of a click link or open pixel at ``tracking: individual``), a random
key and the day it was made, and carries an HMAC-SHA256 of that (16 bytes) under
``NEWSLETTER_SECRET``. The key is the reader's own (``subscribers.link_key``: never their
row number, renewed when they subscribe again) or, for a confirmation link, the request's
(``signups.key``), so a link acts on the one person it was made for whatever happens to
rows, and reveals nothing: no address, no sequential number, nothing about the list.

Every token has one spelling: the payload must be exactly the canonical unpadded
base64url of its bytes, and the MAC exactly its own; ``=``, a changed last character
(base64's spare bits), or anything appended is refused.

Tokens of earlier kinds still verify and say so (:class:`Link`): ``v2``/``v3`` name a row
number, which the store honours only for a reader on file when those kinds were made;
``ADDRESS.MAC`` (the address in base64) is read by :func:`verify`, for unsubscribing. The
web service and the command line verify tokens; delivery makes them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

from newsletter.errors import BadLink, LinkExpired

DEV_SECRET = b"newsletter-development-only"
_SIG_BYTES = 16
_KEY_BYTES = 16
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_MAX_TOKEN = 200  # every token made here is under 80 characters


def _b64(data: bytes) -> str:
    # The one-call form of base64.urlsafe_b64encode, unpadded: it runs twice per recipient.
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """The bytes of canonical unpadded base64url ``text``; ValueError for any other
    spelling (padding, characters outside the alphabet, stray bits in the last one)."""
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:
        raise ValueError("not the canonical spelling")
    return raw


# "reader": the part of a click link (and the open pixel) naming its reader, at the
# individual level of tracking. Its HMAC covers its purpose byte, as a confirmation's
# does, so it passes for nothing else, and nothing else passes for it.
PURPOSES = {"unsubscribe": b"u", "confirm": b"c", "manage": b"m", "reader": b"r"}
_EPOCH = 18262  # 2020-01-01, in days since 1970: a token's day fits two bytes till 2199
_LEGACY = struct.Struct(">cQH")  # v2/v3: purpose, subscriber number, day made
_PAYLOAD = struct.Struct(">c16sH")  # v4: purpose, key, day made
_TAIL = struct.Struct(">16sH")  # the v4 payload after its purpose byte


@dataclass(frozen=True)
class Link:
    """What a verified token names: a key (current links) or, for links of the kinds
    made before keys, a row number; and the day it was made (days since 1970)."""

    key: str | None
    legacy_id: int | None
    made: int


def _today() -> int:
    return int(time.time()) // 86400


def _made(day: int | None) -> int:
    return max((day if day is not None else _today()) - _EPOCH, 0)


def _key_bytes(key: str) -> bytes:
    """A key as stored (32 hex digits) as the token's 16 bytes; an empty key (a proof's
    reader, who is on no list) is all zeros, which no reader's random key is."""
    if not key:
        return bytes(_KEY_BYTES)
    raw = bytes.fromhex(key)
    if len(raw) != _KEY_BYTES:
        raise ValueError(f"a link key is {_KEY_BYTES} bytes")
    return raw


def make(secret: bytes, purpose: str, key: str, day: int | None = None) -> str:
    """A token for ``purpose`` naming ``key`` (32 hex digits), made on ``day`` (days since
    1970; today by default)."""
    raw = _PAYLOAD.pack(PURPOSES[purpose], _key_bytes(key), _made(day))
    if purpose in ("unsubscribe", "manage"):
        digest = hmac.digest(secret, b"v4" + raw[1:], hashlib.sha256)[_PAIRED[raw[:1]]]
    else:
        digest = hmac.digest(secret, b"v4" + raw, hashlib.sha256)[:_SIG_BYTES]
    return f"v4.{_b64(raw)}.{_b64(digest)}"


# The two links every email carries, unsubscribe and manage, come from one HMAC: its
# first half signs the one, its second half the other. Each half is an independent
# pseudorandom value, so holding one says nothing of the other, and a send of a million
# pays for one HMAC a reader, not two. (A confirmation token's HMAC covers its purpose
# byte as well, so it can never equal either half.)
_PAIRED = {b"u": slice(0, _SIG_BYTES), b"m": slice(_SIG_BYTES, 2 * _SIG_BYTES)}


class Signer:
    """Makes the tokens of one send. The standard library's HMAC-SHA256 (OpenSSL's, in
    C), keyed once here with the secret and ``v4``, then copied for each reader: the
    secret is hashed into its pads once a send, not once a token. A send makes a million
    pairs; :meth:`pairs` makes a batch's at once."""

    def __init__(self, secret: bytes) -> None:
        self._keyed = hmac.new(secret, b"v4", hashlib.sha256)

    def _mac(self, message: bytes) -> bytes:
        """HMAC-SHA256(secret, ``v4`` + ``message``)."""
        mac = self._keyed.copy()
        mac.update(message)
        return mac.digest()

    def pair(self, key: str, day: int | None = None) -> tuple[str, str]:
        """The unsubscribe and manage tokens for the reader whose link key is ``key``,
        made on ``day`` (days since 1970; today by default)."""
        return self.pairs([key], day)[0]

    def pairs(self, keys: Sequence[str], day: int | None = None) -> list[tuple[str, str]]:
        """:meth:`pair` for each of ``keys``, in order. Every token of the batch is
        written by one base64 call: each part is padded with zero bytes to a multiple of
        three, so its characters are those of its own unpadded encoding, then cut out."""
        made = _DAY.pack(_made(day))
        mac = self._mac
        parts = []
        for at in range(0, len(raw := _keys_bytes(keys)), _KEY_BYTES):
            tail = raw[at:at + _KEY_BYTES] + made
            digest = mac(tail)
            # u+tail (19 bytes), m+tail, each MAC half (16): 21, 21, 18, 18 bytes padded.
            parts.append(b"u" + tail + b"\0\0m" + tail + b"\0\0" + digest[:_SIG_BYTES] + b"\0\0"
                         + digest[_SIG_BYTES:] + b"\0\0")
        text = binascii.b2a_base64(b"".join(parts), newline=False).translate(_URLSAFE).decode()
        return [(f"v4.{text[at:at + 26]}.{text[at + 56:at + 78]}",
                 f"v4.{text[at + 28:at + 54]}.{text[at + 80:at + 102]}")
                for at in range(0, len(text), _PAIR_TEXT)]

    def reader(self, key: str, day: int | None = None) -> str:
        """The token naming the reader whose link key is ``key`` in their click links and
        open pixel (``tracking: individual``): what :func:`make` makes for "reader"."""
        raw = b"r" + _TAIL.pack(_key_bytes(key), _made(day))
        return f"v4.{_b64(raw)}.{_b64(self._mac(raw)[:_SIG_BYTES])}"


_DAY = struct.Struct(">H")
_PAIR_TEXT = 104  # the base64 of one reader's 78 padded bytes in :meth:`Signer.pairs`


def _keys_bytes(keys: Sequence[str]) -> bytes:
    """The keys' 16 bytes each, one after the other: one conversion for a batch of
    well-formed keys, else key by key (which says what is wrong with one)."""
    if all(len(key) == 2 * _KEY_BYTES for key in keys):
        try:
            raw = bytes.fromhex("".join(keys))
        except ValueError:
            raw = b""
        if len(raw) == _KEY_BYTES * len(keys):  # fromhex passes over spaces: none here
            return raw
    return b"".join([_key_bytes(key) for key in keys])


def make_pair(secret: bytes, key: str, day: int | None = None) -> tuple[str, str]:
    """The unsubscribe and manage tokens for the reader whose link key is ``key``."""
    return Signer(secret).pair(key, day)


def read(secret: bytes, token: str, purpose: str, *, max_age_days: int | None = None,
         today: int | None = None) -> Link:
    """What a ``purpose`` token names; BadLink (a SubscriberError) if it was not made by
    us, is not spelt exactly as we spell it, or is for another purpose, LinkExpired if it
    is older than ``max_age_days``."""
    version, kind, raw, mac = _split(token)
    expected = _expected(secret, version, kind, raw)
    if expected is None or not hmac.compare_digest(_b64(expected), mac):
        raise BadLink("the link does not verify (wrong NEWSLETTER_SECRET?)")
    if kind != PURPOSES[purpose]:
        raise BadLink("the link was made for something else")
    if version == "v4":
        _, key, made = _PAYLOAD.unpack(raw)
        link = Link(key.hex(), None, made + _EPOCH)
    else:
        _, number, made = _LEGACY.unpack(raw)
        link = Link(None, int(number), made + _EPOCH)
    age = (today if today is not None else _today()) - link.made
    if max_age_days is not None and age > max_age_days:
        raise LinkExpired("the link has expired")
    return link


def _split(token: str) -> tuple[str, bytes, bytes, str]:
    """A token's version, purpose byte, payload bytes and MAC text; SubscriberError for
    anything that is not shaped as one of ours."""
    if not token.isascii() or len(token) > _MAX_TOKEN or token.count(".") != 2:
        raise BadLink("not a link of ours")
    version, payload, mac = token.split(".")
    size = _PAYLOAD.size if version == "v4" else _LEGACY.size
    try:
        raw = _unb64(payload)
    except (ValueError, binascii.Error):
        raise BadLink("not a link of ours") from None
    if version not in ("v2", "v3", "v4") or len(raw) != size:
        raise BadLink("not a link of ours")
    return version, raw[:1], raw, mac


def _expected(secret: bytes, version: str, kind: bytes, raw: bytes) -> bytes | None:
    """The MAC a token of ``version`` and ``kind`` must carry; None for a kind that
    version never made."""
    if version == "v2":
        return hmac.digest(secret, b"v2" + raw, hashlib.sha256)[:_SIG_BYTES]
    if kind in _PAIRED:  # v3 and v4 pairs: one HMAC, halved
        return hmac.digest(secret, version.encode() + raw[1:], hashlib.sha256)[_PAIRED[kind]]
    if version == "v4" and kind in PURPOSES.values():
        return hmac.digest(secret, b"v4" + raw, hashlib.sha256)[:_SIG_BYTES]
    return None


def is_current(token: str) -> bool:
    """Whether ``token`` is of a kind made since the address left tokens (v2, v3, v4)."""
    return token.startswith(("v2.", "v3.", "v4."))


def sign(secret: bytes, key: str) -> str:
    """A token of the first kind (the address key, signed): read, no longer made."""
    raw = key.encode()
    digest = hmac.digest(secret, raw, hashlib.sha256)[:_SIG_BYTES]  # one C call: ~1 us
    return f"{_b64(raw)}.{_b64(digest)}"


def verify(secret: bytes, token: str) -> str:
    """The address key a first-kind token was made for; SubscriberError if it was not made
    by us."""
    if not token.isascii() or len(token) > 2000 or token.count(".") != 1:
        raise BadLink("not an unsubscribe token")
    try:
        encoded, _ = token.split(".", 1)
        key = _unb64(encoded).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadLink("not an unsubscribe token") from None
    if not hmac.compare_digest(sign(secret, key), token):
        raise BadLink("unsubscribe token does not verify (wrong NEWSLETTER_SECRET?)")
    return key
