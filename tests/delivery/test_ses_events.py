"""SES's event records in our words: every event type SES publishes (its developer guide,
"Contents of event data that Amazon SES publishes to Amazon SNS") has its place in the
vocabulary, or is left out on purpose."""

from __future__ import annotations

import json
from typing import Any

import pytest

from newsletter.delivery.providers.base import BadBody
from newsletter.delivery.providers.ses import sns, webhook
from newsletter.store.events import Detail, Event, Kind
from tests.fakes.ses_server import ses_record

# The eventType values SES documents for configuration-set event publishing.
DOCUMENTED = {"Send", "Reject", "Bounce", "Complaint", "Delivery", "Open", "Click",
              "Rendering Failure", "DeliveryDelay", "Subscription"}
LEFT_OUT = {"Rendering Failure"}  # a template's failure: we send no templates


def parse(event_type: str, part: dict[str, Any] | None = None,
          address: str = "ann@example.org") -> list[Event]:
    record = ses_record(event_type, address, part)
    return webhook.events("sns-1", json.dumps(record))


MAPPING: list[tuple[str, dict[str, Any], tuple[Kind, Detail | None, str | None, str | None]]] = [
    ("Send", {}, (Kind.ACCEPTED, None, None, None)),
    ("Delivery", {"recipients": ["ann@example.org"], "smtpResponse": "250 ok"},
     (Kind.DELIVERED, None, None, None)),
    ("DeliveryDelay", {"delayType": "MailboxFull", "delayedRecipients": [
        {"emailAddress": "ann@example.org", "status": "4.2.2",
         "diagnosticCode": "smtp; 452 4.2.2 full"}]},
     (Kind.DEFERRED, None, "MailboxFull: smtp; 452 4.2.2 full", None)),
    ("Bounce", {"bounceType": "Permanent", "bounceSubType": "NoEmail", "bouncedRecipients": [
        {"emailAddress": "ann@example.org", "diagnosticCode": "smtp; 550 5.1.1 unknown"}]},
     (Kind.BOUNCED, Detail.HARD, "Permanent/NoEmail: smtp; 550 5.1.1 unknown", None)),
    ("Bounce", {"bounceType": "Permanent", "bounceSubType": "OnAccountSuppressionList",
                "bouncedRecipients": [{"emailAddress": "ann@example.org"}]},
     (Kind.BOUNCED, Detail.HARD, "Permanent/OnAccountSuppressionList", None)),
    ("Bounce", {"bounceType": "Transient", "bounceSubType": "MailboxFull",
                "bouncedRecipients": [{"emailAddress": "ann@example.org", "status": "4.2.2"}]},
     (Kind.BOUNCED, Detail.SOFT, "Transient/MailboxFull: 4.2.2", None)),
    ("Bounce", {"bounceType": "Undetermined", "bouncedRecipients": [
        {"emailAddress": "ann@example.org"}]},
     (Kind.BOUNCED, Detail.SOFT, "Undetermined", None)),
    ("Complaint", {"complaintFeedbackType": "abuse",
                   "complainedRecipients": [{"emailAddress": "ann@example.org"}]},
     (Kind.COMPLAINED, None, "abuse", None)),
    ("Reject", {"reason": "Bad content"}, (Kind.DROPPED, None, "Bad content", None)),
    ("Open", {"ipAddress": "192.0.2.1", "userAgent": "Mozilla/5.0"},
     (Kind.OPENED, Detail.PERSON, None, None)),
    ("Click", {"link": "https://example.org/story", "linkTags": {}},
     (Kind.CLICKED, None, None, "https://example.org/story")),
    ("Subscription", {"contactList": "list", "newTopicPreferences": {"unsubscribeAll": True}},
     (Kind.UNSUBSCRIBED, None, None, None)),
]


@pytest.mark.parametrize(("kind", "part", "expected"), MAPPING,
                         ids=[f"{k}-{n}" for n, (k, _, _) in enumerate(MAPPING)])
def test_each_ses_event_in_our_words(kind: str, part: dict[str, Any],
                                     expected: tuple[Kind, Detail | None, str | None,
                                                     str | None]) -> None:
    (event,) = parse(kind, part)
    assert (event.kind, event.detail, event.reason, event.url) == expected
    assert (event.id, event.email, event.issue) == ("sns:sns-1:ann@example.org",
                                                     "ann@example.org", "2024-07-23")


def test_every_documented_event_is_mapped_or_left_out_on_purpose() -> None:
    mapped = {kind for kind, _, _ in MAPPING}
    assert mapped | LEFT_OUT == DOCUMENTED
    assert parse("Rendering Failure", {"errorMessage": "x", "templateName": "t"}) == []
    assert {expected[0] for _, _, expected in MAPPING} == set(Kind)  # every word is used


def test_a_bounce_of_several_recipients_is_one_event_each() -> None:
    found = parse("Bounce", {"bounceType": "Permanent", "bouncedRecipients": [
        {"emailAddress": "ann@example.org"}, {"emailAddress": "bo@example.org"}, {},
        {"emailAddress": 7}]})
    assert [(e.id, e.email) for e in found] == [("sns:sns-1:ann@example.org", "ann@example.org"),
                                               ("sns:sns-1:bo@example.org", "bo@example.org")]


def test_identity_notifications_read_the_same() -> None:
    record = ses_record("Bounce", "ann@example.org", {"bounceType": "Permanent",
                        "bouncedRecipients": [{"emailAddress": "ann@example.org"}]})
    record["notificationType"] = record.pop("eventType")
    [event] = webhook.events("n", json.dumps(record))
    assert (event.kind, event.detail) == (Kind.BOUNCED, Detail.HARD)


def test_a_resubscription_or_an_unknown_type_is_not_recorded() -> None:
    assert parse("Subscription", {"newTopicPreferences": {"unsubscribeAll": False}}) == []
    assert parse("Subscription", {"newTopicPreferences": "yes"}) == []
    assert parse("Machine Learning Insight") == []


@pytest.mark.parametrize("message", ["not json", "[]", '{"eventType": "Send"}',
                                     '{"eventType": "Send", "mail": []}'])
def test_a_notification_that_is_not_an_ses_record_is_bad(message: str) -> None:
    with pytest.raises(BadBody):
        webhook.events("n", message)


def test_odd_values_are_kept_as_unknown_not_refused() -> None:
    record = ses_record("Click", "ann@example.org", {"link": ["x"], "timestamp": 17})
    record["mail"]["tags"] = {"issue": [7]}
    record["mail"]["timestamp"] = "yesterday"
    [event] = webhook.events("n", json.dumps(record))
    assert (event.url, event.issue, event.happened_at) == (None, None, None)


def test_the_topics_partition_names_its_host() -> None:
    assert sns.Topic.parse("arn:aws:sns:eu-west-1:123456789012:t").host == \
        "sns.eu-west-1.amazonaws.com"
    assert sns.Topic.parse("arn:aws-cn:sns:cn-north-1:123456789012:t").host == \
        "sns.cn-north-1.amazonaws.com.cn"
    assert sns.Topic.parse("arn:aws-us-gov:sns:us-gov-west-1:123456789012:t.fifo").host == \
        "sns.us-gov-west-1.amazonaws.com"
    for bad in ("arn:aws:sqs:eu-west-1:123456789012:t", "arn:aws:sns:eu-west-1:1234:t",
                "arn:aws:sns:evil.com/x:123456789012:t", "arn:aws-iso:sns:us-iso-east-1:"
                "123456789012:t", "arn:aws:sns:eu-west-1:123456789012:t\n"):
        with pytest.raises(ValueError):
            sns.Topic.parse(bad)
