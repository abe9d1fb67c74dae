"""SES's event notifications, as SNS posts them: check the message (sns.py), confirm the
subscription, then turn SES's events into ours.

SES's words -> ours (store/vocabulary.py); one event per recipient the record names:

    Send                            accepted
    Delivery                        delivered
    DeliveryDelay                   deferred, with the delay's type and the server's words
    Bounce, bounceType Permanent    bounced, hard, with type, subtype and diagnostic code
    Bounce, Transient, Undetermined bounced, soft, with the same
    Complaint                       complained (the feedback type as the reason)
    Reject                          dropped (SES's reason: a virus, say; no suppression)
    Open                            opened, by a person (SES does not tell machines apart)
    Click                           clicked, with the link
    Subscription                    unsubscribed, when the reader left every topic (SES's
                                    own list management; a send of ours does not use it)
    Rendering Failure, others       not recorded

A record names its issue by the ``issue`` tag the transport put on the message
(``mail.tags``); SES's identity notifications (``notificationType`` instead of
``eventType``: Bounce, Complaint, Delivery) are read the same way. An event's id is the
SNS message's id and the recipient: SNS sends a retry with the same id, so it is
recorded once.

The three kinds of SNS post: a SubscriptionConfirmation of the configured topic, signed,
is confirmed by fetching its SubscribeURL (on SNS's host only); an
UnsubscribeConfirmation is logged; a Notification carries one SES event record.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsletter.config import Environment
from newsletter.delivery.providers.base import (
    BadBody,
    Refused,
    Webhook,
    said,
    storable,
    stored,
)
from newsletter.delivery.providers.ses import sns
from newsletter.delivery.providers.ses.settings import (
    SNS_CA_FILE,
    SNS_CONNECT_TO,
    TOPIC,
    SesEnvironment,
)
from newsletter.errors import ConfigError
from newsletter.store.vocabulary import Detail, Event, Kind

log = logging.getLogger(__name__)

TYPE_HEADER = "x-amz-sns-message-type"
TOPIC_HEADER = "x-amz-sns-topic-arn"
# SNS sends at most 256 KiB of message; JSON's escaping of it inside the envelope (a
# quote or a backslash doubles, a control character becomes six) stays under 2 MiB.
MAX_BODY = 2 * 1024 * 1024
_MOST_RECIPIENTS = 100  # SES takes 50 a message; more is not SES's record


class NotConfirmed(Refused):
    """A signed SubscriptionConfirmation whose SubscribeURL did not answer 200 now."""

    status = 502


@dataclass(frozen=True)
class Posted:
    kind: str | None  # what the x-amz-sns-message-type header says, when it is there
    now: dt.datetime


class SesWebhook(Webhook[Posted]):
    """SNS's posts of the configured topic, mounted by the service at /webhooks/ses."""

    max_body = MAX_BODY

    def __init__(self, topic: sns.Topic, fetcher: sns.Fetcher) -> None:
        self.topic = topic
        self.fetcher = fetcher
        self.certificates = sns.Certificates(fetcher)

    def admit(self, headers: Mapping[str, str], now: dt.datetime) -> Posted:
        """SNS's headers are not signed, so they can only refuse: a type SNS does not
        send, another topic. A post without them is judged by its body."""
        kind, topic = headers.get(TYPE_HEADER), headers.get(TOPIC_HEADER)
        if kind is not None and kind not in sns.TYPES:
            raise BadBody("not an SNS message type")
        if topic is not None and topic != self.topic.arn:
            raise sns.WrongTopic("another topic")
        return Posted(kind, now)

    def events(self, admitted: Posted, body: bytes) -> list[Event]:
        """Verify the message (it may fetch SNS's certificate: the service runs this off
        its event loop), then act on its kind."""
        message = _parse(body)
        kind = message.get("Type")
        if kind not in sns.TYPES or (admitted.kind and admitted.kind != kind):
            raise BadBody("not an SNS message")
        if message.get("TopicArn") != self.topic.arn:
            raise sns.WrongTopic("another topic")
        signed = self._verified(message, kind, admitted.now)
        if kind == "SubscriptionConfirmation":
            self._confirm(signed["SubscribeURL"])
            return []
        if kind == "UnsubscribeConfirmation":
            log.warning("SNS: the subscription of /webhooks/ses to %s was removed", self.topic.arn)
            return []
        return events(signed["MessageId"], signed["Message"])

    def _verified(self, message: dict[str, Any], kind: str, now: dt.datetime
                  ) -> dict[str, str]:
        raw, algorithm = sns.signature(message)
        signed = sns.fields(message, kind)
        path = sns.certificate_path(message.get("SigningCertURL"), self.topic)
        sns.timestamp(signed["Timestamp"], now)  # a stale post costs no fetch
        key = self.certificates.key(self.topic.host, path, now)
        sns.check(key, raw, algorithm, sns.string_to_sign(signed, kind))
        return signed

    def _confirm(self, url: str) -> None:
        target = sns.subscribe_target(url, self.topic)
        try:
            self.fetcher.get(self.topic.host, target)
        except sns.FetchFailed as exc:
            raise NotConfirmed(f"the subscription was not confirmed: {exc}") from None
        log.info("SNS: /webhooks/ses confirmed its subscription to %s", self.topic.arn)


