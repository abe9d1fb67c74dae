"""Amazon SNS's HTTP(S) messages, checked: the host of every URL in them, the signature
over their fields, their age.

SNS signs each message with RSA (PKCS #1 v1.5) over the message's own fields, each name
and value followed by a newline, in a fixed order (:data:`SIGNED`); SignatureVersion 1
hashes with SHA-1, 2 with SHA-256. The certificate is at ``SigningCertURL``, which a
forger writes too: it is fetched only from ``https://sns.<region>.amazonaws.com/`` of the
configured topic's own region, spelled exactly so (no other host, port, user, or
trailing dot), at a path of the form SNS uses. The fetch has a deadline and a size cap;
certificates are kept in a small cache by URL (SNS uses one for months).

The tests run all of it, with a certificate of their own: the fetch can be sent to a
local server (``SES_SNS_CONNECT_TO``) whose TLS certificate for SNS's host name is
signed by a CA the tests trust (``SES_SNS_CA_FILE``). Nothing here can switch a check off.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import http.client
import re
import socket
import ssl
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from newsletter.delivery.providers.base import BadSignature, BadTimestamp, Refused, Unsigned

TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
# The fields signed, in the order SNS signs them; Subject only when the message has one.
_CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                 "Type")
SIGNED = {"Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
          "SubscriptionConfirmation": _CONFIRMATION, "UnsubscribeConfirmation": _CONFIRMATION}
_OPTIONAL = frozenset({"Subject"})
HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
# SNS retries an HTTP(S) delivery for at most an hour (the longest delivery policy it
# allows), and a retry carries the first attempt's Timestamp: older is a replay. A
# message from the future is a clock to fix, beyond a few minutes.
MAX_AGE = dt.timedelta(hours=1)
MAX_AHEAD = dt.timedelta(minutes=5)
# The certificate's path, as SNS names it: SimpleNotificationService-<id>.pem.
_CERT_PATH = re.compile(r"/SimpleNotificationService-[A-Za-z0-9]{1,64}\.pem")
# The topic: arn:PARTITION:sns:REGION:ACCOUNT:NAME; the partitions whose SNS hosts we know.
_TOPIC = re.compile(r"arn:(aws|aws-cn|aws-us-gov):sns:([a-z]{2}(?:-[a-z]+)+-[0-9]):"
                    r"([0-9]{12}):([A-Za-z0-9_-]{1,256}(?:\.fifo)?)")
_MAX_SIGNATURE = 1024  # base64 of a 4096-bit RSA signature is 684 characters
_URL_CHARACTERS = re.compile(r"[!-~]{1,2048}")  # printable ASCII, no space: as SNS writes it


class WrongTopic(Refused):
    """A message of another topic than the one configured."""

    status = 403


class CannotVerify(Refused):
    """The certificate could not be fetched now (AWS unreachable, slow): SNS retries a
    5xx answer, and by then it may be there."""

    status = 503


class FetchFailed(Exception):
    """A fetch from SNS's host that did not bring a whole, small, 200 answer."""

    def __init__(self, message: str, answered: bool = False) -> None:
        super().__init__(message)
        self.answered = answered  # SNS's host answered (with something else than 200)


@dataclass(frozen=True)
class Topic:
    """The configured topic, and the one host its URLs may name."""

    arn: str
    region: str
    host: str

    @classmethod
    def parse(cls, arn: str) -> Topic:
        found = _TOPIC.fullmatch(arn)
        if not found:
            raise ValueError("not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
        partition, region = found.group(1), found.group(2)
        suffix = ".cn" if partition == "aws-cn" else ""
        return cls(arn, region, f"sns.{region}.amazonaws.com{suffix}")


def fields(message: dict[str, Any], kind: str) -> dict[str, str]:
    """The signed fields of a message, each a string (BadSignature when one is missing
    or is not: nothing could have signed it)."""
    found: dict[str, str] = {}
    for name in SIGNED[kind]:
        value = message.get(name)
        if value is None and name in _OPTIONAL:
            continue
        if not isinstance(value, str):
            raise BadSignature(f"the signed field {name} is missing or not text")
        found[name] = value
    return found


def string_to_sign(signed: dict[str, str], kind: str) -> bytes:
    return "".join(f"{name}\n{signed[name]}\n" for name in SIGNED[kind] if name in signed
                   ).encode("utf-8")


def on_host(url: Any, topic: Topic) -> tuple[str, dict[str, str]]:
    """The path and query of a URL that is https on the topic's SNS host exactly, or
    BadSignature. Compared as written: a port, a user, a trailing dot, another case or
    any host that merely contains SNS's are all refused."""
    if not isinstance(url, str) or not _URL_CHARACTERS.fullmatch(url) or "\\" in url:
        raise BadSignature("a URL that is not SNS's")
    try:
        parts = urlsplit(url)
    except ValueError:  # brackets that are not an IPv6 address
        raise BadSignature("a URL that is not SNS's") from None
    if parts.scheme != "https" or not url.startswith("https://") or \
            parts.netloc != topic.host or parts.fragment:
        raise BadSignature("a URL that is not on SNS's host")
    return parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))


def certificate_path(url: Any, topic: Topic) -> str:
    path, query = on_host(url, topic)
    if query or "?" in url or not _CERT_PATH.fullmatch(path):
        raise BadSignature("a certificate URL that is not SNS's")
    return path


def subscribe_target(url: Any, topic: Topic) -> str:
    """The path and query to GET to confirm the subscription: SNS's ConfirmSubscription
    of the configured topic, on its host."""
    path, query = on_host(url, topic)
    if path != "/" or query.get("Action") != "ConfirmSubscription" or \
            query.get("TopicArn") != topic.arn or not query.get("Token"):
        raise BadSignature("a SubscribeURL that is not SNS's confirmation of this topic")
    return str(url).removeprefix(f"https://{topic.host}")


