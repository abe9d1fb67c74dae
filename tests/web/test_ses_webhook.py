"""SES's events through SNS, posted to a real ``newsletter serve``: signed by a key of the
test's own, whose certificate "SNS's host" serves (tests/fakes/ses_server.py: HTTPS with
the test's CA, reached through SES_SNS_CONNECT_TO). Nothing is switched off: every post
here is checked as one from AWS would be, and the hostile ones are refused."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, select

from newsletter.store import db
from newsletter.store import events as store_events
from newsletter.store import subscribers as store
from tests.fakes.ses_server import (
    SNS_HOST,
    TOPIC_ARN,
    HostAnswer,
    Signer,
    SnsHost,
    notification,
    now_stamp,
    ses_record,
)
from tests.helpers import PUBLICATION
from tests.web.served import Served, newsletter_serve

BOUNCE = {"bounceType": "Permanent", "bounceSubType": "General",
          "bouncedRecipients": [{"emailAddress": "ann@example.org", "status": "5.1.1",
                                 "diagnosticCode": "smtp; 550 5.1.1 unknown"}],
          "timestamp": "2024-07-23T05:00:04.000Z"}


@dataclass
class World:
    served: Served
    host: SnsHost
    signer: Signer
    engine: Engine


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One ``newsletter serve`` for the module, with the SES webhook set up."""
    folder = tmp_path_factory.mktemp("ses-webhook")
    shutil.copy(PUBLICATION / "newsletter.yaml", folder / "newsletter.yaml")
    shutil.copytree(PUBLICATION / "issues", folder / "issues")
    engine = db.connect(f"sqlite:///{folder / 'test.sqlite3'}")
    store.add(engine, "ann@example.org")
    host = SnsHost(folder)
    signer = Signer(host)
    with newsletter_serve(folder, engine, ec.generate_private_key(ec.SECP256R1()),
                          extra=host.environment()) as served:
        yield World(served, host, signer, engine)
    host.stop()
    engine.dispose()


def post(world: World, message: dict[str, Any] | bytes, **headers: str) -> httpx.Response:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    kind = message.get("Type") if isinstance(message, dict) else None
    sent = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-topic-arn": TOPIC_ARN,
            **({"x-amz-sns-message-type": kind} if isinstance(kind, str) else {}), **headers}
    return httpx.post(world.served.url + "/webhooks/ses", content=body, headers=sent,
                      timeout=30)


def bounce(message_id: str | None = None, **fields: Any) -> dict[str, Any]:
    return notification(ses_record("Bounce", "ann@example.org", BOUNCE), message_id, **fields)


def confirmation(kind: str = "SubscriptionConfirmation", url: str | None = None,
                 token: str = "tok-1") -> dict[str, Any]:
    return {"Type": kind, "MessageId": str(uuid.uuid4()), "Token": token,
            "TopicArn": TOPIC_ARN, "Message": "You have chosen to subscribe ...",
            "SubscribeURL": url or f"https://{SNS_HOST}/?Action=ConfirmSubscription&"
                                   f"TopicArn={TOPIC_ARN}&Token={token}",
            "Timestamp": now_stamp()}


# -- what SNS sends -------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_bounce_is_recorded_once(world: World, version: str) -> None:
    message = world.signer.sign(bounce(), version)
    first, again = post(world, message), post(world, message)  # SNS retries with one id
    assert first.status_code == 200 and first.json() == {"received": 1, "new": 1, "refused": 0}
    assert again.status_code == 200 and again.json() == {"received": 1, "new": 0, "refused": 0}
    assert store.find(world.engine, "ann@example.org").status == "bounced"  # type: ignore[union-attr]
    assert store_events.counts(world.engine, "2024-07-23")["bounced"] >= 1


def test_a_certificate_is_fetched_once_for_many_messages(world: World) -> None:
    signer = Signer(world.host, name="cached0000000000000000000000000000")
    for _ in range(3):
        assert post(world, signer.sign(bounce())).status_code == 200
    assert world.host.fetched.count(signer.path) == 1


def test_a_subscription_is_confirmed_on_snss_host_only(world: World) -> None:
    answer = post(world, world.signer.sign(confirmation(token="good")))
    assert answer.status_code == 200 and answer.json() == {"received": 0, "new": 0, "refused": 0}
    assert [c["Token"] for c in world.host.confirmed] == [["good"]]
    for url in (f"https://evil.example/?Action=ConfirmSubscription&TopicArn={TOPIC_ARN}"
                "&Token=evil",
                f"https://{SNS_HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC_ARN}x"
                "&Token=evil",
                f"https://{SNS_HOST}/?Action=Unsubscribe&TopicArn={TOPIC_ARN}&Token=evil",
                f"http://{SNS_HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC_ARN}"
                "&Token=evil"):
        refused = post(world, world.signer.sign(confirmation(url=url, token="evil")))
        assert refused.status_code == 401, url
    assert len(world.host.confirmed) == 1


