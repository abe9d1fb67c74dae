"""Email -> a complete MIME message (multipart/alternative, text/plain first, html last).

Every header is derived from the inputs, including the MIME boundary and Message-ID, so
the same issue gives the same bytes: a rebuilt ``email.eml`` diffs clean in review. The
one exception is ``Date`` on a message that is sent: it says when the message was made
(``date=``, given by the transport), never the issue's scheduled time, or a late or
resumed send would arrive dated days ago (and spam filters score a date in the past). A
build, which nobody receives, is dated at the issue's send time and stays reproducible.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, formatdate
from typing import Any

from newsletter.content.settings import Publication
from newsletter.email.addresses import for_wire, header_address
from newsletter.email.render import Email
from newsletter.safetext import one_line
from newsletter.timing import send_instant

PLACEHOLDER_TO = "undisclosed-recipients:;"
_URL_LISTS = {"list-unsubscribe", "list-unsubscribe-post"}
_ADDRESS_HEADERS = {"from", "to", "reply-to"}
_BETWEEN_ITEMS = re.compile(r",(?![^<]*>)")  # a comma not inside angle brackets


class WirePolicy(EmailPolicy):
    """Headers folded at 78 columns as RFC 5322 asks, with two exceptions.

    The URL lists of List-Unsubscribe: a long URL has no space to fold at, and the email
    package would turn it into encoded words no client follows. Those are folded between
    their items and otherwise left as written (RFC 5322 allows up to 998 characters a
    line).

    The address headers (From, To, Reply-To): their values come from
    ``addresses.header_address``, quoted, encoded and folded already, and are written as
    they are. Reading one back (``msg["To"]``) parses it as usual."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if name.lower() in _ADDRESS_HEADERS and isinstance(value, str):
            return name, value  # kept as written (it may be folded already)
        return super().header_store_parse(name, value)

    def fold(self, name: str, value: str) -> str:
        if name.lower() in _URL_LISTS:
            return self._between_items(name, value)
        if name.lower() in _ADDRESS_HEADERS and not hasattr(value, "name"):
            return self._as_written(name, value)
        return str(super().fold(name, value))

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in _URL_LISTS:
            return self._between_items(name, value).encode("utf-8" if self.utf8 else "ascii")
        if name.lower() in _ADDRESS_HEADERS and not hasattr(value, "name"):
            return self._as_written(name, value).encode("utf-8" if self.utf8 else "ascii")
        return super().fold_binary(name, value)

    def _between_items(self, name: str, value: str) -> str:
        # Between the <...> items only: a comma inside a URL is part of it.
        items = [item.strip() for item in _BETWEEN_ITEMS.split(str(value)) if item.strip()]
        return f"{name}: " + f",{self.linesep} ".join(items) + self.linesep

    def _as_written(self, name: str, value: str) -> str:
        return f"{name}: " + self.linesep.join(value.splitlines()) + self.linesep


POLICY = WirePolicy(linesep="\r\n")
# For a recipient (or sender) whose address cannot be written in ASCII: UTF-8 headers.
UTF8_POLICY = POLICY.clone(utf8=True)
# The bodies are encoded under RFC 2045's limit: quoted-printable lines of 76 at most.
BODY_POLICY = policy.SMTP.clone(max_line_length=76)


def send_datetime(email: Email, publication: Publication) -> dt.datetime:
    """When the issue is due: its date at the publication's send time, in its timezone."""
    return send_instant(email.date, publication.send_clock, publication.zone)


def build(
    email: Email,
    publication: Publication,
    *,
    to: str = PLACEHOLDER_TO,
    html: str | None = None,
    text: str | None = None,
    headers: Mapping[str, str] | None = None,
    date: dt.datetime | None = None,
) -> EmailMessage:
    """A message for ``to``; ``html``/``text`` replace the email's (personalised) bodies.
    ``date`` (aware) is when it is sent; without one, the issue's send time (a build).

    Its policy writes UTF-8 headers when an address needs them (see addresses.py)."""
    msg = _addressed(publication, to)
    msg["Subject"] = email.subject
    msg["Date"] = format_datetime(date or send_datetime(email, publication))
    msg["Message-ID"] = message_id(email, publication, to)
    msg["List-Id"] = list_id(publication)
    for name, value in (headers or {}).items():
        msg[name] = value
    _add_bodies(msg, text if text is not None else email.text,
                html if html is not None else email.html)
    msg.set_boundary(f"=={email.digest[:32]}==")
    return msg


def list_id(publication: Publication) -> str:
    """RFC 2919's List-Id: the publication's name, and an id under the sender's domain
    that stays the same from issue to issue."""
    local, _, domain = for_wire(publication.sender.address).address.rpartition("@")
    label = "".join(c if c.isascii() and (c.isalnum() or c in "-") else "-" for c in local)
    name = one_line(publication.name).replace("\\", "").replace('"', "'")
    ident = f"<{label.strip('-') or 'newsletter'}.{domain}>"
    # The phrase is optional; one that is not ASCII would need an encoded word: leave it.
    return f'"{name}" {ident}' if name.isascii() else ident


def message_id(email: Email, publication: Publication, to: str) -> str:
    domain = for_wire(publication.sender.address).address.rpartition("@")[2]
    token = hashlib.sha256(f"{email.digest}\0{to}".encode()).hexdigest()[:20]
    return f"<{email.date.isoformat()}.{token}@{domain}>"


@dataclass(frozen=True)
class Notice:
    """One message to one reader, outside any issue: the email that asks them to confirm
    their subscription. Rendered by the caller; sent by any transport."""

    to_email: str
    to_name: str | None
    subject: str
    text: str
    html: str
    kind: str = "notice"  # names it for the provider (a category) and in file names


def build_notice(notice: Notice, publication: Publication) -> EmailMessage:
    """The complete message for a notice: from the publication, dated now, its own id."""
    msg = _addressed(publication, header_address(notice.to_name, notice.to_email))
    msg["Subject"] = one_line(notice.subject)
    msg["Date"] = formatdate(usegmt=True)
    domain = for_wire(publication.sender.address).address.rpartition("@")[2]
    msg["Message-ID"] = f"<{notice.kind}.{uuid.uuid4().hex}@{domain}>"
    # RFC 3834: made by a program, so vacation responders do not answer it.
    msg["Auto-Submitted"] = "auto-generated"
    _add_bodies(msg, notice.text, notice.html)
    return msg


def _addressed(publication: Publication, to: str) -> EmailMessage:
    """A message from the publication to ``to`` (a header value), Reply-To set. Its
    policy writes UTF-8 headers when an address needs them (see addresses.py)."""
    sender = publication.sender
    addresses = {"From": header_address(sender.name, sender.address), "To": to}
    if publication.reply_to:
        addresses["Reply-To"] = header_address(None, publication.reply_to)
    utf8 = not all(value.isascii() for value in addresses.values())
    msg = EmailMessage(policy=UTF8_POLICY if utf8 else POLICY)
    for name, value in addresses.items():
        msg[name] = value
    return msg


def _add_bodies(msg: EmailMessage, text: str, html: str) -> None:
    """The text and HTML parts, encoded under the 76-character policy; then the headers
    get their own policy back (the parts keep their encoded bodies; only header folding
    reads the policy later)."""
    header_policy = msg.policy
    msg.policy = BODY_POLICY.clone(utf8=header_policy.utf8)  # type: ignore[attr-defined]
    msg.set_content(text, subtype="plain", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    msg.policy = header_policy
