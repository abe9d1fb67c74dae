"""SendGrid's Event Webhook in our words: every event kind SendGrid documents (the event
toggles of its webhook settings, tests/fakes/sendgrid_oai/tsg_webhooks_v3.json) has its
place in the vocabulary, or is left out on purpose."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from newsletter.delivery.providers.sendgrid import webhook
from newsletter.store.events import Detail, Event, Kind

SCHEMA = Path(__file__).parents[1] / "fakes" / "sendgrid_oai" / "tsg_webhooks_v3.json"
# The settings toggle that is not the event's own name ("spam_report" turns on the events
# whose `event` is "spamreport"); the toggles that are not events.
TOGGLE_TO_EVENT = {"spam_report": "spamreport"}
NOT_EVENTS = {"enabled"}
# Kinds SendGrid documents that we do not record: a reader comes back only through our
# own form and its confirmation; the account's compliance status is not about a message.
LEFT_OUT = {"group_resubscribe", "account_status_change"}


def documented_events() -> set[str]:
    schemas = json.loads(SCHEMA.read_text())["components"]["schemas"]
    toggles = {name for schema in ("EventWebhookRequest", "EventWebhookBaseResponseProps")
               for name, prop in schemas[schema]["properties"].items()
               if prop.get("type") == "boolean"}
    return {TOGGLE_TO_EVENT.get(name, name) for name in toggles - NOT_EVENTS}


def parse(kind: str, **extra: Any) -> list[Event]:
    item = {"email": "ann@example.org", "timestamp": 1721710800, "event": kind,
            "sg_event_id": f"id-{kind}", "sg_message_id": "m.1", "issue": "2024-07-23",
            **extra}
    return webhook.events(json.dumps([item]).encode())


# event (and its fields) -> (kind, detail, reason, url)
MAPPING: list[tuple[str, dict[str, Any], tuple[Kind, Detail | None, str | None, str | None]]] = [
    ("processed", {}, (Kind.ACCEPTED, None, None, None)),
    ("delivered", {"response": "250 OK"}, (Kind.DELIVERED, None, None, None)),
    ("deferred", {"response": "450 try later", "attempt": "1"},
     (Kind.DEFERRED, None, "450 try later", None)),
    ("bounce", {"type": "bounce", "reason": "550 5.1.1 no such user", "status": "5.1.1"},
     (Kind.BOUNCED, Detail.HARD, "550 5.1.1 no such user", None)),
    ("bounce", {"type": "blocked", "reason": "421 blocked", "status": "4.0.0"},
     (Kind.BOUNCED, Detail.SOFT, "421 blocked", None)),
    ("bounce", {"reason": "550 gone"}, (Kind.BOUNCED, Detail.HARD, "550 gone", None)),
    ("dropped", {"reason": "Bounced Address"},
     (Kind.DROPPED, Detail.BOUNCED, "Bounced Address", None)),
    ("dropped", {"reason": "Spam Reporting Address"},
     (Kind.DROPPED, Detail.COMPLAINED, "Spam Reporting Address", None)),
    ("dropped", {"reason": "Unsubscribed Address"},
     (Kind.DROPPED, Detail.UNSUBSCRIBED, "Unsubscribed Address", None)),
    ("dropped", {"reason": "Invalid"}, (Kind.DROPPED, Detail.INVALID, "Invalid", None)),
    ("dropped", {"reason": "Invalid SMTPAPI header"},
     (Kind.DROPPED, None, "Invalid SMTPAPI header", None)),
    ("dropped", {}, (Kind.DROPPED, None, None, None)),
    ("spamreport", {}, (Kind.COMPLAINED, None, None, None)),
    ("unsubscribe", {}, (Kind.UNSUBSCRIBED, None, None, None)),
    ("group_unsubscribe", {"asm_group_id": 7}, (Kind.UNSUBSCRIBED, None, None, None)),
    ("open", {"useragent": "Mozilla", "ip": "192.0.2.1"},
     (Kind.OPENED, Detail.PERSON, None, None)),
    ("open", {"sg_machine_open": True}, (Kind.OPENED, Detail.MACHINE, None, None)),
    ("open", {"sg_machine_open": False}, (Kind.OPENED, Detail.PERSON, None, None)),
    ("open", {"sg_machine_open": "true"}, (Kind.OPENED, Detail.PERSON, None, None)),
    ("click", {"url": "https://example.org/story", "url_offset": {"index": 0}},
     (Kind.CLICKED, None, None, "https://example.org/story")),
    ("click", {"url": 7}, (Kind.CLICKED, None, None, None)),
]


@pytest.mark.parametrize(("kind", "fields", "expected"), MAPPING,
                         ids=[f"{k}-{n}" for n, (k, _, _) in enumerate(MAPPING)])
def test_each_sendgrid_event_in_our_words(kind: str, fields: dict[str, Any],
                                          expected: tuple[Kind, Detail | None, str | None,
                                                          str | None]) -> None:
    (event,) = parse(kind, **fields)
    assert (event.kind, event.detail, event.reason, event.url) == expected
    assert (event.id, event.email, event.issue) == (f"id-{kind}", "ann@example.org",
                                                     "2024-07-23")


def test_every_documented_event_is_mapped_or_left_out_on_purpose() -> None:
    documented = documented_events()
    assert {"processed", "delivered", "spamreport", "group_resubscribe", "open"} <= documented
    mapped = {kind for kind, _, _ in MAPPING}
    assert documented == mapped | LEFT_OUT
    for kind in LEFT_OUT:
        assert parse(kind) == []
    assert {expected[0] for _, _, expected in MAPPING} == set(Kind)  # every word is used


def test_an_unknown_event_is_not_recorded_and_no_raw_word_is_stored() -> None:
    assert parse("machine_learning_insight") == []
    assert all(isinstance(e.kind, Kind) for kind, fields, _ in MAPPING
               for e in parse(kind, **fields))


# The signature, as the service checks it: through the sendgrid package's EventWebhook.

def _signed_post(key: Any, body: bytes, stamp: str = "1721710800") -> webhook.Signed:
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return webhook.Signed(stamp, base64.b64encode(signature).decode())


@pytest.fixture(scope="module")
def key_pair() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def test_the_signature_is_checked_by_the_sendgrid_package(key_pair: Any) -> None:
    from sendgrid.helpers.eventwebhook import EventWebhook

    hook = webhook.SendGridWebhook(key_pair.public_key())
    assert isinstance(hook.verifier, EventWebhook)
    body = json.dumps([{"email": "ann@example.org", "event": "delivered",
                        "sg_event_id": "s-1", "note": "café"}]).encode()
    post = _signed_post(key_pair, body)
    assert [e.id for e in hook.events(post, body)] == ["s-1"]
    with pytest.raises(webhook.BadSignature):
        hook.events(post, body.replace(b"ann", b"bob"))
    with pytest.raises(webhook.BadSignature):  # the same body under another timestamp
        hook.events(webhook.Signed("1721710801", post.signature), body)


def test_a_body_that_is_not_utf8_is_401_forged_and_400_signed(key_pair: Any) -> None:
    hook = webhook.SendGridWebhook(key_pair.public_key())
    body = b'[{"email": "ann@example.org", "event": "\xff\xfe"}]'
    with pytest.raises(webhook.BadSignature):
        hook.events(_signed_post(key_pair, b"[]"), body)
    with pytest.raises(webhook.BadBody):
        hook.events(_signed_post(key_pair, body), body)
