"""The signed tokens of reader links: each reads back as what it was made for, as nothing
else, and in no other spelling."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import struct

import pytest

from newsletter import tokens
from newsletter.errors import SubscriberError

KEY = b"k" * 32
EPOCH = 18_262  # 2020-01-01 in days since 1970: day 0 of a token
READERS = ["00" * 16, "ff" * 16, *(secrets.token_hex(16) for _ in range(300))]
ALPHABET = string.ascii_letters + string.digits + "-_"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def legacy(purpose: bytes, number: int, day: int, version: str = "v3") -> str:
    """A link of the kinds made before link keys, as they were made (by row number)."""
    raw = struct.pack(">cQH", purpose, number, day - EPOCH)
    if version == "v2":
        mac = hmac.digest(KEY, b"v2" + raw, hashlib.sha256)[:16]
    else:
        digest = hmac.digest(KEY, b"v3" + raw[1:], hashlib.sha256)
        mac = digest[:16] if purpose == b"u" else digest[16:]
    return f"{version}.{b64(raw)}.{b64(mac)}"


@pytest.mark.parametrize("day", [EPOCH, 20_000, EPOCH + 65_535])
def test_a_pair_reads_back_as_the_key_it_was_made_for(day: int) -> None:
    signer = tokens.Signer(KEY)
    for key in READERS:
        leave, manage = signer.pair(key, day)
        assert tokens.read(KEY, leave, "unsubscribe", today=day) == \
            tokens.Link(key, None, day)
        assert tokens.read(KEY, manage, "manage", today=day) == tokens.Link(key, None, day)
        assert (leave, manage) == tokens.make_pair(KEY, key, day)  # one rule
        assert (leave, manage) == (tokens.make(KEY, "unsubscribe", key, day),
                                   tokens.make(KEY, "manage", key, day))


def test_the_pair_is_the_documented_hmac() -> None:
    # The cached keyed state gives exactly what HMAC-SHA256 of the payload gives: the
    # first half signs the one link, the second half the other.
    key = READERS[5]
    leave, manage = tokens.Signer(KEY).pair(key, 20_000)
    tail = bytes.fromhex(key) + struct.pack(">H", 20_000 - EPOCH)
    digest = hmac.digest(KEY, b"v4" + tail, hashlib.sha256)
    assert leave == f"v4.{b64(b'u' + tail)}.{b64(digest[:16])}"
    assert manage == f"v4.{b64(b'm' + tail)}.{b64(digest[16:])}"


@pytest.mark.parametrize("secret", [b"", b"s", KEY, b"x" * 64, b"y" * 65, secrets.token_bytes(200)])
def test_a_batch_of_pairs_is_the_documented_hmac_of_each(secret: bytes) -> None:
    # The pads hashed once (and a secret longer than SHA-256's block hashed first, as
    # HMAC does) give what hmac gives; a batch's one base64 call cuts out each token as
    # its own encoding; a proof's reader (no key) is all zeros.
    keys = [*READERS, ""]
    pairs = tokens.Signer(secret).pairs(keys, 20_000)
    assert len(pairs) == len(keys)
    for key, (leave, manage) in zip(keys, pairs, strict=True):
        tail = bytes.fromhex(key or "00" * 16) + struct.pack(">H", 20_000 - EPOCH)
        digest = hmac.digest(secret, b"v4" + tail, hashlib.sha256)
        assert leave == f"v4.{b64(b'u' + tail)}.{b64(digest[:16])}"
        assert manage == f"v4.{b64(b'm' + tail)}.{b64(digest[16:])}"
        assert tokens.read(secret, leave, "unsubscribe", today=20_000).key == \
            (key or "00" * 16)
    assert tokens.Signer(secret).pairs([], 20_000) == []


@pytest.mark.parametrize("bad", ["zz" * 16, "00" * 15, "00" * 17, "00 " + "11" * 14 + " ",
                                 "0" * 31 + "\u0660"])
def test_a_batch_with_a_malformed_key_is_refused_whole(bad: str) -> None:
    # One key that is not 32 hex digits (a space, which fromhex would pass over, a
    # non-ASCII digit) refuses the batch, never shifts the others' bytes.
    with pytest.raises(ValueError):
        tokens.Signer(KEY).pairs([READERS[0], bad, READERS[1]], 20_000)


def test_a_reader_token_is_the_documented_hmac() -> None:
    token = tokens.Signer(KEY).reader(READERS[9], 20_000)
    raw = b"r" + bytes.fromhex(READERS[9]) + struct.pack(">H", 20_000 - EPOCH)
    assert token == f"v4.{b64(raw)}.{b64(hmac.digest(KEY, b'v4' + raw, hashlib.sha256)[:16])}"
    assert token == tokens.make(KEY, "reader", READERS[9], 20_000)


def test_a_token_names_a_random_key_and_nothing_about_the_list() -> None:
    # Two readers made one after the other share nothing but the version and purpose:
    # no sequential number, no address.
    first, second = (tokens.make(KEY, "unsubscribe", key, 20_000) for key in READERS[2:4])
    raw = [base64.urlsafe_b64decode(t.split(".")[1] + "==") for t in (first, second)]
    assert raw[0][1:17].hex() == READERS[2] and raw[1][1:17].hex() == READERS[3]
    assert len(raw[0]) == len(raw[1]) == 19  # purpose, key, day: nothing else


def test_no_token_serves_another_purpose_or_another_secret() -> None:
    leave, manage = tokens.make_pair(KEY, READERS[7], 20_000)
    confirm = tokens.make(KEY, "confirm", READERS[7], 20_000)
    assert len({leave.split(".")[2], manage.split(".")[2], confirm.split(".")[2]}) == 3
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


def _spellings(token: str) -> set[str]:
    """Every other spelling an attacker would try: each character replaced by every
    other of the alphabet (base64's spare bits in a last character included), padding,
    trailing junk, case, whitespace and separators."""
    found = {token[:i] + c + token[i + 1:] for i in range(len(token)) for c in ALPHABET}
    found |= {token + tail for tail in ("=", "==", "!!", ".", " ", "\n", "%3D", "\x00")}
    version, payload, mac = token.split(".")
    found |= {f"{version}.{payload}=.{mac}", f"{version}.{payload}==.{mac}",
              f"{version}.{payload}.{mac}=", f" {token}", token.upper(), token.lower(),
              f"{version}.{payload}.{mac}.", f"{version}..{payload}.{mac}",
              f"{version}.{payload[:-1]}.{mac}", f"{version}.{payload}A.{mac}",
              token.replace("-", "+").replace("_", "/"), f"{version}.{payload}!!.{mac}",
              f"{version}.{payload}.{mac[:-1]}"}
    found.discard(token)
    return found


@pytest.mark.parametrize("purpose", ["unsubscribe", "manage", "confirm"])
def test_a_token_has_one_spelling(purpose: str) -> None:
    token = tokens.make(KEY, purpose, READERS[11], 20_000)
    assert tokens.read(KEY, token, purpose, today=20_000).key == READERS[11]
    accepted = []
    for spelling in _spellings(token):
        try:
            tokens.read(KEY, spelling, purpose, today=20_000)
        except SubscriberError:
            continue
        accepted.append(spelling)
    assert accepted == []


@pytest.mark.parametrize(("purpose", "version"), [(b"u", "v3"), (b"m", "v3"), (b"u", "v2"),
                                                  (b"c", "v2")])
def test_links_of_the_kinds_before_keys_read_as_their_row_number_in_one_spelling(
        purpose: bytes, version: str) -> None:
    name = {b"u": "unsubscribe", b"m": "manage", b"c": "confirm"}[purpose]
    token = legacy(purpose, 42, 20_000, version)
    assert tokens.read(KEY, token, name, today=20_000) == tokens.Link(None, 42, 20_000)
    assert all(_refused(spelling, name) for spelling in _spellings(token))


def _refused(token: str, purpose: str) -> bool:
    try:
        tokens.read(KEY, token, purpose, today=20_000)
    except SubscriberError:
        return True
    return False


def test_confirmation_links_expire_and_reader_links_do_not() -> None:
    key = READERS[3]
    leave = tokens.make(KEY, "unsubscribe", key, day=20_000)
    assert tokens.read(KEY, leave, "unsubscribe", today=20_000 + 400).key == key
    confirm = tokens.make(KEY, "confirm", key, day=20_000)
    assert tokens.read(KEY, confirm, "confirm", max_age_days=7, today=20_007).key == key
    with pytest.raises(SubscriberError, match="expired"):
        tokens.read(KEY, confirm, "confirm", max_age_days=7, today=20_008)


@pytest.mark.parametrize("junk", ["", ".", "..", "v4..", "v4.AAAA.AAAA", "v9.x.y",
                                  "v4." + "A" * 5000 + ".x", "ü.ü.ü", "v4.\x00.\x00"])
def test_junk_is_not_a_link(junk: str) -> None:
    with pytest.raises(SubscriberError):
        tokens.read(KEY, junk, "unsubscribe")
