"""What a provider is made of, and what every transport is.

A :class:`Provider` is one package under ``delivery/providers/``: its settings, its
:class:`Transport`, and where the provider has them a :class:`Scheduler` (the transport's
``scheduler()``), a :class:`Webhook` (verify a post, parse its events into ours) and a
:class:`SuppressionSource` (the lists of addresses it will not mail) and a
:class:`StatsSource` (its own figures of each issue, for ``stats sync``). The registry
(``providers/registry.py``) lists the providers and is the only module that imports one.

A transport is something that sends one rendered email to a batch of readers.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Generic, Protocol, TypeGuard, TypeVar

from pydantic import Field

from newsletter.config import Environment
from newsletter.content.schema import Strict
from newsletter.content.settings import Publication
from newsletter.delivery.dates import Timing
from newsletter.delivery.personalize import Personalizer, Recipient, fill
from newsletter.email import message
from newsletter.email.addresses import for_wire, header_address
from newsletter.email.render import Email
from newsletter.errors import ConfigError, NewsletterError, TransportRejected
from newsletter.store.states import Status
from newsletter.store.vocabulary import Detail, Event, Kind

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
    reader links, and the folder for a transport that writes files."""

    publication: Publication
    env: Environment
    personalizer: Personalizer
    outbox: Path


class Scheduler(Protocol):
    """The capability to have the provider deliver later, and to take that back: every
    message of an issue's scheduled send carries one handle of the provider's, made by
    :meth:`new_handle`, and :meth:`cancel` takes back all that carry it."""

    max_ahead: dt.timedelta  # the furthest ahead the provider accepts

    def new_handle(self) -> str: ...

    def deliver_later(self, timing: Timing) -> None: ...

    def cancel(self, handle: str) -> None: ...


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

    def set_concurrency(self, requests: int) -> None:  # noqa: B027 - most keep nothing open
        """The most requests the send will make at once, said before it makes any: a
        transport that keeps connections open keeps that many."""

    def close(self) -> None:  # noqa: B027 - most transports hold nothing open
        pass

    def send_notice(self, notice: message.Notice) -> None:
        """Send one message to one reader now (a confirmation email); raises
        TransportRejected or TransportUnavailable when it did not go."""
        raise self.unsupported("send a single message")

    def notice_message(self, notice: message.Notice) -> Personal:
        """A notice as a complete message (for transports that send whole messages)."""
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

    def message_date(self) -> dt.datetime:
        """The ``Date`` of a message this transport writes itself: now, as it is made
        (every transport that writes whole messages delivers them at once). One that
        wrote whole messages and had the provider deliver them later would give the
        scheduled time here."""
        return dt.datetime.now(self.publication.zone).replace(microsecond=0)

    def personal_message(self, email: Email, recipient: Recipient) -> Personal:
        """One complete message for one recipient, tokens filled (for transports that send
        whole messages), dated :meth:`message_date`.

        Raises MessageError when this recipient's message cannot be written."""
        values = self.personalizer.values(recipient)
        headers = {"List-Unsubscribe": self.personalizer.list_unsubscribe(recipient),
                   "List-Unsubscribe-Post": ONE_CLICK}
        try:
            to = header_address(recipient.name, recipient.email)
            msg = message.build(email, self.publication, to=to,
                                html=fill(email.html, values), text=fill(email.text, values),
                                headers=headers, date=self.message_date())
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


# -- the webhook ---------------------------------------------------------------------------

class Refused(NewsletterError):
    """A post that is not the provider's, or not now. ``status`` is the HTTP answer, so
    the service answers by the exception's type, never by its wording."""

    status: ClassVar[int] = 400


class Unsigned(Refused):
    """No signature (or no timestamp): not from the provider, or not set up there."""

    status = 401


class BadSignature(Refused):
    """A signature that is malformed or does not verify over this body."""

    status = 401


class BadTimestamp(Refused):
    """A timestamp that is not a time, or too far from now (a replay, or a clock to fix)."""


class BadBody(Refused):
    """A signed body that is not what the provider documents."""


Admitted = TypeVar("Admitted")


