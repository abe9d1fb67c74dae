"""Amazon SES and SNS for the tests: moto's server for what moto implements, behind a
strict front of ours for what it does not.

moto 5 (``ThreadedMotoServer``, started here on a free port) implements SES v2's
SendEmail with raw content (it checks the sender's identity and keeps every message,
read back from ``/moto-api/data.json``), and SNS: topics, HTTP subscriptions, and
notifications signed with a certificate it serves. It lacks ListSuppressedDestinations
(its server answers 404), takes any ConfigurationSetName and any EmailTags, and never
answers throttling, an error of its own, or nothing.

:class:`FakeSes` is what boto3 is pointed at (``SES_ENDPOINT_URL``). It checks each
SendEmail as SES documents it (a configuration set that exists in moto, tags by SES's
rule, one recipient, raw content), answers what the test scripts, and passes the request
to moto; it serves ListSuppressedDestinations itself, from the test's list, in the shape
of SES's API reference (reasons, time window, pages of at most 1,000, tokens it issued);
it serves BatchGetMetricData (``stats sync``), which moto 5 lacks as well (its server
answers 404; test_stats_sync.py checks that it still does), checking each request against
the operation's input shape in botocore's own model of SES v2 (required members, enums,
lengths, no unknown member) and that the configuration set exists in moto, and answering
from the sends it passed on (SEND, on the day it passed them) and the counts a test adds
(:meth:`FakeSes.count`), day by day between StartDate and EndDate; everything else goes
to moto as it came.

:class:`SnsHost` speaks HTTPS as ``sns.us-east-1.amazonaws.com``, with a certificate for
that name from the test's own CA (trustme): the webhook is pointed at it with
``SES_SNS_CONNECT_TO`` and trusts the CA through ``SES_SNS_CA_FILE``. It serves the
test's own signing certificates and moto's, takes subscription confirmations, and can
answer slowly, hugely or not found. :class:`Signer` signs SNS messages with a key of the
test's own, as AWS documents the signature (written here from AWS's description, not
from the code under test).
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import logging
import ssl
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

REGION = "us-east-1"
ACCOUNT = "123456789012"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:ses-events"
SNS_HOST = f"sns.{REGION}.amazonaws.com"
CONFIGURATION_SET = "newsletter"
KEY_ID, SECRET_KEY = "AKIDTESTONLY0000", "test-secret-key-never-shown"
_TAG = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_LIST_QUERY = {"Reason", "StartDate", "EndDate", "NextToken", "PageSize", "TenantName"}


@dataclass
class Answer:
    """What the front answers a SendEmail instead of passing it on."""

    status: int = 200
    code: str = ""
    message: str = ""
    drop: bool = False  # close the connection without an answer
    delay: float = 0.0  # then answer as scripted (or pass it on)


@dataclass
class Suppressed:
    address: str
    reason: str  # BOUNCE or COMPLAINT
    at: float  # LastUpdateTime, Unix seconds


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"x-amzn-ErrorType": code, "Content-Type": "application/json"}, \
        json.dumps({"message": message}).encode()


class _Server:
    """A threading HTTP(S) server on a free loopback port, with a handler's methods."""

    def __init__(self, handler: type[BaseHTTPRequestHandler],
                 context: ssl.SSLContext | None = None) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding",
                                    "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def drop(self) -> None:
        self.close_connection = True
        self.connection.close()


def forward(port: int, method: str, path: str, headers: dict[str, str], body: bytes
            ) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


