"""The readers' service, served by uvicorn on loopback: one-click unsubscribe as a mail
provider sends it, the page a person sees, and SendGrid's signed events."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, text, update

from newsletter.config import Environment
from newsletter.errors import ConfigError
from newsletter.store import events as store_events
from newsletter.store import subscribers as store
from newsletter.store.db import subscribers
from newsletter.tokens import DEV_SECRET, make, sign
from newsletter.web.app import create_app
from newsletter.web.pages import mask
from tests.helpers import asked_and_confirmed
from tests.web.server import SECRET, free_port


def link(reader: store.Subscriber, secret: str = SECRET) -> str:
    """The reader's unsubscribe link, as an email carries it."""
    return f"/unsubscribe?t={make(secret.encode(), 'unsubscribe', reader.link_key)}"


def legacy_reader(engine: Engine, address: str) -> store.Subscriber:
    """A reader on file from before link keys: their old links still act for them."""
    reader = store.add(engine, address)
    with engine.begin() as conn:
        conn.execute(update(subscribers).where(subscribers.c.id == reader.id)
                     .values(legacy_links=True))
    return reader


def test_one_click_as_a_mail_provider_sends_it(service: str, engine: Engine) -> None:
    ann = store.add(engine, "ann@example.org")
    for _ in range(2):  # repeated, the same answer
        answer = httpx.post(service + link(ann),
                            data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
        assert answer.status_code == 200 and answer.text == "unsubscribed"
    assert store.find(engine, "ann@example.org").status == "unsubscribed"  # type: ignore[union-attr]


def test_a_get_changes_nothing_and_shows_a_button(service: str, engine: Engine) -> None:
    ann = store.add(engine, "ann.smith@example.org")
    page = httpx.get(service + link(ann))
    assert page.status_code == 200 and "a*******h@example.org" in page.text
    assert "ann.smith" not in page.text and '<button type="submit">' in page.text
    assert store.find(engine, "ann.smith@example.org").status == "active"  # type: ignore[union-attr]
    token = link(ann).split("t=")[1]
    done = httpx.post(service + "/unsubscribe", data={"t": token})
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert store.find(engine, "ann.smith@example.org").status == "unsubscribed"  # type: ignore[union-attr]


@pytest.mark.parametrize("token", [
    sign(b"another-secret", "ann@example.org"),     # signed with another key
    sign(DEV_SECRET, "ann@example.org"),              # the development key in the source
    sign(SECRET.encode(), "ann@example.org")[:-3] + "AAA",  # tampered
    "not-a-token", "", "ü.ü"])
def test_bad_links_change_nothing_and_say_what_to_do(service: str, engine: Engine,
                                                    token: str) -> None:
    store.add(engine, "ann@example.org")
    for answer in (httpx.get(f"{service}/unsubscribe", params={"t": token}),
                   httpx.post(f"{service}/unsubscribe", params={"t": token},
                              data={"List-Unsubscribe": "One-Click"})):
        assert answer.status_code == 400
    page = httpx.get(f"{service}/unsubscribe", params={"t": token}).text
    assert "This link does not work" in page and "reply to it and ask" in page
    assert store.find(engine, "ann@example.org").status == "active"  # type: ignore[union-attr]


def test_every_answer_carries_the_security_headers(service: str) -> None:
    for answer in (httpx.get(service + "/health"), httpx.get(service + "/unsubscribe?t=x")):
        assert answer.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["referrer-policy"] == "no-referrer"
    assert httpx.get(service + "/health").json() == {"status": "ok"}


def test_the_service_refuses_to_start_without_a_secret(project_dir: Path) -> None:
    for secret in ("", DEV_SECRET.decode()):
        with pytest.raises(ConfigError, match="NEWSLETTER_SECRET is not set"):
            create_app(project_dir / "newsletter.yaml",
                       Environment.from_environ({"NEWSLETTER_SECRET": secret}))


def test_mask_shows_enough_to_recognise() -> None:
    assert mask("ann.smith@example.org") == "a*******h@example.org"
    assert mask("al@example.org") == "a*@example.org"
    assert mask("a@example.org") == "a*@example.org"


# -- SendGrid's Event Webhook --------------------------------------------------------------

def signed(key: ec.EllipticCurvePrivateKey, body: bytes,
           when: dt.datetime | None = None) -> dict[str, str]:
    """The headers SendGrid sends: ECDSA P-256/SHA-256 over timestamp + body, base64 DER."""
    stamp = str(int((when or dt.datetime.now(dt.UTC)).timestamp()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
            "Content-Type": "application/json"}


def event(kind: str, email: str, n: int, **extra: object) -> dict[str, object]:
    return {"email": email, "timestamp": 1721710800, "event": kind, "sg_event_id": f"ev-{n}",
            "sg_message_id": "msg.1", "issue": "2024-07-23", "subscriber": "1", **extra}


def test_each_event_kind_and_duplicates_counted_once(service: str, engine: Engine,
                                                     signing_key: ec.EllipticCurvePrivateKey
                                                     ) -> None:
    for address in ("hard@example.org", "blocked@example.org", "spam@example.org",
                    "leaver@example.org", "group@example.org", "reader@example.org",
                    "dropped@example.org"):
        store.add(engine, address)
    posted = [event("processed", "reader@example.org", 1),
              event("delivered", "reader@example.org", 2),
              event("open", "reader@example.org", 3, useragent="x", ip="192.0.2.1"),
              event("click", "reader@example.org", 4, url="https://example.org/a"),
              event("deferred", "reader@example.org", 5),
              event("bounce", "hard@example.org", 6, type="bounce", status="5.1.1"),
              event("bounce", "blocked@example.org", 7, type="blocked", status="4.0.0"),
              event("dropped", "dropped@example.org", 8, reason="Bounced Address"),
              event("spamreport", "spam@example.org", 9),
              event("unsubscribe", "leaver@example.org", 10),
              event("group_unsubscribe", "group@example.org", 11, asm_group_id=1),
              event("group_resubscribe", "group@example.org", 12, asm_group_id=1)]
    body = json.dumps(posted).encode()
    for _ in range(2):  # SendGrid retries: the second post changes nothing
        answer = httpx.post(service + "/webhooks/sendgrid", content=body,
                            headers=signed(signing_key, body))
        assert answer.status_code == 200
    # group_resubscribe is not in our words: not recorded (a reader comes back through
    # our own form), so 11 of the 12.
    assert answer.json() == {"received": 11, "new": 0, "refused": 0}
    status = {s.email: s.status for s in store.listing(engine)}
    assert status == {"hard@example.org": "bounced", "blocked@example.org": "active",
                      "spam@example.org": "complained", "leaver@example.org": "unsubscribed",
                      "group@example.org": "unsubscribed", "reader@example.org": "active",
                      "dropped@example.org": "bounced"}  # dropped for a bounce: as the list
    assert store_events.breakdown(engine, "2024-07-23") == {
        "accepted": {"": 1}, "delivered": {"": 1}, "opened": {"person": 1},
        "clicked": {"": 1}, "deferred": {"": 1}, "bounced": {"hard": 1, "soft": 1},
        "dropped": {"bounced": 1}, "complained": {"": 1}, "unsubscribed": {"": 2}}
    with engine.connect() as conn:
        clicked = conn.execute(text("SELECT url FROM events WHERE kind = 'clicked'")).scalar()
    assert clicked == "https://example.org/a"


@pytest.mark.parametrize("spoil", ["tampered", "wrong key", "no headers", "stale", "future"])
def test_posts_not_from_sendgrid_are_refused(service: str, engine: Engine, spoil: str,
                                             signing_key: ec.EllipticCurvePrivateKey) -> None:
    store.add(engine, "hard@example.org")
    body = json.dumps([event("bounce", "hard@example.org", 1, type="bounce")]).encode()
    key = ec.generate_private_key(ec.SECP256R1()) if spoil == "wrong key" else signing_key
    when = {"stale": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10),
            "future": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)}.get(spoil)
    headers = signed(key, body, when)
    if spoil == "tampered":
        body = body.replace(b"hard@", b"else@")
    if spoil == "no headers":
        headers = {"Content-Type": "application/json"}
    answer = httpx.post(service + "/webhooks/sendgrid", content=body, headers=headers)
    assert answer.status_code in (400, 401)
    assert store.find(engine, "hard@example.org").status == "active"  # type: ignore[union-attr]


