"""SMTP: one personalised message per recipient, over one reused connection per thread.

Server settings come from the environment (SMTP_HOST, SMTP_PORT, SMTP_SECURITY,
SMTP_USERNAME, SMTP_PASSWORD, SMTP_CA_FILE); the batch size and timeout from
``delivery.smtp`` in newsletter.yaml. Batches are one message by default, so the ledger
knows each message's fate exactly. What a relay says is kept (ledger, report, log) with
every address in it replaced by a placeholder (newsletter/redact.py).
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, NamedTuple

from pydantic import Field

from newsletter import redact
from newsletter.delivery.providers.base import (
    MessageError,
    Options,
    Outcome,
    Personal,
    Setup,
    Transport,
    final,
)
from newsletter.delivery.providers.smtp.settings import SmtpEnvironment
from newsletter.email.addresses import for_wire
from newsletter.email.message import Notice
from newsletter.email.render import Email
from newsletter.errors import ConfigError, TransportRejected, TransportUnavailable
from newsletter.store.recipient import Recipient


class Refusal(NamedTuple):
    """A server's refusal of one recipient: its reply code and its words (redacted)."""

    code: int
    reason: str


# A message that cannot be written for this reader (or an address this server cannot
# take): as final as a 5yz reply, since sending again changes nothing.
CANNOT_WRITE = 554


class SmtpOptions(Options):
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 1


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
    def from_env(cls, env: SmtpEnvironment, timeout: float) -> SmtpSettings:
        security = (env.security or "starttls").lower()
        if security not in ("starttls", "tls", "none"):
            raise ConfigError(f"SMTP_SECURITY must be starttls, tls or none, not {security!r}")
        default_port = {"starttls": 587, "tls": 465, "none": 25}[security]
        try:
            port = int(env.port or default_port)
        except ValueError:
            raise ConfigError("SMTP_PORT must be a number") from None
        return cls(env.host, port, security, env.username or None, env.password or None,
                   timeout, env.ca_file or None)


class SmtpTransport(Transport):
    """One personalised message per recipient over one reused connection per thread."""

    name = "smtp"
    options_model = SmtpOptions
    RECONNECTS = 2

    def __init__(self, setup: Setup, options: Options) -> None:
        super().__init__(setup, options)
        settings = SmtpSettings.from_env(SmtpEnvironment.read(setup.env), options.timeout)
        if not settings.host:
            raise ConfigError("SMTP_HOST is not set")
        self.settings = settings
        self.sender = for_wire(self.publication.sender.address).address
        self.local = threading.local()
        self.connections: list[smtplib.SMTP] = []

    def send(self, email: Email, recipients: Sequence[Recipient]) -> Outcome:
        outcome = Outcome()
        for position, recipient in enumerate(recipients):
            try:
                refusal = self._one(email, recipient)
            except TransportUnavailable as exc:
                if position == 0 or not exc.not_sent:
                    raise
                # Some of the batch went; the rest surely did not: keep both facts.
                outcome.not_sent.update({r.id: str(exc) for r in recipients[position:]})
                return outcome
            if refusal:
                outcome.answered(recipient.id, *refusal)
        return outcome

    def send_notice(self, notice: Notice) -> None:
        refusal = self._deliver(self.notice_message(notice))
        if refusal:
            code, reason = refusal
            raise TransportRejected(reason) if final(code) else \
                TransportUnavailable(reason, not_sent=True)

    def _one(self, email: Email, recipient: Recipient) -> Refusal | None:
        """Send one recipient's message; the server's refusal, if it refused it."""
        try:
            message = self.personal_message(email, recipient)
        except MessageError as exc:
            return Refusal(CANNOT_WRITE, redact.addresses(str(exc)))
        return self._deliver(message)

    def _deliver(self, message: Personal) -> Refusal | None:
        conn = self._live_connection()
        options = ["SMTPUTF8"] if message.utf8 else []
        try:
            if message.utf8 and not self._offers_smtputf8(conn):
                return Refusal(CANNOT_WRITE, "the address needs SMTPUTF8 (it is not ASCII), "
                                             "which the SMTP server does not offer")
            conn.sendmail(self.sender, [message.envelope_to], message.raw, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            # The server's words are kept (redacted), with whether they are final: a 4xx
            # (greylisting, say) holds the reader for a later batch, a 5xx fails them.
            code, text = next(iter(exc.recipients.values()))
            words = redact.addresses(f"{code} {text.decode(errors='replace')}")
            return Refusal(code, words if not final(code) else
                           f"{words} (refused for good: sending again will not reach them)")
        except smtplib.SMTPResponseException as exc:
            raise _smtp_error(exc) from None
        except (OSError, smtplib.SMTPException) as exc:
            # Lost mid-message: the server may have taken it before the line dropped.
            self._drop()
            raise TransportUnavailable("SMTP connection lost while sending: "
                                       f"{redact.addresses(str(exc))}", not_sent=False) from None
        return None

    @staticmethod
    def _offers_smtputf8(conn: smtplib.SMTP) -> bool:
        try:
            conn.ehlo_or_helo_if_needed()  # what the server offers is known after EHLO
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportUnavailable(f"SMTP server did not answer EHLO: {exc}",
                                       not_sent=True) from None
        return bool(conn.has_extn("smtputf8"))

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
    text = redact.addresses(text)  # a relay's words often quote the address
    if 400 <= exc.smtp_code < 500:
        return TransportUnavailable(f"SMTP {exc.smtp_code} {text}", not_sent=True)
    return TransportRejected(f"SMTP {exc.smtp_code} {text}")
