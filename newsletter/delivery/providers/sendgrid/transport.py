"""SendGrid: up to 1,000 personalizations a request, over kept-alive connections (api.py).

What every recipient of an email shares (sender, subject, content, categories, headers,
schedule) is made once per email with the ``sendgrid`` package's mail model; each
recipient's personalization is then written as JSON text, which is what a request's
1,000 of them can afford.

The API key comes from SENDGRID_API_KEY (and SENDGRID_HOST for a stand-in server); what
the publication chooses (an unsubscribe group, categories, batch size, timeout) from
``delivery.sendgrid`` in newsletter.yaml. SendGrid can deliver later (``send_at`` with a
``batch_id``, at most 72 hours ahead) and cancel that: this transport is a Scheduler.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from json.encoder import encode_basestring_ascii as quoted  # json.dumps's own, in C
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sendgrid.helpers.mail import (
    Asm,
    BatchId,
    Category,
    ClickTracking,
    Content,
    From,
    GroupId,
    Header,
    Mail,
    OpenTracking,
    Personalization,
    ReplyTo,
    SendAt,
    Subject,
    To,
    TrackingSettings,
)

from newsletter.delivery.dates import Timing
from newsletter.delivery.personalize import Personalizer
from newsletter.delivery.providers.base import (
    ONE_CLICK,
    Options,
    Outcome,
    Scheduler,
    Setup,
    Transport,
)
from newsletter.delivery.providers.sendgrid.api import SendGridApi
from newsletter.delivery.providers.sendgrid.settings import (
    API_KEY,
    SendGridEnvironment,
    SendGridOptions,
)
from newsletter.email.message import Notice
from newsletter.email.render import (
    GREETING_HTML_TOKEN,
    GREETING_TOKEN,
    MANAGE_TOKEN,
    UNSUBSCRIBE_TOKEN,
    Email,
)
from newsletter.errors import ConfigError
from newsletter.store.recipient import Recipient
from newsletter.timing import send_instant

_Named = TypeVar("_Named", From, To, ReplyTo)

ASM_UNSUBSCRIBE = "<%asm_group_unsubscribe_raw_url%>"
ASM_PREFERENCES = "<%asm_preferences_raw_url%>"


@dataclass(frozen=True)
class LinkParts:
    """The JSON text around a reader's two tokens, escaped once per send.

    json's escaping works character by character, so the escaped text of a link is the
    escaped text of what comes before its token, the token, and the escaped text of what
    comes after. A token is ``v3.`` and URL-safe base64: characters JSON leaves alone.
    Each pair is (the text up to the token, the text after it), quotes included."""

    leave: tuple[str, str]  # the unsubscribe link's substitution
    manage: tuple[str, str]  # the manage link's substitution
    header: tuple[str, str]  # the List-Unsubscribe header's value

    @classmethod
    def of(cls, personalizer: Personalizer) -> LinkParts:
        def around(key: str | None, before: str, after: str) -> tuple[str, str]:
            name = f"{quoted(key)}:" if key else ""
            return name + quoted(before)[:-1], quoted(after)[1:]

        (leave_before, leave_after), manage = personalizer.slot, personalizer.manage_slot
        return cls(around(UNSUBSCRIBE_TOKEN, leave_before, leave_after),
                   around(MANAGE_TOKEN, *manage),
                   around(None, f"<{leave_before}", f"{leave_after}>{personalizer.mailto_tail}"))


class SendGridTransport(Transport):
    """Up to 1,000 personalizations a request to SendGrid's v3 API."""

    name = "sendgrid"
    options_model = SendGridOptions
    DEFAULT_HOST = "https://api.sendgrid.com"
    max_ahead = dt.timedelta(hours=72)  # SendGrid refuses a send_at further ahead

    def __init__(self, setup: Setup, options: Options) -> None:
        assert isinstance(options, SendGridOptions)
        super().__init__(setup, options)
        variables = SendGridEnvironment.read(setup.env)
        if not variables.api_key:
            raise ConfigError(f"{API_KEY} is not set")
        host = variables.host or self.DEFAULT_HOST
        self.api = SendGridApi(variables.api_key, host, options.timeout)
        self.warnings = _host_warnings(host)
        self.asm = options.asm_group_id
        self.categories = options.categories
        self._base: tuple[Email, dict[str, Any], str] | None = None
        self.timing: Timing | None = None
        self._local_at: dict[str | None, int] = {}  # timezone -> that zone's send time
        self._now = 0.0
        self.links = LinkParts.of(self.personalizer)
        # Whether a reader brings a greeting or a reader token: most publications, none.
        self._per_reader = bool(self.personalizer.greeting or self.personalizer.individual)

    @classmethod
    def needs_secret(cls, options: Options) -> bool:
        # With an unsubscribe group, SendGrid makes the links: ours are not used.
        return not (isinstance(options, SendGridOptions) and options.asm_group_id)

    def scheduler(self) -> Scheduler:
        return self

    def deliver_later(self, timing: Timing) -> None:
        self.timing, self._base, self._local_at = timing, None, {}

    def new_handle(self) -> str:
        """A new batch id of SendGrid's (/mail/batch): the handle its scheduled messages
        carry, by which they are cancelled."""
        return str(self.api.post("/mail/batch", b"").json()["batch_id"])

    def cancel(self, handle: str) -> None:
        body = {"batch_id": handle, "status": "cancel"}
        self.api.post("/user/scheduled_sends", json.dumps(body).encode())

    def send(self, email: Email, recipients: Sequence[Recipient]) -> Outcome:
        """One request for the batch. Its body is written as JSON text: the shared part
        once per email, then one small template per recipient, filled with values escaped
        as json.dumps would. A million dicts through json.dumps took longer than
        everything else a send does."""
        self.base_payload(email)
        assert self._base is not None
        issue = quoted(email.date.isoformat())
        self._now = time.time()  # readers whose local time has passed get it at once
        people = ",".join(self.personalizations(issue, recipients))
        return Outcome(provider_id=self.post_text(f"{self._base[2]}{people}]}}"))

    def send_notice(self, notice: Notice) -> None:
        """One message now, with click tracking off: SendGrid would otherwise rewrite the
        confirmation link through its own domain."""
        mail = self._mail(notice.subject, notice.text, notice.html,
                          [*self.categories[:8], notice.kind])
        envelope = Personalization()
        envelope.add_to(_address(To, notice.to_email, notice.to_name))
        mail.add_personalization(envelope)
        mail.add_header(Header("Auto-Submitted", "auto-generated"))
        mail.tracking_settings = TrackingSettings(ClickTracking(False, False),
                                                  OpenTracking(False))
        self.post(mail.get())

    def base_payload(self, email: Email) -> dict[str, Any]:
        """Everything but the recipients: built once per email, shared by every request."""
        if self._base is None or self._base[0] is not email:
            base = self._build_base(email)
            # The body up to the recipients' list, as text: the base is a JSON object.
            head = json.dumps(base)[:-1] + ', "personalizations": ['
            self._base = (email, base, head)
        return self._base[1]

    def _build_base(self, email: Email) -> dict[str, Any]:
        """The body every recipient of ``email`` shares, made with SendGrid's mail model.
        The recipients are not in it: :meth:`personalization` writes them as text (the
        model's objects cost 0.13 s of CPU for each 1,000 readers, the text 0.01 s, most
        of it the readers' tokens)."""
        html, text = email.html, email.text
        if self.asm:
            # SendGrid fills these tags with the recipient's own group-unsubscribe link and
            # preferences page: with a group, the links are SendGrid's, not ours.
            html, text = (part.replace(UNSUBSCRIBE_TOKEN, ASM_UNSUBSCRIBE)
                          .replace(MANAGE_TOKEN, ASM_PREFERENCES) for part in (html, text))
        mail = self._mail(email.subject, text, html,
                          [*self.categories, f"issue-{email.date.isoformat()}"])
        if self.timing is not None:
            mail.batch_id = BatchId(self.timing.handle)
            if self.timing.send_at is not None:
                mail.send_at = SendAt(int(self.timing.send_at.timestamp()))
        if self.asm:
            mail.asm = Asm(GroupId(self.asm))
        else:
            mail.add_header(Header("List-Unsubscribe-Post", ONE_CLICK))
        body: dict[str, Any] = mail.get()
        return body

    def _mail(self, subject: str, text: str, html: str, categories: list[str]) -> Mail:
        """The mail model with what every message of the publication has: sender, reply
        address, subject, text before HTML, categories."""
        pub = self.publication
        mail = Mail(from_email=_address(From, pub.sender.address, pub.sender.name),
                    subject=Subject(subject))
        mail.add_content(Content("text/plain", text))
        mail.add_content(Content("text/html", html))
        for category in reversed(categories):  # the model puts each one it is given first
            mail.add_category(Category(category))
        if pub.reply_to:
            mail.reply_to = _address(ReplyTo, pub.reply_to, None)
        return mail

    def personalizations(self, issue: str, recipients: Sequence[Recipient]) -> list[str]:
        """The batch's envelopes, as JSON text (``issue`` already quoted); the readers'
        token pairs are made together (:meth:`tokens.Signer.pairs`)."""
        if self.asm:  # SendGrid's own links: no tokens of ours
            return [self._asm_personalization(issue, r) for r in recipients]
        personal = self.personalizer
        pairs = personal.signer.pairs([r.link for r in recipients], personal.day)
        return [self.personalization(issue, r, pair) for r, pair in zip(recipients, pairs,
                                                                        strict=True)]

    def personalization(self, issue: str, recipient: Recipient, pair: tuple[str, str]) -> str:
        """One envelope, as JSON text (``issue`` already quoted), with the reader's
        unsubscribe and manage tokens (``pair``). Runs once per recipient: a million
        times for a large list. Every value a reader brings goes through json's own
        escaping; the links are the parts escaped once (see :class:`LinkParts`) around
        the reader's tokens."""
        entry, greeting = self._envelope(issue, recipient)
        leave, manage = pair
        parts = self.links
        return (f'{entry},"headers":{{"List-Unsubscribe":{parts.header[0]}{leave}'
                f'{parts.header[1]}}},"substitutions":{{{greeting}{parts.leave[0]}{leave}'
                f'{parts.leave[1]},{parts.manage[0]}{manage}{parts.manage[1]}}}}}')

    def _asm_personalization(self, issue: str, recipient: Recipient) -> str:
        """The envelope when SendGrid's own links (ASM) stand for ours: only a greeting
        is ours to fill."""
        entry, greeting = self._envelope(issue, recipient)
        return f'{entry},"substitutions":{{{greeting[:-1]}}}}}' if greeting else entry + "}"

    def _envelope(self, issue: str, recipient: Recipient) -> tuple[str, str]:
        """An envelope's JSON up to its links, left open, and its greeting members."""
        to = f'{{"email":{quoted(recipient.email)},"name":{quoted(recipient.name)}}}' \
            if recipient.name else f'{{"email":{quoted(recipient.email)}}}'
        entry = f'{{"to":[{to}],"custom_args":{{"issue":{issue},"subscriber":"{recipient.id}"}}'
        if self.timing is not None and self.timing.local_day is not None:
            at = self._local_time(recipient.timezone, self.timing.local_day)
            if at > self._now:
                entry += f',"send_at":{at}'
        greeting = self._greeting(recipient) + self.personalizer.reader_member(recipient) \
            if self._per_reader else ""
        return entry, greeting

    def _greeting(self, recipient: Recipient) -> str:
        """The greeting's two substitutions as JSON members, each followed by a comma;
        empty when the publication has no greeting."""
        if not self.personalizer.greeting:
            return ""
        text = self.personalizer.greeting_for(recipient)
        return (f"{quoted(GREETING_TOKEN)}:{quoted(text)},"
                f"{quoted(GREETING_HTML_TOKEN)}:{quoted(escape(text))},")

    def _local_time(self, zone: str | None, day: dt.date) -> int:
        """The send time on ``day`` in ``zone`` (the publication's when unknown), cached."""
        at = self._local_at.get(zone)
        if at is None:
            where = ZoneInfo(zone) if zone else self.publication.zone
            at = int(send_instant(day, self.publication.send_clock, where).timestamp())
            self._local_at[zone] = at
        return at

    def post(self, body: dict[str, Any]) -> str | None:
        """Make one /mail/send request; return SendGrid's X-Message-Id."""
        return self.post_text(json.dumps(body))

    def post_text(self, body: str) -> str | None:
        """Make one /mail/send request with a body already written as JSON."""
        message_id = self.api.post("/mail/send", body.encode()).headers.get("X-Message-Id")
        return str(message_id) if message_id else None

    def set_concurrency(self, requests: int) -> None:
        self.api.connections(requests)

    def close(self) -> None:
        self.api.close()


def _address(kind: type[_Named], email: str, name: str | None) -> _Named:
    """An address of the mail model, set field by field: given one string, the model would
    parse it as "Name <address>" and could take part of an odd address for a name."""
    made = kind()
    made.email = email
    if name:
        made.name = name
    return made


def _host_warnings(host: str) -> list[str]:
    """A plain-http API address sends the key in the clear: fine on this machine only."""
    parts = urlsplit(host)
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK and \
            not (parts.hostname or "").startswith("127."):
        return [f"SENDGRID_HOST {host} is plain http to another machine: the API key "
                "travels unencrypted (use https)"]
    return []


_LOOPBACK = {"localhost", "::1"}
