"""SendGrid's Event Webhook: check the signature, then turn its events into ours.

SendGrid's words -> ours (store/events.py):

    processed                      accepted
    delivered, deferred            delivered, deferred (with the server's response)
    bounce (type bounce)           bounced, hard (with the reason)
    bounce (type blocked)          bounced, soft (with the reason)
    dropped                        dropped, naming the suppression its reason names
                                   (Bounced Address, Spam Reporting Address, Unsubscribed
                                   Address, Invalid), with the reason
    spamreport                     complained
    unsubscribe, group_unsubscribe unsubscribed
    open                           opened, by a machine when sg_machine_open, else a person
    click                          clicked, with the URL
    group_resubscribe, others      not recorded (a reader comes back through our own
                                   form and its confirmation, never a provider's word)

SendGrid signs each post with ECDSA P-256 / SHA-256 over the timestamp header followed by
the raw body; the public key (base64 DER) is shown in its settings and given here as
SENDGRID_WEBHOOK_PUBLIC_KEY. The signature is checked by the ``sendgrid`` package's
``EventWebhook`` (which calls ``cryptography``). Unsigned, tampered and stale posts are
refused; the same event posted twice is recorded once (store/events.py).

The headers are checked before a byte of the body is read (``signed``), so a post that
cannot be SendGrid's costs nothing but its headers; the body is then read up to MAX_BODY.
Every refusal is a subclass of ``Refused`` that carries its HTTP status, so the service
answers by the exception's type, never by its wording.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook

from newsletter.config import Environment
from newsletter.delivery.providers.base import (
    BadBody,
    BadSignature,
    BadTimestamp,
    Unsigned,
    Webhook,
    said,
)
from newsletter.delivery.providers.sendgrid.settings import WEBHOOK_KEY, SendGridEnvironment
from newsletter.errors import ConfigError
from newsletter.store.vocabulary import Detail, Event, Kind

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_AGE = dt.timedelta(minutes=5)  # older is a replay, or a clock to fix
# SendGrid posts its events "within approximately 30 seconds or when the batch size
# reaches 768 kilobytes", whichever comes first; the post that crosses that size carries
# one event more. 4 MiB is five times a full batch: room for events with large custom
# arguments, and still small enough that 16 posts at once are not a memory problem.
MAX_BODY = 4 * 1024 * 1024
# A Unix time in seconds, in ASCII digits: 10 digits until the year 2286. `str.isdigit`
# is not the test (it accepts "²" and Arabic-Indic digits, which int() then refuses or
# reads), and a length bound keeps int() off 4,400-digit strings.
_STAMP = re.compile(r"[0-9]{1,12}")
# An ECDSA P-256 signature in DER is 8 to 72 bytes: 96 characters of base64 at most.
_MAX_SIGNATURE = 128
_NESTING = 16  # SendGrid's events are flat objects with a list or two; deeper is not theirs
# Event times SendGrid could mean: from 1970 up to the year 2106 (32-bit unsigned seconds).
_LAST_TIME = 2**32


@dataclass(frozen=True)
class Signed:
    """The signature headers of a post, checked for form before its body is read."""

    stamp: str
    signature: str  # base64, checked for form


def public_key(value: str) -> ec.EllipticCurvePublicKey:
    """The key SendGrid shows (base64 DER), as cryptography wants it."""
    try:
        key = serialization.load_der_public_key(base64.b64decode(value.strip(), validate=True))
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"not a public key in base64 DER: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an elliptic-curve public key")
    return key


def signed(headers: Mapping[str, str], now: dt.datetime) -> Signed:
    """The post's signature headers, or Refused: present, a recent Unix time, a base64
    signature of a length ECDSA P-256 gives. Reads no body."""
    signature, stamp = headers.get(SIGNATURE), headers.get(TIMESTAMP)
    if not signature or not stamp:
        raise Unsigned("unsigned")
    if not _STAMP.fullmatch(stamp):
        raise BadTimestamp("malformed timestamp")
    if abs(now.timestamp() - int(stamp)) > MAX_AGE.total_seconds():
        raise BadTimestamp("stale timestamp")
    if len(signature) > _MAX_SIGNATURE:
        raise BadSignature("bad signature")
    try:
        base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        raise BadSignature("bad signature") from None
    return Signed(stamp, signature)


def check(verifier: EventWebhook, post: Signed, body: bytes) -> None:
    """BadSignature unless ``body`` is signed by the verifier's key with ``post``'s
    timestamp."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        # SendGrid's check takes the body as text; these bytes are not text, so they
        # are checked as bytes with the same key, and a signed one is then refused as a
        # body (400), a forged one as a signature (401).
        _check_bytes(verifier.public_key, post, body)
        return
    try:
        good = verifier.verify_signature(text, post.signature, post.stamp)
    except ValueError:
        good = False
    if not good:
        raise BadSignature("bad signature")