def webhook(env: Environment) -> SesWebhook | None:
    """The webhook when SES_SNS_TOPIC_ARN is set, else None; a ConfigError for a topic,
    CA file or address that cannot be used."""
    variables = SesEnvironment.read(env)
    if not variables.topic_arn:
        return None
    try:
        topic = sns.Topic.parse(variables.topic_arn)
    except ValueError as exc:
        raise ConfigError(f"{TOPIC}: {exc}") from None
    ca_file = variables.sns_ca_file or None
    if ca_file and not Path(ca_file).is_file():
        raise ConfigError(f"{SNS_CA_FILE}: no such file")
    try:
        fetcher = sns.Fetcher(ca_file, _address(variables.sns_connect_to))
    except OSError as exc:  # ssl.SSLError among them: not certificates
        raise ConfigError(f"{SNS_CA_FILE}: {exc.__class__.__name__}") from None
    return SesWebhook(topic, fetcher)


def _address(value: str) -> tuple[str, int] | None:
    if not value:
        return None
    host, _, port = value.rpartition(":")
    if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ConfigError(f"{SNS_CONNECT_TO} must be HOST:PORT")
    return host.strip("[]"), int(port)


def _parse(body: bytes) -> dict[str, Any]:
    try:
        # Decoded here, strictly: json.loads(bytes) would also take UTF-16 and UTF-32.
        message = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        raise BadBody("not JSON in UTF-8") from None
    if not isinstance(message, dict):
        raise BadBody("not an SNS message")
    return message


# -- SES's event record in our words ---------------------------------------------------------

# SES's event type -> our kind, for the types that need no more than their name; and the
# part of the record that carries the event's own time.
KINDS = {"Send": Kind.ACCEPTED, "Delivery": Kind.DELIVERED, "Complaint": Kind.COMPLAINED,
         "Reject": Kind.DROPPED, "Open": Kind.OPENED, "Click": Kind.CLICKED,
         "Bounce": Kind.BOUNCED, "DeliveryDelay": Kind.DEFERRED,
         "Subscription": Kind.UNSUBSCRIBED}
PART = {"Send": "send", "Delivery": "delivery", "Complaint": "complaint", "Reject": "reject",
        "Open": "open", "Click": "click", "Bounce": "bounce", "DeliveryDelay": "deliveryDelay",
        "Subscription": "subscription"}


def events(message_id: str, text: str) -> list[Event]:
    """The events of one SES record (the ``Message`` of a verified notification)."""
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):
        raise BadBody("a notification that is not an SES event") from None
    if not isinstance(record, dict) or not isinstance(record.get("mail"), dict):
        raise BadBody("a notification that is not an SES event")
    name = record.get("eventType") or record.get("notificationType")
    if not isinstance(name, str) or name not in KINDS:
        return []
    part = record.get(PART[name])
    part = part if isinstance(part, dict) else {}
    mail = record["mail"]
    issue = _issue(mail)
    happened = _time(part.get("timestamp")) or _time(mail.get("timestamp"))
    # Signed, so SNS's; still text from outside, kept as any other (``stored``).
    message_id = stored(message_id) or ""
    return [Event(f"sns:{message_id}:{address}", kind, address, issue, happened,
                  detail, reason, url)
            for address, (kind, detail, reason, url) in _ours(name, part, mail)]


