"""The outbox: one .eml file per recipient in a folder.

The default transport when no provider is configured, so a fresh checkout can run the
whole send (ledger included) and an editor can open what each reader would get.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from newsletter.delivery.transports.base import Options, Outcome, Setup, Transport
from newsletter.email.render import Email
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
        for recipient in recipients:
            name = re.sub(r"[^a-z0-9@._+-]", "_", recipient.key) + ".eml"
            write_atomic(target / name, self.personal_message(email, recipient))
        return Outcome(provider_id=str(target))
