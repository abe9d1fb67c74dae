"""A fourth provider, made for the tests: every part a provider package has (settings read
from the environment, a transport, a webhook, a suppression source), in a few lines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import ClassVar

from newsletter.config import Environment
from newsletter.delivery.providers.base import (
    Options,
    Outcome,
    Provider,
    SuppressionList,
    Transport,
    Unsigned,
    Webhook,
)
from newsletter.email.render import Email
from newsletter.store.events import Event, Kind
from newsletter.store.recipient import Recipient
from newsletter.store.states import Status


class PigeonTransport(Transport):
    name = "pigeon"
    carried: ClassVar[list[str]] = []

    @classmethod
    def needs_secret(cls, options: Options) -> bool:
        return False

    def send(self, email: Email, recipients: Sequence[Recipient]) -> Outcome:
        self.carried.extend(r.email for r in recipients)
        return Outcome(provider_id="loft")


class PigeonWebhook(Webhook[str]):
    """Posts carry the loft's password in a header, and one event a line: id, word,
    address."""

    def __init__(self, password: str) -> None:
        self.password = password

    def admit(self, headers: Mapping[str, str], now: dt.datetime) -> str:
        if headers.get("X-Loft") != self.password:
            raise Unsigned("not from the loft")
        return self.password

    def events(self, admitted: str, body: bytes) -> list[Event]:
        words = {"landed": Kind.DELIVERED, "pecked": Kind.COMPLAINED}
        return [Event(i, words[word], address, "2024-07-23", None)
                for i, word, address in (line.split() for line in body.decode().splitlines())]


class PigeonLists:
    lost: ClassVar[list[str]] = []

    def lists(self) -> Sequence[SuppressionList]:
        return [SuppressionList("lost", Status.BOUNCED)]

    def read(self, listed: SuppressionList, since: int, until: int) -> list[str]:
        return list(self.lost)


def pigeon_webhook(environment: Environment) -> PigeonWebhook | None:
    password = environment.get("PIGEON_LOFT")
    return PigeonWebhook(password) if password else None


PIGEON = Provider("pigeon", PigeonTransport, lambda e: bool(e.get("PIGEON_KEY")),
                  needs="PIGEON_KEY", webhook=pigeon_webhook,
                  suppressions=lambda transport: PigeonLists())