def test_an_unsubscribe_confirmation_is_taken_and_changes_nothing(world: World) -> None:
    answer = post(world, world.signer.sign(confirmation("UnsubscribeConfirmation")))
    assert answer.status_code == 200 and answer.json() == {"received": 0, "new": 0, "refused": 0}


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_time_past_the_calendars_edge_in_utc_is_kept_as_unknown(world: World,
                                                                    stamp: str) -> None:
    """Python holds no UTC time for these (astimezone raised OverflowError: a 500, and
    SNS's retries all failed the same way)."""
    record = ses_record("Delivery", "ann@example.org", {"timestamp": stamp})
    record["mail"]["timestamp"] = stamp
    message_id = f"edge-{stamp}"
    answer = post(world, world.signer.sign(notification(record, message_id)))
    assert answer.status_code == 200 and answer.json()["new"] == 1
    with world.engine.connect() as conn:
        happened = conn.execute(select(db.events.c.happened_at).where(
            db.events.c.id == store_events.key(f"sns:{message_id}:ann@example.org"))).one()
    assert happened == (None,)


# -- a NUL in any text SES sends, on both databases ------------------------------------------

@pytest.fixture
def world_on(engine: Engine, project_dir: Path) -> Iterator[World]:
    """The webhook over each test database (``world`` is SQLite's alone, for the module)."""
    store.add(engine, "ann@example.org")
    host = SnsHost(project_dir)
    signer = Signer(host)
    with newsletter_serve(project_dir, engine, ec.generate_private_key(ec.SECP256R1()),
                          extra=host.environment()) as served:
        yield World(served, host, signer, engine)
    host.stop()


def _nul_records() -> dict[str, tuple[dict[str, Any], str]]:
    """SES records with a NUL in one text field each, beside an ordinary recipient: the
    record, and the SNS MessageId to post it under."""
    two = ["ann@example.org", "b\x00b@example.org"]  # PostgreSQL's text refuses the second
    bounce = {**BOUNCE, "bouncedRecipients": [
        BOUNCE["bouncedRecipients"][0],
        {"emailAddress": "cy@example.org", "diagnosticCode": "smtp; 550 no\x00 mailbox"}]}
    delivery = ses_record("Delivery", "ann@example.org")
    delivery["mail"]["destination"] = two
    click = ses_record("Click", "ann@example.org", {"link": "https://example.org/a\x00b",
                                                     "timestamp": "2024-07-23T05:00:09Z"})
    click["mail"]["destination"] = two
    return {"address": (delivery, "m-address"),
            "diagnostic code": (ses_record("Bounce", "ann@example.org", bounce), "m-code"),
            "link": (click, "m-link"),
            "issue tag": (ses_record("Delivery", "ann@example.org", issue="2024\x00"), "m-issue"),
            "SNS message id": (ses_record("Delivery", "ann@example.org"), "m-\x00-id")}


def test_a_nul_in_any_field_is_kept_as_u_fffd_beside_the_rest(world_on: World) -> None:
    expected = {"address": 2, "diagnostic code": 2, "link": 2, "issue tag": 1,
                "SNS message id": 1}
    for case, (record, message_id) in _nul_records().items():
        message = world_on.signer.sign(notification(record, message_id))
        for new in (expected[case], 0):  # and SNS's retry, with the same id
            answer = post(world_on, message)
            assert answer.status_code == 200, (case, answer.text)
            assert answer.json() == {"received": expected[case], "new": new, "refused": 0}
    with world_on.engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(db.events.select())]
    assert len(rows) == sum(expected.values())
    values = [str(value) for row in rows for value in row.values()]
    assert not any("\x00" in value for value in values)
    assert "https://example.org/a\ufffdb" in values and "2024\ufffd" in values
    assert any("550 no\ufffd mailbox" in value for value in values)
    assert store_events.key("sns:m-\ufffd-id:ann@example.org") in values
    assert store_events.key("sns:m-address:b\ufffdb@example.org") in values
    assert store.find(world_on.engine, "ann@example.org").status == "bounced"  # type: ignore[union-attr]
    assert "Traceback" not in world_on.served.log.read_text()


# -- what a stranger sends ------------------------------------------------------------------