def signature(message: dict[str, Any]) -> tuple[bytes, type[hashes.HashAlgorithm]]:
    value, version = message.get("Signature"), message.get("SignatureVersion")
    if value is None or value == "":
        raise Unsigned("unsigned")
    if not isinstance(version, str) or version not in HASHES:
        raise BadSignature("an unknown signature version")
    if not isinstance(value, str) or len(value) > _MAX_SIGNATURE:
        raise BadSignature("bad signature")
    try:
        return base64.b64decode(value, validate=True), HASHES[version]
    except (ValueError, binascii.Error):
        raise BadSignature("bad signature") from None


def timestamp(value: Any, now: dt.datetime) -> dt.datetime:
    """The message's time, or BadTimestamp: not a time, older than :data:`MAX_AGE` (a
    replay), or ahead of ``now`` by more than :data:`MAX_AHEAD`."""
    if not isinstance(value, str) or len(value) > 40:
        raise BadTimestamp("malformed timestamp")
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadTimestamp("malformed timestamp") from None
    if at.tzinfo is None:
        raise BadTimestamp("a timestamp without its zone")
    if at < now - MAX_AGE:
        raise BadTimestamp("stale timestamp")
    if at > now + MAX_AHEAD:
        raise BadTimestamp("a timestamp in the future")
    return at


def check(key: rsa.RSAPublicKey, raw: bytes, algorithm: type[hashes.HashAlgorithm],
          signed: bytes) -> None:
    try:
        key.verify(raw, signed, padding.PKCS1v15(), algorithm())
    except (InvalidSignature, ValueError):
        raise BadSignature("bad signature") from None


# -- fetching from SNS's host -----------------------------------------------------------------

class Fetcher:
    """GETs from SNS's host over verified TLS, with a deadline for the whole answer and a
    cap on its size; follows no redirect."""

    def __init__(self, ca_file: str | None = None, connect_to: tuple[str, int] | None = None,
                 deadline: float = 5.0, limit: int = 64 * 1024) -> None:
        self.context = ssl.create_default_context(cafile=ca_file)
        self.connect_to = connect_to
        self.deadline = deadline
        self.limit = limit

    def get(self, host: str, target: str) -> bytes:
        ends = time.monotonic() + self.deadline
        connection = _Connection(host, self.connect_to or (host, 443), self.context,
                                 self.deadline)
        try:
            connection.request("GET", target, headers={"Accept-Encoding": "identity"})
            response = connection.getresponse()
            if response.status != 200:
                raise FetchFailed(f"{host} answered {response.status}", answered=True)
            return _read(connection, response, ends, self.limit)
        except (OSError, http.client.HTTPException) as exc:
            raise FetchFailed(f"cannot fetch from {host}: {exc.__class__.__name__}") from None
        finally:
            connection.close()


class _Connection(http.client.HTTPSConnection):
    """A connection to ``address`` that speaks TLS to ``host``: the name checked in the
    certificate and sent in SNI and Host is SNS's, wherever the socket goes."""

    def __init__(self, host: str, address: tuple[str, int], context: ssl.SSLContext,
                 timeout: float) -> None:
        super().__init__(host, 443, timeout=timeout, context=context)
        self.address = address
        self.tls = context

    def connect(self) -> None:
        sock = socket.create_connection(self.address, self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)


def _read(connection: _Connection, response: http.client.HTTPResponse, ends: float,
          limit: int) -> bytes:
    declared = response.getheader("Content-Length", "")
    if declared.isdigit() and len(declared) < 12 and int(declared) > limit:
        raise FetchFailed("an answer larger than a certificate", answered=True)
    chunks: list[bytes] = []
    size = 0
    while True:
        left = ends - time.monotonic()
        if left <= 0:
            raise FetchFailed("no whole answer within the deadline")
        if connection.sock is not None:
            connection.sock.settimeout(left)
        chunk = response.read1(16 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise FetchFailed("an answer larger than a certificate", answered=True)
        chunks.append(chunk)


class Certificates:
    """SNS's signing keys by certificate URL, fetched once, the last ``size`` kept."""

    def __init__(self, fetcher: Fetcher, size: int = 8) -> None:
        self.fetcher = fetcher
        self.size = size
        self.kept: OrderedDict[str, x509.Certificate] = OrderedDict()
        self.lock = threading.Lock()

    def key(self, host: str, path: str, now: dt.datetime) -> rsa.RSAPublicKey:
        """The RSA key of the certificate at ``path`` on ``host``, valid ``now``; a
        BadSignature when it is not a certificate of that kind, CannotVerify when it
        cannot be had now."""
        certificate = self._get(host, path)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise BadSignature("the signing certificate is not valid now")
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise BadSignature("the signing certificate's key is not RSA")
        return key

    def _get(self, host: str, path: str) -> x509.Certificate:
        url = f"https://{host}{path}"
        with self.lock:
            if url in self.kept:
                self.kept.move_to_end(url)
                return self.kept[url]
        try:
            pem = self.fetcher.get(host, path)
        except FetchFailed as exc:
            if exc.answered:  # SNS's host has no such certificate: not SNS's message
                raise BadSignature(f"no signing certificate there ({exc})") from None
            raise CannotVerify(str(exc)) from None
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise BadSignature("the signing certificate is not a PEM certificate") from None
        with self.lock:
            self.kept[url] = certificate
            while len(self.kept) > self.size:
                self.kept.popitem(last=False)
        return certificate
