"""The outbox: one .eml file per recipient in a folder.

The default transport when no provider is configured, so a fresh checkout can run the
whole send (ledger included) and an editor can open what each reader would get. Files are
named by a hash of the address (:func:`file_name`), never the address itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from newsletter import redact
from newsletter.delivery.providers.base import MessageError, Options, Outcome, Setup, Transport
from newsletter.email.message import Notice
from newsletter.email.render import Email
from newsletter.errors import OutputError
from newsletter.files import write_atomic
from newsletter.store.recipient import Recipient


class OutboxTransport(Transport):
    name = "outbox"

    def __init__(self, setup: Setup, options: Options) -> None:
        super().__init__(setup, options)
        self.folder = setup.outbox

    @classmethod
    def needs_secret(cls, options: Options) -> bool:
        return False  # nothing leaves the machine: the development key will do

    def send(self, email: Email, recipients: Sequence[Recipient]) -> Outcome:
        target = self.folder / email.date.isoformat()
        outcome = Outcome(provider_id=str(target))
        for position, recipient in enumerate(recipients):
            try:
                message = self.personal_message(email, recipient)
            except MessageError as exc:
                outcome.refused[recipient.id] = redact.addresses(str(exc))
                continue
            try:
                write_atomic(target / file_name(recipient.key), message.raw)
            except OutputError as exc:
                # The folder itself failed (full, read-only): this and the rest never left.
                for rest in recipients[position:]:
                    outcome.not_sent[rest.id] = str(exc)
                break
        return outcome

    def send_notice(self, notice: Notice) -> None:
        """A notice goes to ``notices/`` in the outbox, named by when, what and (hashed)
        to whom."""
        message = self.notice_message(notice)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        write_atomic(self.folder / "notices" / f"{stamp}-{notice.kind}-"
                     f"{file_name(notice.to_email)}", message.raw)


def file_name(address: str) -> str:
    """The file name for an address: a hash of it, the same for every spelling of its
    case, so that a repeated run rewrites the same file and a listing of the folder, a CI
    artifact or an error message about a file names no reader. It is the same length for
    every address, so the longest valid one (254 characters) fits the file system."""
    digest = hashlib.sha256(address.lower().encode()).hexdigest()[:32]
    return f"{digest}.eml"