def test_unsigned_and_wrongly_signed_posts_are_401(world: World) -> None:
    assert post(world, bounce()).status_code == 401  # no signature at all
    signed = world.signer.sign(bounce())
    tampered = {**signed, "Message": signed["Message"].replace("Permanent", "Transient")}
    assert post(world, tampered).status_code == 401
    other = Signer(world.host, name="other000000000000000000000000000")
    borrowed = {**other.sign(bounce()), "SigningCertURL": world.signer.url}
    assert post(world, borrowed).status_code == 401  # another key, our certificate
    for version in ("3", "", None):
        assert post(world, {**signed, "SignatureVersion": version}).status_code == 401
    assert post(world, {**signed, "Signature": "not base64!"}).status_code == 401


HOSTILE_URLS = [
    f"http://{SNS_HOST}/SimpleNotificationService-0123.pem",
    f"https://{SNS_HOST}.evil.com/SimpleNotificationService-0123.pem",
    f"https://evil.com/{SNS_HOST}/SimpleNotificationService-0123.pem",
    f"https://{SNS_HOST}@evil.com/SimpleNotificationService-0123.pem",
    f"https://evil.com@{SNS_HOST}/SimpleNotificationService-0123.pem",
    f"https://user:pass@{SNS_HOST}/SimpleNotificationService-0123.pem",
    f"https://{SNS_HOST}:443/SimpleNotificationService-0123.pem",
    f"https://{SNS_HOST}:8443/SimpleNotificationService-0123.pem",
    f"https://{SNS_HOST}./SimpleNotificationService-0123.pem",
    f"https://{SNS_HOST.upper()}/SimpleNotificationService-0123.pem",
    "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-0123.pem",
    "https://sns.amazonaws.com/SimpleNotificationService-0123.pem",
    "https://sns-us-east-1.amazonaws.com/SimpleNotificationService-0123.pem",
    "https://sns.us-east-1.amazonaws.com.cn/SimpleNotificationService-0123.pem",
    "https://sns.evil.amazonaws.com/SimpleNotificationService-0123.pem",
    "https://s3.amazonaws.com/sns.us-east-1.amazonaws.com/SimpleNotificationService-0.pem",
    "https://\u0455ns.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem",
    "https://xn--ns-dcb.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem",
    "https://54.239.1.1/SimpleNotificationService-0123.pem",
    "https://127.0.0.1/SimpleNotificationService-0123.pem",
    "https://2130706433/SimpleNotificationService-0123.pem",
    "https://[::1]/SimpleNotificationService-0123.pem",
    "https://[::ffff:127.0.0.1]/SimpleNotificationService-0123.pem",
    f"https://{SNS_HOST}\\@evil.com/SimpleNotificationService-0123.pem",
    f"https://{SNS_HOST}%2eevil.com/SimpleNotificationService-0123.pem",
    f"https://{SNS_HOST}\t/SimpleNotificationService-0123.pem",
    f" https://{SNS_HOST}/SimpleNotificationService-0123.pem",
    f"//{SNS_HOST}/SimpleNotificationService-0123.pem",
    f"ftp://{SNS_HOST}/SimpleNotificationService-0123.pem",
    f"https://{SNS_HOST}/SimpleNotificationService-0123.pem?x=1",
    f"https://{SNS_HOST}/SimpleNotificationService-0123.pem#x",
    f"https://{SNS_HOST}/other.pem",
    f"https://{SNS_HOST}/SimpleNotificationService-0123.pem/../../x.pem",
    f"https://{SNS_HOST}/%53impleNotificationService-0123.pem",
    "", None, 42,
]


@pytest.mark.parametrize("url", HOSTILE_URLS, ids=range(len(HOSTILE_URLS)))
def test_a_certificate_anywhere_but_snss_host_is_never_fetched(world: World,
                                                               url: object) -> None:
    before = len(world.host.fetched)
    message = {**world.signer.sign(bounce()), "SigningCertURL": url}
    answer = post(world, message)
    assert answer.status_code == 401 and answer.headers["connection"] == "close"
    assert len(world.host.fetched) == before


def test_stale_future_and_malformed_timestamps_are_400(world: World) -> None:
    for stamp in (now_stamp(-dt.timedelta(hours=1, minutes=1)),
                  now_stamp(dt.timedelta(minutes=10)), "yesterday", "2024-07-23T05:00:00",
                  "9" * 50):
        answer = post(world, world.signer.sign(bounce(Timestamp=stamp)))
        assert answer.status_code == 400, stamp