def _check_bytes(key: ec.EllipticCurvePublicKey, post: Signed, body: bytes) -> None:
    try:
        key.verify(base64.b64decode(post.signature), post.stamp.encode() + body,
                   ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise BadSignature("bad signature") from None


def events(body: bytes) -> list[Event]:
    """The events of a verified post: BadBody unless it is UTF-8 JSON, a list of objects
    nested no deeper than SendGrid's. Objects without an id, an address or a kind are
    skipped (there is nothing to record them under)."""
    posted = _parse(body)
    if not isinstance(posted, list):
        raise BadBody("not a list of events")
    if not all(isinstance(item, dict) for item in posted):
        raise BadBody("not a list of event objects")
    if _too_deep(posted):
        raise BadBody("nested too deep")
    return [event for item in posted if (event := _event(item)) is not None]


def _parse(body: bytes) -> Any:
    try:
        # Decoded here, strictly: json.loads(bytes) would also take UTF-16 and UTF-32.
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past the stack
        raise BadBody("not JSON in UTF-8") from None


def _too_deep(value: Any) -> bool:
    """Whether ``value`` nests lists and objects more than _NESTING deep (walked without
    recursion: the parser has already taken what the stack allows)."""
    waiting = [(value, 1)]
    while waiting:
        item, depth = waiting.pop()
        children = item.values() if isinstance(item, dict) else item
        nested = [child for child in children if isinstance(child, dict | list)]
        if nested and depth == _NESTING:
            return True
        waiting += [(child, depth + 1) for child in nested]
    return False


class SendGridWebhook(Webhook[Signed]):
    """The Event Webhook, mounted by the service at /webhooks/sendgrid."""

    max_body = MAX_BODY

    def __init__(self, key: ec.EllipticCurvePublicKey) -> None:
        self.key = key
        self.verifier = EventWebhook()  # given the key we read, not one it parses again
        self.verifier.public_key = key

    def admit(self, headers: Mapping[str, str], now: dt.datetime) -> Signed:
        return signed(headers, now)

    def events(self, admitted: Signed, body: bytes) -> list[Event]:
        check(self.verifier, admitted, body)
        return events(body)


def webhook(env: Environment) -> SendGridWebhook | None:
    """The webhook when SENDGRID_WEBHOOK_PUBLIC_KEY is set, else None."""
    value = SendGridEnvironment.read(env).webhook_key
    if not value:
        return None
    try:
        return SendGridWebhook(public_key(value))
    except ValueError as exc:
        raise ConfigError(f"{WEBHOOK_KEY}: {exc}") from None


# SendGrid's event -> our kind, for the events that need no more than their name.
KINDS = {"processed": Kind.ACCEPTED, "delivered": Kind.DELIVERED,
         "deferred": Kind.DEFERRED, "spamreport": Kind.COMPLAINED,
         "unsubscribe": Kind.UNSUBSCRIBED, "group_unsubscribe": Kind.UNSUBSCRIBED}
# A drop's reason -> the suppression list it names (compared without case).
SUPPRESSIONS = {"bounced address": Detail.BOUNCED,
                "spam reporting address": Detail.COMPLAINED,
                "unsubscribed address": Detail.UNSUBSCRIBED, "invalid": Detail.INVALID}


def _event(item: dict[str, Any]) -> Event | None:
    """One of SendGrid's events in our words, its text as it can be stored (``said``);
    None for one without an id, an address or a kind, or of a kind we do not record."""
    event_id, email, name = said(item, "sg_event_id"), said(item, "email"), said(item, "event")
    if not (event_id and email and name):
        return None
    words = _ours(name, item)
    if words is None:
        return None
    kind, detail, reason, url = words
    return Event(event_id, kind, email, said(item, "issue"),
                 happened(item.get("timestamp")), detail, reason, url)


def _ours(name: str, item: dict[str, Any]
          ) -> tuple[Kind, Detail | None, str | None, str | None] | None:
    """SendGrid's event in our words: kind, detail, reason, URL; None for one we do not
    record."""
    reason = said(item, "reason")
    if name == "bounce":  # "blocked" is a refusal for now: counted, the reader stays
        soft = item.get("type") == "blocked"
        return Kind.BOUNCED, Detail.SOFT if soft else Detail.HARD, reason, None
    if name == "dropped":
        named = SUPPRESSIONS.get(reason.strip().lower()) if reason else None
        return Kind.DROPPED, named, reason, None
    if name == "open":
        machine = item.get("sg_machine_open") is True
        return Kind.OPENED, Detail.MACHINE if machine else Detail.PERSON, None, None
    if name == "click":
        return Kind.CLICKED, None, None, said(item, "url")
    if name in KINDS:
        return KINDS[name], None, said(item, "response") if name == "deferred" else None, None
    return None



def happened(stamp: Any) -> dt.datetime | None:
    """When an event happened, or None (unknown) for a value that is not the whole Unix
    time SendGrid documents: a string, null, a boolean, a float, a negative number,
    10**12. The event is still recorded: refusing the post would only make SendGrid retry
    it for a day."""
    if isinstance(stamp, bool) or not isinstance(stamp, int) or not 0 <= stamp < _LAST_TIME:
        return None
    return dt.datetime.fromtimestamp(stamp, dt.UTC)