class FakeSes:
    """moto's server, and the strict front that boto3 talks to."""

    def __init__(self) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.script: deque[Answer] = deque()
        self.sends: list[dict[str, Any]] = []  # every SendEmail the front passed on
        self.refused: list[str] = []  # what the front refused, and why
        self.attempts = 0
        self.suppressed: list[Suppressed] = []
        self.odd_listing: bytes | None = None  # answered as it is to a listing
        self.listings: list[dict[str, list[str]]] = []  # every listing's query
        self.tokens: dict[str, int] = {}  # page tokens issued -> the offset they stand for
        self.lock = threading.Lock()
        self.front: _Server | None = None
        # BatchGetMetricData: (configuration set, metric, YYYY-MM-DD) -> count; an
        # answer given instead (status, code, message); every request's queries.
        self.metrics: dict[tuple[str, str, str], int] = {}
        self.metrics_answer: tuple[int, str, str] | None = None
        self.metric_queries: list[list[dict[str, Any]]] = []
        self.query_errors: list[dict[str, str]] = []  # answered in Errors, beside Results

    def __enter__(self) -> FakeSes:
        self.moto.start()
        self.moto_port = self.moto.get_host_and_port()[1]
        # moto's backends live in the process, not the server: start from nothing.
        forward(self.moto_port, "POST", "/moto-api/reset", {}, b"")
        self.front = _Server(self._handler())
        ses = self.client("sesv2", direct=True)
        ses.create_email_identity(EmailIdentity="brief@bigmedia.example")
        ses.create_configuration_set(ConfigurationSetName=CONFIGURATION_SET)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.front is not None
        self.front.stop()
        self.moto.stop()

    @property
    def url(self) -> str:
        assert self.front is not None
        return f"http://127.0.0.1:{self.front.port}"

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    def environment(self) -> dict[str, str]:
        return {"SES_REGION": REGION, "SES_ENDPOINT_URL": self.url,
                "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}

    def client(self, service: str, direct: bool = False) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.moto_url if direct else self.url,
                            region_name=REGION, aws_access_key_id=KEY_ID,
                            aws_secret_access_key=SECRET_KEY)

    def then(self, *answers: Answer) -> FakeSes:
        self.script.extend(answers)
        return self

    def delivered(self) -> list[dict[str, Any]]:
        """Every message moto kept: ``destinations``, ``raw_data``, ``source``, ``id``."""
        _, _, body = forward(self.moto_port, "GET", "/moto-api/data.json", {}, b"")
        return list(json.loads(body)["ses"]["RawMessage"])

    def count(self, configuration_set: str, day: str, **metrics: int) -> None:
        """Add what SES would have counted (``DELIVERY=3``) for the set on ``day``."""
        with self.lock:
            for metric, n in metrics.items():
                key = (configuration_set, metric, day)
                self.metrics[key] = self.metrics.get(key, 0) + n

    def metric_data(self, raw: bytes, headers: Any) -> tuple[int, dict[str, str], bytes]:
        """BatchGetMetricData, checked against botocore's model of the operation."""
        if self.metrics_answer is not None:
            return _error(*self.metrics_answer)
        request = json.loads(raw or b"{}")
        problems = _shape_problems(_metric_input(), request, "")
        if not str(headers.get("Authorization", "")).startswith(
                f"AWS4-HMAC-SHA256 Credential={KEY_ID}/"):
            problems.append("not signed with the test's key")
        for query in request.get("Queries", []) if not problems else []:
            start, end = query["StartDate"], query["EndDate"]
            if not start < end:
                problems.append(f"{query['Id']}: StartDate is not before EndDate")
            name = query.get("Dimensions", {}).get("CONFIGURATION_SET")
            if name and not self._set_exists(name):
                problems.append(f"configuration set {name} does not exist")
        if problems:
            return _error(400, "BadRequestException", "; ".join(problems))
        with self.lock:
            self.metric_queries.append(request["Queries"])
        reply = {"Results": [self._result(q) for q in request["Queries"]],
                 "Errors": self.query_errors}
        return 200, {"Content-Type": "application/json"}, json.dumps(reply).encode()

    def _result(self, query: dict[str, Any]) -> dict[str, Any]:
        chosen = query.get("Dimensions", {}).get("CONFIGURATION_SET")
        day = dt.datetime.fromtimestamp(query["StartDate"], dt.UTC).date()
        end = dt.datetime.fromtimestamp(query["EndDate"], dt.UTC).date()
        stamps, values = [], []
        while day < end:
            stamps.append(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())
            values.append(sum(n for (name, metric, on), n in self.metrics.items()
                              if metric == query["Metric"] and on == day.isoformat()
                              and chosen in (None, name)))
            day += dt.timedelta(days=1)
        return {"Id": query["Id"], "Timestamps": stamps, "Values": values}

    # -- the front -----------------------------------------------------------------------

    def send_problems(self, request: dict[str, Any], headers: Any) -> list[str]:
        found = []
        if not str(headers.get("Authorization", "")).startswith("AWS4-HMAC-SHA256 "
                                                                f"Credential={KEY_ID}/"):
            found.append("not signed with the test's key")
        name = request.get("ConfigurationSetName")
        if name is None:
            found.append("no ConfigurationSetName")
        elif not self._set_exists(name):
            found.append(f"configuration set {name} does not exist")
        for tag in request.get("EmailTags", []):
            for part in (tag.get("Name", ""), tag.get("Value", "")):
                if not part or len(part) > 256 or not set(part) <= _TAG:
                    found.append(f"tag {tag!r} breaks SES's rule for tags")
        destination = request.get("Destination", {})
        if list(destination) != ["ToAddresses"] or len(destination["ToAddresses"]) != 1:
            found.append("not exactly one recipient")
        raw = request.get("Content", {}).get("Raw", {}).get("Data")
        if not isinstance(raw, str) or not base64.b64decode(raw, validate=True):
            found.append("no raw content")
        return found

    def _set_exists(self, name: str) -> bool:
        status, _, _ = forward(self.moto_port, "GET", f"/v2/email/configuration-sets/{name}",
                               {"Authorization": f"AWS4-HMAC-SHA256 Credential={KEY_ID}/"
                                f"20240723/{REGION}/ses/aws4_request, SignedHeaders=host, "
                                "Signature=0"}, b"")
        return status == 200

    def listing(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        """ListSuppressedDestinations, as SES's API reference describes it."""
        with self.lock:
            self.listings.append(query)
        if self.odd_listing is not None:
            return 200, {"Content-Type": "application/json"}, self.odd_listing
        if not set(query) <= _LIST_QUERY or any(len(v) != 1 for k, v in query.items()
                                                 if k != "Reason"):
            return _error(400, "BadRequestException", f"unknown parameters {sorted(query)}")
        reasons = query.get("Reason", ["BOUNCE", "COMPLAINT"])
        size = int(query.get("PageSize", ["1000"])[0])
        if not set(reasons) <= {"BOUNCE", "COMPLAINT"} or not 1 <= size <= 1000:
            return _error(400, "BadRequestException", "bad Reason or PageSize")
        start, end = (dt.datetime.fromisoformat(query[k][0]).timestamp() if k in query
                      else default for k, default in (("StartDate", 0.0), ("EndDate", 2e10)))
        offset = 0
        if "NextToken" in query:
            if query["NextToken"][0] not in self.tokens:
                return _error(400, "InvalidNextTokenException", "unknown token")
            offset = self.tokens[query["NextToken"][0]]
        chosen = [s for s in self.suppressed if s.reason in reasons and start <= s.at <= end]
        page = chosen[offset:offset + size]
        reply: dict[str, Any] = {"SuppressedDestinationSummaries": [
            {"EmailAddress": s.address, "Reason": s.reason, "LastUpdateTime": s.at}
            for s in page]}
        if offset + size < len(chosen):
            token = uuid.uuid4().hex
            self.tokens[token] = offset + size
            reply["NextToken"] = token
        return 200, {"Content-Type": "application/json"}, json.dumps(reply).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/v2/email/suppression/addresses":
                    return self.reply(*fake.listing(parse_qs(parts.query)))
                return self.reply(*forward(fake.moto_port, "GET", self.path,
                                           dict(self.headers), b""))

            def do_POST(self) -> None:
                raw = self.body()
                if self.path == "/v2/email/metrics/batch":
                    return self.reply(*fake.metric_data(raw, self.headers))
                if self.path != "/v2/email/outbound-emails":
                    return self.reply(*forward(fake.moto_port, "POST", self.path,
                                               dict(self.headers), raw))
                with fake.lock:
                    fake.attempts += 1
                    answer = fake.script.popleft() if fake.script else None
                request = json.loads(raw)
                problems = fake.send_problems(request, self.headers)
                if problems:
                    fake.refused.append("; ".join(problems))
                    return self.reply(*_error(400, "BadRequestException", "; ".join(problems)))
                if answer is not None:
                    time.sleep(answer.delay)
                    if answer.drop:
                        return self.drop()
                    if answer.status != 200:
                        return self.reply(*_error(answer.status, answer.code, answer.message))
                status, headers, body = forward(fake.moto_port, "POST", self.path,
                                                dict(self.headers), raw)
                if status == 200:
                    fake.count(request["ConfigurationSetName"],
                               dt.datetime.now(dt.UTC).date().isoformat(), SEND=1)
                    with fake.lock:
                        fake.sends.append(request)
                self.reply(status, headers, body)

            do_PUT = do_POST
            do_DELETE = do_GET

        return Handler


def _metric_input() -> Any:
    import botocore.session

    model = botocore.session.get_session().get_service_model("sesv2")
    return model.operation_model("BatchGetMetricData").input_shape


def _shape_problems(shape: Any, value: Any, where: str) -> list[str]:
    """What in ``value`` breaks ``shape`` of botocore's model (the JSON on the wire)."""
    kind, found = shape.type_name, []
    bounds = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where or 'the body'}: not an object"]
        found += [f"{where}.{name}: unknown member" for name in value
                  if name not in shape.members]
        found += [f"{where}.{name}: required" for name in shape.required_members
                  if name not in value]
        for name, member in shape.members.items():
            if name in value:
                found += _shape_problems(member, value[name], f"{where}.{name}")
    elif kind == "list":
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        if not bounds.get("min", 0) <= len(value) <= bounds.get("max", 10**9):
            found.append(f"{where}: {len(value)} items, outside {bounds}")
        for n, item in enumerate(value):
            found += _shape_problems(shape.member, item, f"{where}[{n}]")
    elif kind == "map":
        if not isinstance(value, dict) or \
                not bounds.get("min", 0) <= len(value) <= bounds.get("max", 10**9):
            return [f"{where}: not a map within {bounds}"]
        for key, item in value.items():
            found += _shape_problems(shape.key, key, f"{where} key")
            found += _shape_problems(shape.value, item, f"{where}[{key}]")
    elif kind == "string":
        if not isinstance(value, str):
            return [f"{where}: not a string"]
        if shape.enum and value not in shape.enum:
            found.append(f"{where}: {value!r} is none of {shape.enum}")
        if not bounds.get("min", 0) <= len(value) <= bounds.get("max", 10**9):
            found.append(f"{where}: length outside {bounds}")
    elif kind == "timestamp" and (not isinstance(value, int | float) or
                                  isinstance(value, bool)):
        found.append(f"{where}: not a Unix time")
    return found


