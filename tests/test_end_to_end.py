"""A send, a webhook's events and a suppression sync, end to end, through each provider
with a webhook and suppression lists: SendGrid (the strict local SendGrid) and Amazon
SES (moto's server, behind the strict front of tests/fakes/ses_server.py). The tests are
the same; each provider's "road" only speaks its own wire: where the messages are read
back, how events are posted and signed, where suppressed addresses are put.

For SES the events travel as they would from AWS: the test publishes each SES event
record to moto's SNS topic, moto posts the signed notification to the service's
/webhooks/ses, and the webhook fetches moto's signing certificate from "SNS's host"
(tests/fakes/ses_server.py's SnsHost, with the test's CA). The records themselves are
written from the SES developer guide's examples, with the message id and tags of the
message the transport sent (moto's SES publishes no configuration-set events).
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Protocol

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine

from newsletter.email.render import GREETING_TOKEN, MANAGE_TOKEN, UNSUBSCRIBE_TOKEN
from newsletter.project import Project
from newsletter.store import events as store_events
from newsletter.store import subscribers as store
from newsletter.web.app import create_app
from tests.conftest import with_ses_block
from tests.fakes.sendgrid_server import API_KEY, FakeSendGrid
from tests.fakes.ses_server import TOPIC_ARN, FakeSes, SnsHost, Suppressed, ses_record
from tests.helpers import add_subscribers, run, run_send
from tests.web.server import SECRET, serving

ISSUE = "2024-07-23"
GREETING = "Good morning, {name}."
PLAIN_GREETING = "Good morning, reader."
SERVICE_URL = "https://readers.bigmedia.example"


@dataclass(frozen=True)
class Letter:
    """What one reader got, as the provider delivers it."""

    to: str
    text: str  # the text edition, every token filled
    list_unsubscribe: str
    one_click: str


class Road(Protocol):
    name: str

    def variables(self) -> dict[str, str]: ...

    def letters(self) -> list[Letter]: ...

    def post(self, url: str, said: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Each (event, address, details) to the service, as the provider posts them."""

    def replay(self, url: str) -> None:
        """Every post made so far, again (the provider retries)."""

    def suppress(self, address: str, why: str, at: int) -> None:
        """Put ``address`` on the provider's list of ``why`` (bounce or complaint)."""

    def list_name(self, why: str) -> str: ...


# -- SendGrid's road ------------------------------------------------------------------------

@dataclass
class SendGridRoad:
    fake: FakeSendGrid
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(
        ec.SECP256R1()))
    posted: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    name: str = "sendgrid"

    def variables(self) -> dict[str, str]:
        public = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return {"SENDGRID_API_KEY": API_KEY, "SENDGRID_HOST": self.fake.url,
                "SENDGRID_WEBHOOK_PUBLIC_KEY": base64.b64encode(public).decode()}

    def letters(self) -> list[Letter]:
        found = []
        for body in self.fake.accepted:
            text = body["content"][0]["value"]
            for person in body["personalizations"]:
                filled = text
                for token, value in person.get("substitutions", {}).items():
                    filled = filled.replace(token, value)  # what SendGrid does
                found.append(Letter(person["to"][0]["email"], filled,
                                    person["headers"]["List-Unsubscribe"],
                                    body["headers"]["List-Unsubscribe-Post"]))
        return found

    WORDS: ClassVar[dict[str, dict[str, str]]] = {"delivered": {"event": "delivered", "response": "250 OK"},
             "bounced": {"event": "bounce", "type": "bounce", "reason": "550 5.1.1 unknown"},
             "complained": {"event": "spamreport"}, "opened": {"event": "open"},
             "clicked": {"event": "click"},
             "deferred": {"event": "deferred", "response": "421 try later"}}

    def post(self, url: str, said: list[tuple[str, str, dict[str, Any]]]) -> None:
        items = [{"email": address, "timestamp": int(time.time()), "sg_event_id": f"e{n}",
                  "sg_message_id": "m.1", "issue": ISSUE, **self.WORDS[kind], **details}
                 for n, (kind, address, details) in enumerate(said)]
        body = json.dumps(items).encode()
        stamp = str(int(time.time()))
        signature = self.key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        headers = {"X-Twilio-Email-Event-Webhook-Signature":
                   base64.b64encode(signature).decode(),
                   "X-Twilio-Email-Event-Webhook-Timestamp": stamp}
        self.posted.append((headers, body))
        self._post(url, headers, body)

    def replay(self, url: str) -> None:
        for headers, body in list(self.posted):
            self._post(url, headers, body)

    @staticmethod
    def _post(url: str, headers: dict[str, str], body: bytes) -> None:
        answer = httpx.post(url + "/webhooks/sendgrid", content=body, headers=headers)
        assert answer.status_code == 200, answer.text

    def suppress(self, address: str, why: str, at: int) -> None:
        self.fake.suppressions.setdefault(self.list_name(why).split(":")[1], []).append(
            {"created": at, "email": address, "reason": "550 5.1.1", "status": "5.1.1"})

    def list_name(self, why: str) -> str:
        return {"bounce": "sendgrid:bounces", "complaint": "sendgrid:spam_reports"}[why]