def test_ten_thousand_events_in_one_post(service: str, engine: Engine,
                                         signing_key: ec.EllipticCurvePrivateKey) -> None:
    body = json.dumps([event("delivered", f"r{n}@example.org", n) for n in range(10_000)]
                      ).encode()
    answer = httpx.post(service + "/webhooks/sendgrid", content=body,
                        headers=signed(signing_key, body), timeout=60)
    assert answer.json() == {"received": 10_000, "new": 10_000, "refused": 0}
    assert store_events.counts(engine, "2024-07-23") == {"delivered": 10_000}


def test_serve_refuses_without_a_secret_then_serves(project_dir: Path) -> None:
    import os
    import subprocess
    import sys

    newsletter = str(Path(sys.executable).with_name("newsletter"))
    env = {k: v for k, v in os.environ.items() if k != "NEWSLETTER_SECRET"}
    refused = subprocess.run([newsletter, "serve"], cwd=project_dir, env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and refused.stderr.startswith(
        "Error: NEWSLETTER_SECRET is not set (or is the development key)")
    port = free_port()
    running = subprocess.Popen([newsletter, "serve", "--port", str(port)], cwd=project_dir,
                               env={**env, "NEWSLETTER_SECRET": SECRET},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("the service did not start")
        httpx.get(f"http://127.0.0.1:{port}/unsubscribe?t=v4.not-a-token")
    finally:
        running.terminate()
        out, _ = running.communicate(timeout=30)
    assert "GET /unsubscribe 400" in out  # the log line: path and status
    assert "t=" not in out and "ann@example.org" not in out  # never the token or address


def test_links_of_today_name_no_address_and_serve_one_purpose(service: str,
                                                              engine: Engine) -> None:

    ann = store.add(engine, "ann@example.org")
    confirm = make(SECRET.encode(), "confirm", ann.link_key)
    wrong = httpx.post(f"{service}/unsubscribe", params={"t": confirm},
                       data={"List-Unsubscribe": "One-Click"})
    assert wrong.status_code == 400
    assert store.find(engine, "ann@example.org").status == "active"  # type: ignore[union-attr]
    token = make(SECRET.encode(), "unsubscribe", ann.link_key)
    assert "ann" not in base64.urlsafe_b64decode(token.split(".")[1] + "==").decode("latin-1")
    done = httpx.post(f"{service}/unsubscribe", params={"t": token},
                      data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert store.find(engine, "ann@example.org").status == "unsubscribed"  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["address", "v2", "v3"])
def test_links_of_earlier_kinds_act_only_for_the_reader_they_were_made_for(
        service: str, engine: Engine, kind: str) -> None:
    # Readers on file when link keys came keep their old links. Whoever has the number or
    # the address later (erased and subscribed again, a number reused) is not theirs.
    ann = legacy_reader(engine, "ann@example.org")
    secret = SECRET.encode()
    tokens_of = {"address": lambda r: sign(secret, r.email.lower()),
                 "v2": lambda r: _legacy(secret, b"u", r.id, "v2"),
                 "v3": lambda r: _legacy(secret, b"u", r.id, "v3")}
    old = tokens_of[kind](ann)
    assert httpx.get(f"{service}/unsubscribe", params={"t": old}).status_code == 200
    store.forget(engine, "ann@example.org")
    again = asked_and_confirmed(engine, "ann@example.org")  # new: never had that link
    for answer in (httpx.get(f"{service}/unsubscribe", params={"t": old}),
                   httpx.post(f"{service}/unsubscribe", params={"t": old},
                              data={"List-Unsubscribe": "One-Click"})):
        assert answer.status_code in (200, 400)
    assert store.find(engine, again.email).status == "active"  # type: ignore[union-attr]
    ann_b = legacy_reader(engine, "bea@example.org")
    done = httpx.post(f"{service}/unsubscribe", params={"t": tokens_of[kind](ann_b)},
                      data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert store.find(engine, "bea@example.org").status == "unsubscribed"  # type: ignore[union-attr]


def _legacy(secret: bytes, purpose: bytes, number: int, version: str) -> str:
    import hashlib
    import hmac
    import struct

    raw = struct.pack(">cQH", purpose, number, dt.date.today().toordinal() - 737_425)
    if version == "v2":
        mac = hmac.digest(secret, b"v2" + raw, hashlib.sha256)[:16]
    else:
        mac = hmac.digest(secret, b"v3" + raw[1:], hashlib.sha256)[:16]
    return f"{version}.{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}." \
        f"{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


@pytest.mark.browser
def test_a_reader_unsubscribes_in_a_browser_at_320_px(browser, service: str,  # type: ignore[no-untyped-def]
                                                      engine: Engine) -> None:

    reader = store.add(engine, "a.very.long.address.for.a.small.screen@example.org")
    page = browser.new_page(viewport={"width": 320, "height": 640})
    page.goto(f"{service}{link(reader)}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert "@example.org" in page.inner_text("main")
    assert store.find(engine, reader.email).status == "active"  # type: ignore[union-attr]
    page.click("button")
    page.wait_for_selector("text=You are unsubscribed")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert store.find(engine, reader.email).status == "unsubscribed"  # type: ignore[union-attr]
    page.close()
