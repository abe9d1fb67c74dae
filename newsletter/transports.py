"""Transports: SendGrid, SMTP and an outbox folder, behind one small interface.

A transport takes the email (rendered once, with tokens) and a batch of recipients, and
either delivers the whole batch or raises: TransportRejected when the provider refused the
request itself (retrying cannot help), TransportUnavailable when it may work later.
This module is the one place where the outside world is touched; tests put real local
servers behind it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import http.client
import json
import logging
import os
import re
import smtplib
import ssl
import threading
import time
import urllib.error
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from newsletter import message
from newsletter.errors import ConfigError, TransportRejected, TransportUnavailable
from newsletter.output import write_atomic
from newsletter.personalize import Personalizer, Recipient, fill
from newsletter.render import UNSUBSCRIBE_TOKEN, Email
from newsletter.schedule import Timing, local_send_time
from newsletter.settings import Publication

# python_http_client logs every request's headers at DEBUG, the API key among them.
logging.getLogger("python_http_client").setLevel(logging.INFO)

ASM_UNSUBSCRIBE = "<%asm_group_unsubscribe_raw_url%>"
ONE_CLICK = "List-Unsubscribe=One-Click"


@dataclass
class Outcome:
    """What the provider said: its id for the request, and any recipient it refused."""

    provider_id: str | None = None
    refused: dict[int, str] = field(default_factory=dict)


class Transport(ABC):
    name: ClassVar[str]
    can_schedule: ClassVar[bool] = False

    def __init__(self, publication: Publication, personalizer: Personalizer) -> None:
        self.publication = publication
        self.personalizer = personalizer

    @property
    def batch_size(self) -> int:
        return self.publication.delivery.batch_size

    @abstractmethod
    def send(self, email: Email, recipients: Sequence[Recipient]) -> Outcome: ...

    def close(self) -> None:  # noqa: B027 - most transports hold nothing open
        pass

    def schedule(self, timing: Timing) -> None:
        """Have the provider deliver later, as ``timing`` says (only SendGrid can)."""
        raise self.unsupported("schedule delivery for later (send_at)")

    def create_batch(self) -> str:
        raise self.unsupported("schedule delivery for later (send_at)")

    def cancel(self, batch_id: str) -> None:
        raise self.unsupported("cancel a scheduled send")

    def unsupported(self, feature: str) -> ConfigError:
        return ConfigError(f"the {self.name} transport cannot {feature}")

    def personal_message(self, email: Email, recipient: Recipient) -> bytes:
        """One complete message for one recipient, tokens filled (SMTP and outbox)."""
        values = self.personalizer.values(recipient)
        to = email_address(recipient)
        headers = {"List-Unsubscribe": self.personalizer.list_unsubscribe(recipient),
                   "List-Unsubscribe-Post": ONE_CLICK}
        msg = message.build(email, self.publication, to=to, html=fill(email.html, values),
                            text=fill(email.text, values), headers=headers)
        return msg.as_bytes()


def email_address(recipient: Recipient) -> str:
    return email.utils.formataddr((recipient.name or "", recipient.email))


class OutboxTransport(Transport):
    """One .eml per recipient in a folder: the default, so a fresh checkout sends for real."""

    name = "outbox"

    def __init__(self, publication: Publication, personalizer: Personalizer,
                 folder: Path) -> None:
        super().__init__(publication, personalizer)
        self.folder = folder

    def send(self, email: Email, recipients: Sequence[Recipient]) -> Outcome:
        target = self.folder / email.date.isoformat()
        for recipient in recipients:
            name = re.sub(r"[^a-z0-9@._+-]", "_", recipient.key) + ".eml"
            write_atomic(target / name, self.personal_message(email, recipient))
        return Outcome(provider_id=str(target))


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # "starttls", "tls" (implicit) or "none"
    username: str | None
    password: str | None
    timeout: float
    ca_file: str | None = None  # a private CA to trust, e.g. for a relay on the LAN

    @classmethod
    def from_env(cls, timeout: float) -> SmtpSettings:
        security = os.environ.get("SMTP_SECURITY", "starttls").lower()
        if security not in ("starttls", "tls", "none"):
            raise ConfigError(f"SMTP_SECURITY must be starttls, tls or none, not {security!r}")
        default_port = {"starttls": 587, "tls": 465, "none": 25}[security]
        try:
            port = int(os.environ.get("SMTP_PORT") or default_port)
        except ValueError:
            raise ConfigError("SMTP_PORT must be a number") from None
        return cls(os.environ.get("SMTP_HOST", ""), port, security,
                   os.environ.get("SMTP_USERNAME") or None,
                   os.environ.get("SMTP_PASSWORD") or None, timeout,
                   os.environ.get("SMTP_CA_FILE") or None)


class SmtpTransport(Transport):
    """One personalised message per recipient over one reused connection per thread."""

    name = "smtp"
    RECONNECTS = 2

    def __init__(self, publication: Publication, personalizer: Personalizer,
                 settings: SmtpSettings) -> None:
        super().__init__(publication, personalizer)
        if not settings.host:
            raise ConfigError("SMTP_HOST is not set")
        self.settings = settings
        self.local = threading.local()
        self.connections: list[smtplib.SMTP] = []

    @property
    def batch_size(self) -> int:
        return self.publication.delivery.smtp_batch_size

    def send(self, email: Email, recipients: Sequence[Recipient]) -> Outcome:
        outcome = Outcome()
        for recipient in recipients:
            raw = self.personal_message(email, recipient)
            refused = self._deliver(recipient, raw)
            if refused:
                outcome.refused[recipient.id] = refused
        return outcome

    def _deliver(self, recipient: Recipient, raw: bytes) -> str | None:
        conn = self._live_connection()
        try:
            conn.sendmail(self.publication.sender.address, [recipient.email], raw)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients[recipient.email]
            return f"{code} {text.decode(errors='replace')}"
        except smtplib.SMTPResponseException as exc:
            raise _smtp_error(exc) from None
        except (OSError, smtplib.SMTPException) as exc:
            # Lost mid-message: the server may have taken it before the line dropped.
            self._drop()
            raise TransportUnavailable(f"SMTP connection lost while sending: {exc}",
                                       not_sent=False) from None
        return None

    def _live_connection(self) -> smtplib.SMTP:
        """This thread's connection, checked with NOOP before reuse.

        Servers close idle connections and cap messages per connection; finding that out
        with NOOP, before a message starts, makes reconnecting safe: nothing was sent.
        """
        for _ in range(self.RECONNECTS):
            conn = self._connection()
            if getattr(self.local, "fresh", False):
                self.local.fresh = False
                return conn
            try:
                if conn.noop()[0] == 250:
                    return conn
            except (OSError, smtplib.SMTPException):
                pass
            self._drop()
        return self._connection()

    def _connection(self) -> smtplib.SMTP:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self._open()
            self.local.conn, self.local.fresh = conn, True
            self.connections.append(conn)
        return conn

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context(cafile=s.ca_file)
        try:
            if s.security == "tls":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                                      context=context)
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.security == "starttls":
                    conn.starttls(context=context)
            if s.username:
                conn.login(s.username, s.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise TransportRejected(f"SMTP login refused: {exc.smtp_code}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportUnavailable(f"cannot connect to SMTP {s.host}:{s.port}: {exc}",
                                       not_sent=True) from None
        return conn

    def _drop(self) -> None:
        conn = getattr(self.local, "conn", None)
        self.local.conn = None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        for conn in self.connections:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                conn.quit()
        self.connections.clear()


def _smtp_error(exc: smtplib.SMTPResponseException) -> Exception:
    text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) \
        else str(exc.smtp_error)
    if 400 <= exc.smtp_code < 500:
        return TransportUnavailable(f"SMTP {exc.smtp_code} {text}", not_sent=True)
    return TransportRejected(f"SMTP {exc.smtp_code} {text}")


class SendGridTransport(Transport):
    """Up to 1,000 personalizations a request through the official ``sendgrid`` package."""

    name = "sendgrid"
    can_schedule = True
    DEFAULT_HOST = "https://api.sendgrid.com"

    def __init__(self, publication: Publication, personalizer: Personalizer, api_key: str,
                 host: str | None = None) -> None:
        from sendgrid import SendGridAPIClient  # imported here: only this transport needs it

        super().__init__(publication, personalizer)
        if not api_key:
            raise ConfigError("SENDGRID_API_KEY is not set")
        self.client = SendGridAPIClient(api_key=api_key, host=host or self.DEFAULT_HOST)
        # The package has no timeout of its own: a hung server would hang the send.
        self.client.client.timeout = publication.delivery.timeout
        self.asm = publication.delivery.asm_group_id
        self._base: tuple[Email, dict[str, Any]] | None = None
        self.timing: Timing | None = None
        self._local_at: dict[str | None, int] = {}  # timezone -> that zone's send time
        self._now = 0.0

    def schedule(self, timing: Timing) -> None:
        self.timing, self._base, self._local_at = timing, None, {}

    def create_batch(self) -> str:
        """A new batch id, which lets the scheduled send be cancelled later."""
        response = self._call(lambda: self.client.client.mail.batch.post())
        return str(json.loads(response.body)["batch_id"])

    def cancel(self, batch_id: str) -> None:
        body = {"batch_id": batch_id, "status": "cancel"}
        self._call(lambda: self.client.client.user.scheduled_sends.post(request_body=body))

    def send(self, email: Email, recipients: Sequence[Recipient]) -> Outcome:
        body = dict(self.base_payload(email))
        issue = email.date.isoformat()
        self._now = time.time()  # readers whose local time has passed get it at once
        body["personalizations"] = [self.personalization(issue, r) for r in recipients]
        return Outcome(provider_id=self._post(body))

    def base_payload(self, email: Email) -> dict[str, Any]:
        """Everything but the recipients: built once per email, shared by every request."""
        if self._base is None or self._base[0] is not email:
            self._base = (email, self._build_base(email))
        return self._base[1]

    def _build_base(self, email: Email) -> dict[str, Any]:
        pub, html, text = self.publication, email.html, email.text
        if self.asm:
            # SendGrid fills this tag with the recipient's own group-unsubscribe link.
            html, text = (part.replace(UNSUBSCRIBE_TOKEN, ASM_UNSUBSCRIBE) for part in (html, text))
        body: dict[str, Any] = {
            "from": {"email": pub.sender.address, "name": pub.sender.name},
            "subject": email.subject,
            "content": [{"type": "text/plain", "value": text},
                        {"type": "text/html", "value": html}],
            "categories": [*pub.delivery.categories, f"issue-{email.date.isoformat()}"][:10],
        }
        if pub.reply_to:
            body["reply_to"] = {"email": pub.reply_to}
        if self.timing is not None:
            body["batch_id"] = self.timing.batch_id
            if self.timing.send_at is not None:
                body["send_at"] = int(self.timing.send_at.timestamp())
        if self.asm:
            body["asm"] = {"group_id": self.asm}
        else:
            body["headers"] = {"List-Unsubscribe-Post": ONE_CLICK}
        return body

    def personalization(self, issue: str, recipient: Recipient) -> dict[str, Any]:
        """One envelope. Runs once per recipient: a million times for a large list."""
        to = {"email": recipient.email, "name": recipient.name} if recipient.name \
            else {"email": recipient.email}
        entry: dict[str, Any] = {
            "to": [to],
            "custom_args": {"issue": issue, "subscriber": str(recipient.id)},
        }
        if self.timing is not None and self.timing.local_day is not None:
            at = self._local_time(recipient.timezone, self.timing.local_day)
            if at > self._now:
                entry["send_at"] = at
        values = self.personalizer.values(recipient)
        url = values.pop(UNSUBSCRIBE_TOKEN)
        if not self.asm:
            values[UNSUBSCRIBE_TOKEN] = url
            entry["headers"] = {"List-Unsubscribe": self.personalizer.list_unsubscribe(recipient,
                                                                                      url)}
        if values:
            entry["substitutions"] = values
        return entry

    def _local_time(self, zone: str | None, day: dt.date) -> int:
        """The send time on ``day`` in ``zone`` (the publication's when unknown), cached."""
        at = self._local_at.get(zone)
        if at is None:
            where = ZoneInfo(zone) if zone else self.publication.zone
            at = int(local_send_time(day, self.publication.send_clock, where).timestamp())
            self._local_at[zone] = at
        return at

    def _post(self, body: dict[str, Any]) -> str | None:
        response = self._call(lambda: self.client.send(body))
        return response.headers.get("X-Message-Id")

    def _call(self, request: Any) -> Any:
        """Make one API request, turning every failure into our transport errors."""
        from python_http_client.exceptions import HTTPError

        try:
            return request()
        except HTTPError as exc:
            raise _sendgrid_error(exc) from None
        except TimeoutError:
            raise TransportUnavailable(
                f"SendGrid did not answer within {self.client.client.timeout:g} s",
                not_sent=False) from None
        except urllib.error.URLError as exc:
            refused = isinstance(exc.reason, ConnectionRefusedError)
            raise TransportUnavailable(f"cannot reach SendGrid: {exc.reason}",
                                       not_sent=refused) from None
        except (ConnectionError, http.client.HTTPException) as exc:
            raise TransportUnavailable(f"connection to SendGrid failed: {exc!r}",
                                       not_sent=False) from None


def _sendgrid_error(exc: Any) -> Exception:
    status = int(exc.status_code)
    detail = _error_messages(exc.body)
    message = f"SendGrid answered {status}" + (f": {detail}" if detail else "")
    if status == 429 or status >= 500:
        return TransportUnavailable(message, retry_after=_retry_after(exc.headers),
                                    not_sent=True)
    return TransportRejected(message)


def _error_messages(body: bytes | str | None) -> str:
    try:
        errors = json.loads(body or b"{}").get("errors") or []
    except (ValueError, AttributeError):
        return ""
    parts = []
    for error in errors[:3]:
        field_name = error.get("field")
        parts.append(f"{error.get('message', '?')}" + (f" ({field_name})" if field_name else ""))
    return "; ".join(parts)


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait, from Retry-After or SendGrid's X-RateLimit-Reset (a Unix time)."""
    if headers is None:
        return None
    value = headers.get("Retry-After")
    if value and value.strip().isdigit():
        return float(value)
    reset = headers.get("X-RateLimit-Reset")
    if reset and reset.strip().isdigit():
        return max(0.0, float(reset) - time.time())
    return None