# -- SNS's host, and a signer ------------------------------------------------------------------

@dataclass
class HostAnswer:
    status: int = 200
    body: bytes | None = None
    trickle: float = 0.0  # seconds between bytes
    delay: float = 0.0  # before the answer


@dataclass
class SnsHost:
    """HTTPS as SNS's host, for the webhook's fetches."""

    folder: Path
    moto_port: int | None = None
    certificates: dict[str, bytes] = field(default_factory=dict)  # path -> PEM
    fetched: list[str] = field(default_factory=list)  # every path asked for, in order
    confirmed: list[dict[str, list[str]]] = field(default_factory=list)
    script: dict[str, HostAnswer] = field(default_factory=dict)  # path -> answer

    def __post_init__(self) -> None:
        self.ca = trustme.CA()
        self.ca_file = self.folder / "sns-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(SNS_HOST).configure_cert(context)
        self.lock = threading.Lock()
        self.server = _Server(self._handler(), context)

    def environment(self) -> dict[str, str]:
        return {"SES_SNS_TOPIC_ARN": TOPIC_ARN, "SES_SNS_CA_FILE": str(self.ca_file),
                "SES_SNS_CONNECT_TO": f"127.0.0.1:{self.server.port}"}

    def stop(self) -> None:
        self.server.stop()

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path)
        if parts.path == "/" and parse_qs(parts.query).get("Action") == ["ConfirmSubscription"]:
            with self.lock:
                self.confirmed.append(parse_qs(parts.query))
            return 200, {"Content-Type": "text/xml"}, (
                b"<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>"
                + TOPIC_ARN.encode() + b":1</SubscriptionArn></ConfirmSubscriptionResult>"
                b"</ConfirmSubscriptionResponse>")
        if parts.path in self.certificates:
            return 200, {"Content-Type": "application/x-pem-file"}, \
                self.certificates[parts.path]
        if self.moto_port is not None and parts.path.endswith(".pem"):
            # moto serves its certificates to a request it takes for SNS's: it picks the
            # service by the credential scope of the Authorization header.
            scope = f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20240723/{REGION}/sns/aws4_request"
            return forward(self.moto_port, "GET", parts.path, {"Authorization": scope}, b"")
        return 404, {}, b"no such certificate"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        host = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                with host.lock:
                    host.fetched.append(self.path)
                scripted = host.script.get(urlsplit(self.path).path)
                if scripted is None:
                    return self.reply(*host.answer(self.path))
                time.sleep(scripted.delay)
                body = scripted.body if scripted.body is not None else b""
                if not scripted.trickle:
                    return self.reply(scripted.status, {}, body)
                self.send_response(scripted.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(scripted.trickle)
                except OSError:
                    pass  # the client gave up: what the test wants

        return Handler


class Signer:
    """Signs SNS messages with an RSA key of its own, whose certificate SnsHost serves."""

    def __init__(self, host: SnsHost, name: str = "0123456789abcdef0123456789abcdef",
                 valid: tuple[dt.datetime, dt.datetime] | None = None) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.UTC)
        start, end = valid or (now - dt.timedelta(days=1), now + dt.timedelta(days=365))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                       .public_key(self.key.public_key())
                       .serial_number(x509.random_serial_number())
                       .not_valid_before(start).not_valid_after(end)
                       .sign(self.key, hashes.SHA256()))
        self.path = f"/SimpleNotificationService-{name}.pem"
        self.url = f"https://{SNS_HOST}{self.path}"
        host.certificates[self.path] = certificate.public_bytes(serialization.Encoding.PEM)

    def sign(self, message: dict[str, Any], version: str = "2") -> dict[str, Any]:
        """``message`` with SignatureVersion, SigningCertURL and Signature: RSA PKCS #1
        v1.5 over each signed field's name and value, a newline after each, in AWS's
        order (Subject only when there is one)."""
        if message["Type"] == "Notification":
            names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        else:
            names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                     "TopicArn", "Type"]
        text = "".join(f"{n}\n{message[n]}\n" for n in names if n in message)
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(text.encode(), padding.PKCS1v15(), algorithm)
        return {**message, "SignatureVersion": version, "SigningCertURL": self.url,
                "Signature": base64.b64encode(signature).decode()}