def test_another_topic_is_403_by_its_header_or_its_body(world: World) -> None:
    other = "arn:aws:sns:us-east-1:123456789012:someone-elses"
    assert post(world, world.signer.sign(bounce()),
                **{"x-amz-sns-topic-arn": other}).status_code == 403
    signed = world.signer.sign({**bounce(), "TopicArn": other})
    assert post(world, signed, **{"x-amz-sns-topic-arn": other}).status_code == 403
    assert httpx.post(world.served.url + "/webhooks/ses", content=json.dumps(signed),
                      timeout=30).status_code == 403


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe{}", b"[]", b'"text"', b"{}",
                                  b'{"Type": "Gossip"}', b"[" * 100_000])
def test_bodies_that_are_not_sns_messages_are_400(world: World, body: bytes) -> None:
    assert post(world, body).status_code == 400


def test_a_body_past_two_mib_is_413(world: World) -> None:
    answer = post(world, b"{" + b" " * (3 * 1024 * 1024) + b"}")
    assert answer.status_code == 413


def test_an_expired_certificate_is_401(world: World) -> None:
    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    expired = Signer(world.host, name="expired000000000000000000000000",
                     valid=(then, then + dt.timedelta(days=30)))
    assert post(world, expired.sign(bounce())).status_code == 401


def test_a_certificate_too_large_or_missing_is_401(world: World) -> None:
    large = Signer(world.host, name="large0000000000000000000000000000")
    world.host.script[large.path] = HostAnswer(body=b"A" * 200_000)
    assert post(world, large.sign(bounce())).status_code == 401
    missing = {**world.signer.sign(bounce()), "SigningCertURL":
               f"https://{SNS_HOST}/SimpleNotificationService-nowhere.pem"}
    assert post(world, missing).status_code == 401


def test_a_slow_certificate_gives_503_at_the_deadline_and_the_service_keeps_answering(
        world: World) -> None:
    slow = Signer(world.host, name="slow00000000000000000000000000000")
    world.host.script[slow.path] = HostAnswer(body=b"x" * 1000, trickle=0.2)
    answers: list[httpx.Response] = []
    started = time.monotonic()
    thread = threading.Thread(target=lambda: answers.append(post(world, slow.sign(bounce()))))
    thread.start()
    time.sleep(0.5)  # the fetch is under way
    for _ in range(5):  # the event loop is not held by the fetch
        began = time.monotonic()
        assert httpx.get(world.served.url + "/health", timeout=5).status_code == 200
        assert time.monotonic() - began < 1.0
    thread.join(30)
    assert answers[0].status_code == 503  # SNS retries a 5xx: the certificate may come
    assert 4.5 < time.monotonic() - started < 9


# -- the webhook's settings, and its cache ----------------------------------------------------

@pytest.mark.parametrize(("variables", "error"), [
    ({"SES_SNS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012"}, "^SES_SNS_TOPIC_ARN: not"),
    ({"SES_SNS_TOPIC_ARN": TOPIC_ARN, "SES_SNS_CA_FILE": "/nowhere.pem"},
     "^SES_SNS_CA_FILE: no such file$"),
    ({"SES_SNS_TOPIC_ARN": TOPIC_ARN, "SES_SNS_CONNECT_TO": "localhost"},
     "^SES_SNS_CONNECT_TO must be HOST:PORT$"),
])
def test_a_webhook_set_up_wrong_stops_the_service(engine: Engine, project_dir: Path,
                                                  variables: dict[str, str],
                                                  error: str) -> None:
    from newsletter.errors import ConfigError
    from newsletter.web.app import create_app
    from tests.web.conftest import service_env

    with pytest.raises(ConfigError, match=error):
        create_app(project_dir / "newsletter.yaml", service_env(engine, **variables))


def test_the_certificate_cache_keeps_the_last_few(tmp_path: Path) -> None:
    from newsletter.delivery.providers.ses import sns

    host = SnsHost(tmp_path)
    try:
        signers = [Signer(host, name=f"cache{n}" + "0" * 27) for n in range(3)]
        fetcher = sns.Fetcher(str(host.ca_file), ("127.0.0.1", host.server.server.server_address[1]))
        kept = sns.Certificates(fetcher, size=2)
        now = dt.datetime.now(dt.UTC)
        for signer in [*signers, signers[2], signers[0]]:
            kept.key(SNS_HOST, signer.path, now)
        # 0, 1, 2 fetched; 2 kept; 0 had gone (only two are kept) and is fetched again.
        assert [p.split("-")[1][:6] for p in host.fetched] == \
            ["cache0", "cache1", "cache2", "cache0"]
        assert len(kept.kept) == 2
    finally:
        host.stop()
