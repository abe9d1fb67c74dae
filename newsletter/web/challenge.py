"""An optional proof-of-work challenge on the subscribe form (ALTCHA, with its own
library): the browser spends a moment of work per request, which costs a person nothing
and a script posting thousands of addresses a great deal.

Challenges are signed with a key derived from NEWSLETTER_SECRET, so any instance can
check one another made; each solution is accepted once (counted in the database, like
the other limits), and expires after ten minutes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json

from altcha.v1 import ChallengeOptions, create_challenge, verify_solution
from sqlalchemy import Engine

from newsletter.store import throttle

LIFETIME = dt.timedelta(minutes=10)
FIELD = "altcha"  # the form field ALTCHA's widget fills


def key(secret: bytes) -> str:
    return hmac.new(secret, b"altcha challenge", hashlib.sha256).hexdigest()


def challenge(secret: bytes, difficulty: int) -> dict[str, object]:
    """A new challenge, as the widget fetches it."""
    made = create_challenge(ChallengeOptions(
        hmac_key=key(secret), max_number=difficulty,
        expires=dt.datetime.now(dt.UTC) + LIFETIME))
    return dict(made.to_dict())


def problem(engine: Engine, secret: bytes, payload: str) -> str | None:
    """Why a solution is refused (missing, wrong, expired, used before), or None."""
    if not payload:
        return "missing"
    try:
        ok, why = verify_solution(payload, key(secret), check_expires=True)
    except (ValueError, TypeError, KeyError, binascii.Error):
        ok, why = False, "unreadable"
    if not ok:
        return why or "does not verify"
    signature = _signature(payload)
    until = (dt.datetime.now(dt.UTC) + LIFETIME).timestamp()  # past the challenge's own end
    if not throttle.once(engine, f"altcha:{signature}", until):
        return "used before"
    return None


def _signature(payload: str) -> str:
    decoded = json.loads(base64.b64decode(payload))
    return hashlib.sha256(str(decoded.get("signature", "")).encode()).hexdigest()[:40]