def now_stamp(offset: dt.timedelta = dt.timedelta()) -> str:
    at = dt.datetime.now(dt.UTC) + offset
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def notification(record: dict[str, Any], message_id: str | None = None,
                 **fields: Any) -> dict[str, Any]:
    """An SNS Notification carrying an SES event record, unsigned."""
    return {"Type": "Notification", "MessageId": message_id or str(uuid.uuid4()),
            "TopicArn": TOPIC_ARN, "Message": json.dumps(record), "Timestamp": now_stamp(),
            "UnsubscribeURL": f"https://{SNS_HOST}/?Action=Unsubscribe&SubscriptionArn="
                              f"{TOPIC_ARN}:1", **fields}


def ses_record(event_type: str, address: str, part: dict[str, Any] | None = None,
               issue: str = "2024-07-23", message_id: str = "0100-ses-message",
               subscriber: str = "1") -> dict[str, Any]:
    """An SES event record, as the SES developer guide shows them ("Examples of event
    data that Amazon SES publishes to Amazon SNS")."""
    key = {"DeliveryDelay": "deliveryDelay"}.get(event_type, event_type.lower())
    record: dict[str, Any] = {
        "eventType": event_type,
        "mail": {"timestamp": "2024-07-23T05:00:01.000Z", "source": "brief@bigmedia.example",
                 "sendingAccountId": ACCOUNT, "messageId": message_id,
                 "destination": [address], "headersTruncated": False,
                 "tags": {"ses:configuration-set": [CONFIGURATION_SET], "issue": [issue],
                          "subscriber": [subscriber]}},
    }
    record[key] = part if part is not None else {"timestamp": "2024-07-23T05:00:03.000Z"}
    return record
