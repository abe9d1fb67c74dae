"""SendGrid's Event Webhook: check the signature, then turn its events into ours.

SendGrid signs each post with ECDSA P-256 / SHA-256 over the timestamp header followed by
the raw body; the public key (base64 DER) is shown in its settings and given here as
SENDGRID_WEBHOOK_PUBLIC_KEY. Unsigned, tampered and stale posts are refused; the same
event posted twice is recorded once (store/events.py).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.store.events import Event

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_AGE = dt.timedelta(minutes=5)  # older is a replay, or a clock to fix
MAX_BODY = 32 * 1024 * 1024


class Refused(Exception):
    """A post that is not SendGrid's, or not now: answered 401 or 400."""


def public_key(value: str) -> ec.EllipticCurvePublicKey:
    """The key SendGrid shows (base64 DER), as cryptography wants it."""
    try:
        key = serialization.load_der_public_key(base64.b64decode(value.strip(), validate=True))
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"not a public key in base64 DER: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an elliptic-curve public key")
    return key


def verify(key: ec.EllipticCurvePublicKey, headers: Mapping[str, str], body: bytes,
           now: dt.datetime) -> None:
    """Refused unless ``body`` is signed by ``key`` and the timestamp is recent."""
    signature, stamp = headers.get(SIGNATURE), headers.get(TIMESTAMP)
    if not signature or not stamp:
        raise Refused("unsigned")
    if not stamp.isdigit() or abs(now - dt.datetime.fromtimestamp(int(stamp), dt.UTC)) > MAX_AGE:
        raise Refused("stale or malformed timestamp")
    try:
        key.verify(base64.b64decode(signature, validate=True), stamp.encode() + body,
                   ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        raise Refused("bad signature") from None


def events(body: bytes) -> list[Event]:
    """The events of a verified post (those without an id or an address are skipped)."""
    try:
        posted = json.loads(body)
    except ValueError:
        raise Refused("not JSON") from None
    if not isinstance(posted, list):
        raise Refused("not a list of events")
    return [event for item in posted if (event := _event(item)) is not None]


def _event(item: Any) -> Event | None:
    if not isinstance(item, dict):
        return None
    event_id, email, kind = item.get("sg_event_id"), item.get("email"), item.get("event")
    if not (isinstance(event_id, str) and isinstance(email, str) and isinstance(kind, str)):
        return None
    if kind == "bounce" and item.get("type") == "blocked":
        kind = "blocked"  # a temporary refusal: counted, the reader stays active
    issue = item.get("issue")
    stamp = item.get("timestamp")
    happened = dt.datetime.fromtimestamp(stamp, dt.UTC) if isinstance(stamp, int) else None
    return Event(event_id, kind, email, issue if isinstance(issue, str) else None, happened)