# -- SES's road -----------------------------------------------------------------------------

class Recorder:
    """A second endpoint on the topic, keeping what SNS posts (to post it again)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                recorder.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"


@dataclass
class SesRoad:
    fake: FakeSes
    host: SnsHost
    name: str = "ses"
    subscribed: str = ""

    def __post_init__(self) -> None:
        self.sns = self.fake.client("sns", direct=True)
        assert self.sns.create_topic(Name="ses-events")["TopicArn"] == TOPIC_ARN
        self.host.moto_port = self.fake.moto_port
        self.recorder = Recorder()
        self.sns.subscribe(TopicArn=TOPIC_ARN, Protocol="http", Endpoint=self.recorder.url)

    def variables(self) -> dict[str, str]:
        return {**self.fake.environment(), **self.host.environment()}

    def letters(self) -> list[Letter]:
        found = []
        for sent in self.fake.delivered():
            message = email.message_from_string(sent["raw_data"], policy=email.policy.default)
            text = message.get_body(("plain",))
            assert text is not None
            found.append(Letter(str(message["To"].addresses[0].addr_spec), text.get_content(),
                                str(message["List-Unsubscribe"]),
                                str(message["List-Unsubscribe-Post"])))
        return found

    PARTS: ClassVar[dict[str, tuple[str, Callable[[str], dict[str, Any]]]]] = {
        "delivered": ("Delivery", lambda a: {"timestamp": "2024-07-23T05:00:03.000Z",
                                             "processingTimeMillis": 546, "recipients": [a],
                                             "smtpResponse": "250 ok", "reportingMTA":
                                             "a8-70.smtp-out.amazonses.com"}),
        "bounced": ("Bounce", lambda a: {"bounceType": "Permanent", "bounceSubType": "General",
                                         "bouncedRecipients": [{
                                             "emailAddress": a, "action": "failed",
                                             "status": "5.1.1",
                                             "diagnosticCode": "smtp; 550 5.1.1 unknown"}],
                                         "timestamp": "2024-07-23T05:00:04.000Z",
                                         "feedbackId": "0100-feedback"}),
        "complained": ("Complaint", lambda a: {"complainedRecipients": [{"emailAddress": a}],
                                               "complaintFeedbackType": "abuse",
                                               "timestamp": "2024-07-23T07:00:00.000Z",
                                               "feedbackId": "0100-complaint"}),
        "opened": ("Open", lambda a: {"ipAddress": "192.0.2.1", "userAgent": "Mozilla/5.0",
                                      "timestamp": "2024-07-23T06:00:00.000Z"}),
        "clicked": ("Click", lambda a: {"ipAddress": "192.0.2.1", "userAgent": "Mozilla/5.0",
                                        "timestamp": "2024-07-23T06:01:00.000Z", "linkTags": {}}),
        "deferred": ("DeliveryDelay", lambda a: {
            "delayType": "TransientCommunicationFailure", "reportingMTA": "dsn; a8-70",
            "delayedRecipients": [{"emailAddress": a, "status": "4.4.1",
                                   "diagnosticCode": "smtp; 421 try later"}],
            "timestamp": "2024-07-23T05:10:00.000Z",
            "expirationTime": "2024-07-24T05:00:00.000Z"}),
    }

    def post(self, url: str, said: list[tuple[str, str, dict[str, Any]]]) -> None:
        if not self.subscribed:
            self.sns.subscribe(TopicArn=TOPIC_ARN, Protocol="http",
                               Endpoint=url + "/webhooks/ses")
            self.subscribed = url
        for kind, address, details in said:
            event_type, part = self.PARTS[kind]
            extra = {"link": details["url"]} if "url" in details else {}
            sent = self._request_to(address)
            tags = {tag["Name"]: tag["Value"] for tag in sent["EmailTags"]}
            record = ses_record(event_type, address, {**part(address), **extra},
                                issue=tags["issue"], subscriber=tags["subscriber"])
            self.sns.publish(TopicArn=TOPIC_ARN, Message=json.dumps(record))

    def _request_to(self, address: str) -> dict[str, Any]:
        """The SendEmail the transport made for ``address`` (its tags link the events)."""
        return next(r for r in self.fake.sends
                    if r["Destination"]["ToAddresses"] == [address])

    def replay(self, url: str) -> None:
        for body in list(self.recorder.bodies):
            answer = httpx.post(url + "/webhooks/ses", content=body,
                                headers={"Content-Type": "text/plain; charset=UTF-8"})
            assert answer.status_code == 200, answer.text

    def suppress(self, address: str, why: str, at: int) -> None:
        self.fake.suppressed.append(Suppressed(address, why.upper(), float(at)))

    def list_name(self, why: str) -> str:
        return {"bounce": "ses:bounces", "complaint": "ses:complaints"}[why]


@pytest.fixture(params=["sendgrid", "ses"])
def road(request: pytest.FixtureRequest, project_dir: Path, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Road]:
    with_ses_block(project_dir, f'  greeting: "{GREETING}"\n'
                                f'  greeting_without_name: "{PLAIN_GREETING}"\n'
                                f"readers:\n  service_url: {SERVICE_URL}\n")
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    if request.param == "sendgrid":
        with FakeSendGrid() as fake:
            chosen: Road = SendGridRoad(fake)
            _set(monkeypatch, chosen.variables())
            yield chosen
        return
    host = SnsHost(tmp_path)
    with FakeSes() as ses:
        chosen = SesRoad(ses, host)
        _set(monkeypatch, chosen.variables())
        yield chosen
    host.stop()


def _set(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def test_each_reader_gets_their_own_message_once(road: Road, engine: Engine,
                                                 project_dir: Path) -> None:
    everyone = add_subscribers(engine, 7)  # readers 1, 2, 4, 5 have names
    report = run_send(engine, Project(project_dir / "newsletter.yaml"), road.name)
    assert (report.sent, report.failed, report.counts["sent"]) == (7, 0, 7)
    letters = road.letters()
    assert sorted(letter.to for letter in letters) == sorted(everyone)  # each once
    for letter in letters:
        reader = store.find(engine, letter.to)
        assert reader is not None
        url = next(word for word in letter.text.split() if "/unsubscribe?t=" in word)
        token = url.split("t=", 1)[1]
        owner = store.find_by_link(engine, SECRET.encode(), token)
        assert owner is not None and owner.id == reader.id  # their own link, no one else's
        assert letter.list_unsubscribe.startswith(f"<{url}>")
        assert letter.one_click == "List-Unsubscribe=One-Click"
        greeting = GREETING.replace("{name}", reader.name) if reader.name else PLAIN_GREETING
        assert greeting in letter.text
        assert UNSUBSCRIBE_TOKEN not in letter.text and MANAGE_TOKEN not in letter.text
        assert GREETING_TOKEN not in letter.text
    again = run_send(engine, Project(project_dir / "newsletter.yaml"), road.name)
    assert again.already_done and len(road.letters()) == 7


def test_the_providers_events_change_readers_and_are_counted_once(
        road: Road, engine: Engine, project_dir: Path) -> None:
    everyone = add_subscribers(engine, 7)
    run_send(engine, Project(project_dir / "newsletter.yaml"), road.name)
    webhook_only = {k: v for k, v in road.variables().items()
                    if "WEBHOOK" in k or "_SNS_" in k}
    app = create_app(project_dir / "newsletter.yaml", _service_env(engine, webhook_only))
    said = [("delivered", everyone[0], {}), ("bounced", everyone[1], {}),
            ("complained", everyone[2], {}), ("opened", everyone[3], {}),
            ("clicked", everyone[4], {"url": "https://example.org/story"}),
            ("deferred", everyone[5], {})]
    with serving(app) as url:
        road.post(url, said)
        road.replay(url)  # the provider posts them all again: nothing changes
    assert store_events.counts(engine, ISSUE) == {
        "delivered": 1, "bounced": 1, "complained": 1, "opened": 1, "clicked": 1,
        "deferred": 1}
    statuses = {s.email: s.status for s in store.listing(engine)}
    assert statuses == {**dict.fromkeys(everyone, "active"), everyone[1]: "bounced",
                        everyone[2]: "complained"}


LEAD = "https://www.aljazeera.com/news/2024/6/20/putin-says-russia-may-supply-weapons-to-north-korea"
WRAP = "https://www.bbc.com/news/articles/harris-nomination-challengers"


def test_the_figures_the_provider_reports_come_out_of_stats_report_and_health(
        road: Road, engine: Engine, project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    everyone = add_subscribers(engine, 10)
    run_send(engine, Project(project_dir / "newsletter.yaml"), road.name)
    said = [*[("delivered", a, {}) for a in everyone[:8]], ("bounced", everyone[8], {}),
            ("complained", everyone[9], {}), ("opened", everyone[0], {}),
            ("opened", everyone[1], {}), ("clicked", everyone[0], {"url": LEAD}),
            ("clicked", everyone[1], {"url": LEAD + "?utm_source=newsletter"}),
            ("clicked", everyone[2], {"url": WRAP})]
    app = create_app(project_dir / "newsletter.yaml", _service_env(engine, {
        k: v for k, v in road.variables().items() if "WEBHOOK" in k or "_SNS_" in k}))
    with serving(app) as url:
        road.post(url, said)
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))

    code, out = run("stats", ISSUE, "--json")
    assert code == 0, out
    found = json.loads(out)
    assert found["sent"] == 10
    figures = {kind: (v["count"], v["rate"]) for kind, v in found["events"].items()
               if v["count"]}
    assert figures == {"delivered": (8, 0.8), "bounced": (1, 0.1), "complained": (1, 0.1),
                       "opened": (2, 0.2), "clicked": (3, 0.3)}
    assert found["events"]["bounced"]["by_detail"] == {"hard": 1}
    assert [s["clicks"] for s in found["stories"] if s["clicks"]] == [2, 1]
    assert "@" not in out

    code, out = run("stats", "--days", "3660", "--json")
    assert code == 0, out
    [line] = [i for i in json.loads(out)["issues"] if i["issue"] == ISSUE]
    assert line["sent"] == 10 and line["events"] == found["events"]

    code, out = run("health", "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert (checks["complaints"]["count"], checks["complaints"]["sent"]) == (1, 10)
    assert (checks["hard bounces"]["count"], checks["hard bounces"]["sent"]) == (1, 10)

    code, out = run("report", "--out", str(project_dir / "report"))
    assert code == 0, out
    page = (project_dir / "report" / "index.html").read_text()
    assert ISSUE in page and "@example.org" not in page


def test_readers_who_leave_through_the_issues_own_links_are_counted_under_it(
        road: Road, engine: Engine, project_dir: Path) -> None:
    # No provider event says so (the link is ours): the issue's figures learn it from
    # the link, once a reader, whichever way they leave.
    everyone = add_subscribers(engine, 4)
    run_send(engine, Project(project_dir / "newsletter.yaml"), road.name)
    links = {letter.to: next(word for word in letter.text.split() if "/unsubscribe?t=" in word)
             for letter in road.letters()}
    app = create_app(project_dir / "newsletter.yaml", _service_env(engine, {}))
    with serving(app) as url:
        def local(link: str) -> str:
            return url.rstrip("/") + link.removeprefix(SERVICE_URL)

        for _ in range(2):  # the mailbox's one click, repeated: one reader, one count
            assert httpx.post(local(links[everyone[0]]),
                              data={"List-Unsubscribe": "One-Click"}).status_code == 200
        page = local(links[everyone[1]])
        assert httpx.get(page).status_code == 200  # looking changes nothing
        assert httpx.post(page, data={}).status_code == 200  # the page's button
        assert httpx.post(page, data={}).status_code == 200  # again: already left
        httpx.get(local(links[everyone[2]]))  # looked, stayed
    assert store_events.counts(engine, ISSUE) == {"unsubscribed": 2}
    statuses = {s.email: s.status for s in store.listing(engine)}
    assert [statuses[a] for a in everyone] == ["unsubscribed", "unsubscribed", "active",
                                               "active"]


def _service_env(engine: Engine, variables: dict[str, str]):  # type: ignore[no-untyped-def]
    from tests.web.conftest import service_env

    return service_env(engine, **variables)


def test_the_suppression_lists_are_synced_page_by_page(
        road: Road, engine: Engine, project_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    everyone = add_subscribers(engine, 1120)
    past = int(time.time()) - 3600
    for address in everyone[:1100]:  # more than one page, on both providers
        road.suppress(address, "bounce", past)
    for address in everyone[1100:1110]:
        road.suppress(address, "complaint", past)
    road.suppress("stranger@example.org", "bounce", past)  # not a reader: nothing to mark
    code, out = run("suppressions", "sync")
    assert code == 0, out
    bounces = road.list_name("bounce")
    assert line(bounces, 1101, 1100) in out and line(road.list_name("complaint"), 10, 10) in out
    statuses = [s.status for s in store.listing(engine)]
    assert (statuses.count("bounced"), statuses.count("complained"),
            statuses.count("active")) == (1100, 10, 10)

    time.sleep(1.1)  # the next sync asks only for what came after the last
    road.suppress(everyone[1115], "bounce", int(time.time()))
    code, out = run("suppressions", "sync")
    assert code == 0 and line(bounces, 1, 1) in out, out
    assert store.find(engine, everyone[1115]).status == "bounced"  # type: ignore[union-attr]


def line(source: str, read: int, marked: int) -> str:
    """A line of `suppressions sync`, as the command prints it."""
    return f"{source:28} {read:>8,} read {marked:>8,} marked"
