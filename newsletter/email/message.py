"""Email -> a complete MIME message (multipart/alternative, text/plain first, html last).

Every header is derived from the inputs, including the MIME boundary and Message-ID, so
the same issue gives the same bytes: a rebuilt ``email.eml`` diffs clean in review.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from newsletter.content.settings import Publication
from newsletter.email.addresses import for_wire, header_address
from newsletter.email.render import Email
from newsletter.timing import send_instant

PLACEHOLDER_TO = "undisclosed-recipients:;"
# Long URLs in List-Unsubscribe have no space to fold at; with the usual 78-column limit
# the email package would turn them into encoded-words that no client can follow.
POLICY = policy.SMTP.clone(max_line_length=998)
# For a recipient (or sender) whose address cannot be written in ASCII: UTF-8 headers.
UTF8_POLICY = POLICY.clone(utf8=True)


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
) -> EmailMessage:
    """A message for ``to``; ``html``/``text`` replace the email's (personalised) bodies.

    Its policy writes UTF-8 headers when an address needs them (see addresses.py)."""
    sender = publication.sender
    addresses = {"From": header_address(sender.name, sender.address), "To": to}
    if publication.reply_to:
        addresses["Reply-To"] = header_address(None, publication.reply_to)
    utf8 = not all(value.isascii() for value in addresses.values())
    msg = EmailMessage(policy=UTF8_POLICY if utf8 else POLICY)
    for name, value in addresses.items():
        msg[name] = value
    msg["Subject"] = email.subject
    msg["Date"] = format_datetime(send_datetime(email, publication))
    msg["Message-ID"] = message_id(email, publication, to)
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text if text is not None else email.text, subtype="plain",
                    cte="quoted-printable")
    msg.add_alternative(html if html is not None else email.html, subtype="html",
                        cte="quoted-printable")
    msg.set_boundary(f"=={email.digest[:32]}==")
    return msg


def message_id(email: Email, publication: Publication, to: str) -> str:
    domain = for_wire(publication.sender.address).address.rpartition("@")[2]
    token = hashlib.sha256(f"{email.digest}\0{to}".encode()).hexdigest()[:20]
    return f"<{email.date.isoformat()}.{token}@{domain}>"
