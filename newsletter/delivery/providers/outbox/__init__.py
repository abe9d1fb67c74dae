"""The outbox: one .eml file a reader in a folder. Needs nothing, so it is what ``auto``
takes when no other provider is set up."""

from newsletter.delivery.providers.base import Provider
from newsletter.delivery.providers.outbox.transport import OutboxTransport


def _always(_env: object) -> bool:
    return True


PROVIDER = Provider("outbox", OutboxTransport, _always, needs="", keeps_files=True)
