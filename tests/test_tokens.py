"""The signed tokens of reader links: each reads back as what it was made for, and as
nothing else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import struct

import pytest

from newsletter import tokens
from newsletter.errors import SubscriberError

KEY = b"k" * 32
EPOCH = 18_262  # 2020-01-01 in days since 1970: day 0 of a token
_rng = random.Random(7)
IDS = [0, 1, 255, 256, 65535, 65536, 2**40 + 7, 2**48 - 1, 2**48, 2**56 + 3, 2**64 - 1,
       *(_rng.randrange(2**64) for _ in range(500))]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize("day", [EPOCH, 20_000, EPOCH + 65_535])
def test_a_pair_reads_back_for_every_subscriber_number(day: int) -> None:
    signer = tokens.Signer(KEY)
    for subscriber in IDS:
        leave, manage = signer.pair(subscriber, day)
        assert tokens.read(KEY, leave, "unsubscribe", today=day) == subscriber
        assert tokens.read(KEY, manage, "manage", today=day) == subscriber
        assert (leave, manage) == tokens.make_pair(KEY, subscriber, day)  # one rule
        assert tokens.made_on(leave) == tokens.made_on(manage) == day


def test_the_pair_is_the_documented_hmac() -> None:
    # The cached keyed state and the base64 shortcut give exactly what HMAC-SHA256 of the
    # payload gives: the first half signs the one link, the second half the other.
    leave, manage = tokens.Signer(KEY).pair(2**50 + 9, 20_000)
    tail = struct.pack(">QH", 2**50 + 9, 20_000 - EPOCH)
    digest = hmac.digest(KEY, b"v3" + tail, hashlib.sha256)
    assert leave == f"v3.{b64(b'u' + tail)}.{b64(digest[:16])}"
    assert manage == f"v3.{b64(b'm' + tail)}.{b64(digest[16:])}"


def test_no_token_serves_another_purpose_or_another_key() -> None:
    leave, manage = tokens.make_pair(KEY, 42, 20_000)
    confirm = tokens.make(KEY, "confirm", 42, 20_000)
    for token, purposes in ((leave, ("manage", "confirm")), (manage, ("unsubscribe", "confirm")),
                            (confirm, ("unsubscribe", "manage"))):
        for other in purposes:
            with pytest.raises(SubscriberError):
                tokens.read(KEY, token, other, today=20_000)
        with pytest.raises(SubscriberError):
            tokens.read(b"another key", token, purposes[0], today=20_000)
    # A payload's purpose byte changed to the other of the pair does not verify.
    forged = manage.split(".")[0] + "." + manage.split(".")[1] + "." + leave.split(".")[2]
    with pytest.raises(SubscriberError):
        tokens.read(KEY, forged, "manage", today=20_000)