Words = tuple[Kind, Detail | None, str | None, str | None]


def _ours(name: str, part: dict[str, Any], mail: dict[str, Any]) -> Iterator[tuple[str, Words]]:
    """Each recipient of the record, with the event in our words."""
    if name == "Bounce":
        hard = part.get("bounceType") == "Permanent"
        for address, entry in _entries(part.get("bouncedRecipients")):
            reason = _bounce_reason(part, entry)
            yield address, (Kind.BOUNCED, Detail.HARD if hard else Detail.SOFT, reason, None)
    elif name == "DeliveryDelay":
        for address, entry in _entries(part.get("delayedRecipients")):
            why = [said(part, "delayType"), said(entry, "diagnosticCode")
                   or said(entry, "status")]
            yield address, (Kind.DEFERRED, None, ": ".join(w for w in why if w) or None, None)
    elif name == "Complaint":
        for address, _entry in _entries(part.get("complainedRecipients")):
            yield address, (Kind.COMPLAINED, None, said(part, "complaintFeedbackType"), None)
    elif name == "Delivery":
        for address in _addresses(part.get("recipients")) or _addresses(mail.get("destination")):
            yield address, (Kind.DELIVERED, None, None, None)
    else:
        words = _whole_message(name, part)
        if words is not None:
            for address in _addresses(mail.get("destination")):
                yield address, words


def _whole_message(name: str, part: dict[str, Any]) -> Words | None:
    """The event of a type that is about the message, for each of its recipients."""
    if name == "Open":
        return Kind.OPENED, Detail.PERSON, None, None
    if name == "Click":
        return Kind.CLICKED, None, None, said(part, "link")
    if name == "Reject":
        return Kind.DROPPED, None, said(part, "reason"), None
    if name == "Subscription":
        chosen = part.get("newTopicPreferences")
        left = isinstance(chosen, dict) and chosen.get("unsubscribeAll") is True
        return (Kind.UNSUBSCRIBED, None, None, None) if left else None
    return KINDS[name], None, None, None


def _bounce_reason(part: dict[str, Any], entry: dict[str, Any]) -> str | None:
    kind = "/".join(w for w in (said(part, "bounceType"), said(part, "bounceSubType")) if w)
    code = said(entry, "diagnosticCode") or said(entry, "status")
    return ": ".join(w for w in (kind, code) if w) or None


def _entries(value: Any) -> list[tuple[str, dict[str, Any]]]:
    """The recipients of a list of objects, each with an address: the address as it can
    be stored, and its object."""
    if not isinstance(value, list):
        return []
    return [(address, entry) for entry in value[:_MOST_RECIPIENTS]
            if isinstance(entry, dict) and (address := said(entry, "emailAddress"))]


def _addresses(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [address for item in value[:_MOST_RECIPIENTS] if (address := stored(item))]


def _issue(mail: dict[str, Any]) -> str | None:
    tags = mail.get("tags")
    values = tags.get("issue") if isinstance(tags, dict) else None
    first = stored(values[0]) if isinstance(values, list) and values else None
    return first if first and len(first) <= 40 else None


def _time(value: Any) -> dt.datetime | None:
    """An ISO 8601 time with its zone (as SES writes them), else None (unknown)."""
    if not storable(value) or len(value) > 40:
        return None
    try:
        at = dt.datetime.fromisoformat(value)
        # A time at the calendar's edge, with a zone that moves it past (year 1 at
        # +14:00), has no UTC time that Python can hold: unknown, as any time we cannot read.
        return at.astimezone(dt.UTC) if at.tzinfo else None
    except (ValueError, OverflowError):
        return None

