"""What every transport is: something that sends one rendered email to a batch of readers.

A transport takes the email (rendered once, with tokens) and a batch of recipients, and
either delivers the whole batch or raises: TransportRejected when the provider refused the
request itself (retrying cannot help), TransportUnavailable when it may work later.

What only some transports can do is a capability they declare, not a method every one
carries: :meth:`Transport.scheduler` gives a :class:`Scheduler` (deliver later, cancel)
where the provider has one, and None elsewhere. The send asks for the capability and
says plainly when it is missing, rather than sending at the wrong time.

Transport modules are the only code that touches the outside world; tests put real
local servers behind them.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar, Protocol

from pydantic import Field

from newsletter.config import Environment
from newsletter.content.schema import Strict
from newsletter.content.settings import Publication
from newsletter.delivery.dates import Timing
from newsletter.delivery.personalize import Personalizer, Recipient, fill
from newsletter.email import message
from newsletter.email.addresses import for_wire, header_address
from newsletter.email.render import Email
from newsletter.errors import ConfigError, TransportRejected

ONE_CLICK = "List-Unsubscribe=One-Click"


@dataclass
class Outcome:
    """What became of a batch: the provider's id for it, the recipients it refused for
    good (recorded failed, with why), those it asked us to try again later (a 4xx answer
    such as greylisting: held for a later batch, with the server's words), and those that
    surely never left because the transport stopped part-way (left pending, for the next
    run)."""

    provider_id: str | None = None
    refused: dict[int, str] = field(default_factory=dict)
    not_sent: dict[int, str] = field(default_factory=dict)
    deferred: dict[int, str] = field(default_factory=dict)

    def answered(self, recipient: int, code: int, reason: str) -> None:
        """Record a server's refusal of one recipient where :func:`final` says it goes."""
        (self.refused if final(code) else self.deferred)[recipient] = reason


def final(code: int) -> bool:
    """Whether a server's refusal of one recipient is final: the one rule for it.

    RFC 5321 4.2.1: a 5yz reply is a permanent failure (550 no such mailbox, 552 over
    quota or too large, 553 mailbox name not allowed, 554 refused), which sending again
    will not change; a 4yz reply is transient (450 greylisting or mailbox busy, 451 local
    error, 452 insufficient storage) and asks to be tried again later. A code outside
    5yz is never taken as final: a reader is held for later rather than skipped."""
    return 500 <= code <= 599


class Options(Strict):
    """A transport's own settings: the block named after it under ``delivery:`` in
    newsletter.yaml. Each transport extends this with what it needs."""

    batch_size: Annotated[int, Field(ge=1, le=1000)] = 1000
    timeout: Annotated[float, Field(gt=0, le=600)] = 30.0  # seconds to wait for an answer


@dataclass(frozen=True)
class Setup:
    """What a transport is made from: the publication, the environment, the signer of
    reader links, and the folder the outbox writes to."""

    publication: Publication
    env: Environment
    personalizer: Personalizer
    outbox: Path


class Scheduler(Protocol):
    """The capability to have the provider deliver later, and to take that back."""

    max_ahead: dt.timedelta  # the furthest ahead the provider accepts

    def create_batch(self) -> str: ...

    def deliver_later(self, timing: Timing) -> None: ...

    def cancel(self, batch_id: str) -> None: ...


class Transport(ABC):
    name: ClassVar[str]
    options_model: ClassVar[type[Options]] = Options

    def __init__(self, setup: Setup, options: Options) -> None:
        self.publication = setup.publication
        self.personalizer = setup.personalizer
        self.options = options
        self.warnings: list[str] = []  # what the person sending should hear of its setup

    @classmethod
    def needs_secret(cls, options: Options) -> bool:
        """Whether reader links must be signed with a real NEWSLETTER_SECRET: yes for
        anything that reaches real inboxes."""
        return True

    @property
    def batch_size(self) -> int:
        return self.options.batch_size

    @abstractmethod
    def send(self, email: Email, recipients: Sequence[Recipient]) -> Outcome: ...

    def close(self) -> None:  # noqa: B027 - most transports hold nothing open
        pass

    def send_notice(self, notice: message.Notice) -> None:
        """Send one message to one reader now (a confirmation email); raises
        TransportRejected or TransportUnavailable when it did not go."""
        raise self.unsupported("send a single message")

    def notice_message(self, notice: message.Notice) -> Personal:
        """A notice as a complete message (SMTP and outbox)."""
        try:
            msg = message.build_notice(notice, self.publication)
            raw = msg.as_bytes()
        except (ValueError, UnicodeError, IndexError) as exc:
            raise TransportRejected(f"cannot write a message to {notice.to_email!r}: {exc}"
                                    ) from exc
        return Personal(raw, for_wire(notice.to_email).address,
                        bool(msg.policy.utf8))  # type: ignore[attr-defined]

    def scheduler(self) -> Scheduler | None:
        """This transport's way to deliver later, or None when it has none."""
        return None

    def unsupported(self, feature: str) -> ConfigError:
        return ConfigError(f"the {self.name} transport cannot {feature}")

    def personal_message(self, email: Email, recipient: Recipient) -> Personal:
        """One complete message for one recipient, tokens filled (SMTP and outbox).

        Raises MessageError when this recipient's message cannot be written."""
        values = self.personalizer.values(recipient)
        headers = {"List-Unsubscribe": self.personalizer.list_unsubscribe(recipient),
                   "List-Unsubscribe-Post": ONE_CLICK}
        try:
            to = header_address(recipient.name, recipient.email)
            msg = message.build(email, self.publication, to=to,
                                html=fill(email.html, values), text=fill(email.text, values),
                                headers=headers)
            raw = msg.as_bytes()
        except (ValueError, UnicodeError, IndexError) as exc:
            raise MessageError(f"cannot write a message to {recipient.email!r}: {exc}") from exc
        utf8 = msg.policy.utf8  # type: ignore[attr-defined]
        return Personal(raw, for_wire(recipient.email).address, bool(utf8))


class MessageError(Exception):
    """One recipient's message cannot be written: that recipient fails, the batch goes on."""


@dataclass(frozen=True)
class Personal:
    raw: bytes
    envelope_to: str  # the address for RCPT TO, in its wire form
    utf8: bool  # needs SMTPUTF8