class Webhook(ABC, Generic[Admitted]):
    """A provider's event webhook, which the readers' service mounts at ``/webhooks/NAME``.

    Two steps, so that a post that cannot be the provider's costs nothing but its
    headers: :meth:`admit` looks at the headers alone (raising :class:`Refused`) and
    returns what the second step needs; :meth:`events` verifies the body against that and
    turns it into events in our words (raising :class:`Refused` too)."""

    max_body: ClassVar[int] = 1024 * 1024  # the largest body the service reads

    @abstractmethod
    def admit(self, headers: Mapping[str, str], now: dt.datetime) -> Admitted: ...

    @abstractmethod
    def events(self, admitted: Admitted, body: bytes) -> list[Event]: ...


# -- the suppression lists -----------------------------------------------------------------

@dataclass(frozen=True)
class SuppressionList:
    """One list a provider keeps of addresses it will not mail, and the status it gives
    those readers here."""

    name: str
    status: Status  # bounced, complained or unsubscribed


class SuppressionSource(Protocol):
    """The provider's suppression lists, read since a time (``suppressions sync``)."""

    def lists(self) -> Sequence[SuppressionList]: ...

    def read(self, listed: SuppressionList, since: int, until: int) -> list[str]:
        """The addresses put on the list from ``since`` to ``until`` (Unix times), every
        page of them; a DeliveryError, before anything is returned, for a reply that is
        not what the provider documents."""
        ...


# -- the statistics ------------------------------------------------------------------------

# kind -> detail (None where the provider gives none) -> count, in our words
IssueStats = dict[Kind, dict[Detail | None, int]]


class StatsSource(Protocol):
    """The provider's own statistics of each issue (``stats sync``), for publications
    whose readers' service receives no webhook."""

    where: str  # what is asked, in the provider's words, for messages

    def issue(self, day: dt.date, today: dt.date, following: dt.date | None
              ) -> IssueStats | None:
        """What the provider counted of the issue of ``day`` up to ``today`` (UTC);
        ``following`` is the next issue sent after it, for a provider that can only count
        by day. None when the provider has nothing for that issue. A DeliveryError, with
        nothing returned, for a refusal or a reply that is not what it documents."""
        ...


# -- the provider --------------------------------------------------------------------------

@dataclass(frozen=True)
class Provider:
    """One provider, as its package declares it to the registry."""

    name: str  # its name on the command line, in newsletter.yaml and in /webhooks/NAME
    transport: type[Transport]
    configured: Callable[[Environment], bool]  # its own "am I set up" check
    needs: str  # what sets it up, for messages (its API key's variable); "" for nothing
    # The webhook when the environment sets one up, else None; a ConfigError when it is
    # set up wrong.
    webhook: Callable[[Environment], Webhook[Any] | None] | None = None
    # The suppression lists, read through a transport made for the purpose.
    suppressions: Callable[[Transport], SuppressionSource] | None = None
    # Its own statistics of each issue, read through a transport made for the purpose.
    stats: Callable[[Transport], StatsSource] | None = None
    keeps_files: bool = False  # writes its messages into the folder it is given

    @property
    def fallback(self) -> bool:
        """Needs nothing, so ``auto`` takes it only when no other provider is set up."""
        return not self.needs


def said(item: Mapping[str, Any], field: str) -> str | None:
    """A provider's words in an event's ``field``, as they can be kept (:func:`stored`)."""
    return stored(item.get(field))


# What stands for a NUL in a provider's text (U+FFFD, Unicode's replacement character).
# PostgreSQL's text types refuse U+0000 where SQLite keeps it, and one such value failed
# the whole post, at every retry. It is replaced rather than dropped: "ann\0@example.org"
# made "ann@example.org" would bounce a reader the provider never named, an id or an
# issue would become another's; a replaced value matches nothing of ours, and shows where
# the character was.
NUL_STANDS_FOR = "\ufffd"


def stored(value: Any) -> str | None:
    """A provider's text as either database keeps it: each NUL replaced (NUL_STANDS_FOR);
    None for a value that is not a non-empty string, or that no encoding takes (JSON's
    ``\ud800`` escapes make lone surrogates). Every webhook reads its events' text
    through this, so what the database is given is the same on SQLite and PostgreSQL."""
    if not storable(value):
        return None
    return value.replace("\x00", NUL_STANDS_FOR)


def storable(value: Any) -> TypeGuard[str]:
    """A non-empty string that can be encoded: JSON's ``\ud800`` escapes make strings
    that no database encoding takes. (It may still hold a NUL: keep it through
    :func:`stored`.)"""
    if not isinstance(value, str) or not value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
