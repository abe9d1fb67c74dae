"""The per-recipient parts of an email: unsubscribe and manage links and greeting, as
token values.

The email is rendered once with tokens in it; a provider substitutes them per recipient
(its substitutions) or the transport does (one whole message a reader). The links' tokens (see
tokens.py) are an HMAC of the reader's random link key under ``NEWSLETTER_SECRET``: verifiable
without a database lookup, and cheap enough (a few microseconds) for a million recipients.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from html import escape
from urllib.parse import urlsplit, urlunsplit

from newsletter.clicks import READER
from newsletter.config import SECRET_ENV, Environment
from newsletter.content import richtext
from newsletter.content.settings import Publication
from newsletter.email.render import (
    GREETING_HTML_TOKEN,
    GREETING_TOKEN,
    MANAGE_TOKEN,
    UNSUBSCRIBE_TOKEN,
)
from newsletter.errors import ConfigError
from newsletter.store.recipient import Recipient
from newsletter.tokens import DEV_SECRET, Signer, sign, verify

__all__ = ["DEV_SECRET", "Personalizer", "Recipient", "fill", "sign", "signing_key", "verify"]



def signing_key(env: Environment, *, required: bool) -> bytes:
    """The key that signs reader links: NEWSLETTER_SECRET, or the development key where
    a real one is not ``required``."""
    if env.secret:
        return env.secret.encode()
    if required:
        raise ConfigError(f"{SECRET_ENV} is not set: it signs the unsubscribe links "
                          "(set a long random value, and keep it)")
    return DEV_SECRET


class Personalizer:
    def __init__(self, publication: Publication, secret: bytes) -> None:
        self.publication = publication
        self.secret = secret
        self.signer = Signer(secret)
        self.slot = token_slot(publication.unsubscribe_base)
        self.manage_slot = token_slot(publication.manage_base)
        # The day the links are made: read once, not a clock call for each of a million.
        self.day = int(time.time()) // 86400
        self.greeting = publication.delivery.greeting
        self.mailto_tail = f", <mailto:{publication.unsubscribe_mailto}?subject=unsubscribe>"
        # The reader's token in click links and the pixel: only where they carry one.
        self.individual = publication.individual and publication.click_base is not None

    def links(self, recipient: Recipient) -> tuple[str, str]:
        """The reader's unsubscribe and manage links (one HMAC for both)."""
        leave, manage = self.signer.pair(recipient.link, self.day)
        return (f"{self.slot[0]}{leave}{self.slot[1]}",
                f"{self.manage_slot[0]}{manage}{self.manage_slot[1]}")

    def unsubscribe_url(self, recipient: Recipient) -> str:
        return self.links(recipient)[0]

    def list_unsubscribe(self, recipient: Recipient, url: str | None = None) -> str:
        return f"<{url or self.unsubscribe_url(recipient)}>{self.mailto_tail}"

    def values(self, recipient: Recipient) -> dict[str, str]:
        leave, manage = self.links(recipient)
        values = {UNSUBSCRIBE_TOKEN: leave, MANAGE_TOKEN: manage}
        if self.individual:
            values[READER] = self.reader(recipient)
        if self.greeting:
            text = self.greeting_for(recipient)
            values[GREETING_TOKEN] = richtext.wrap(text)  # the text edition's lines
            values[GREETING_HTML_TOKEN] = escape(text)
        return values

    def reader(self, recipient: Recipient) -> str:
        """The token naming the reader in their click links and open pixel."""
        return self.signer.reader(recipient.link, self.day)

    def reader_member(self, recipient: Recipient) -> str:
        """The reader's token as a JSON member followed by a comma, for a provider's
        substitutions; empty where links carry no reader (tokens are URL-safe: no
        escaping)."""
        return f'"{READER}":"{self.reader(recipient)}",' if self.individual else ""

    def greeting_for(self, recipient: Recipient) -> str:
        return self.publication.delivery.greeting_for(recipient.name) or ""


def with_token(base: str, token: str) -> str:
    """``base`` with ``t=token`` added to its query: before any fragment, after any query
    it already has (a token after ``#`` would never reach the server)."""
    before, after = token_slot(base)
    return f"{before}{token}{after}"


def token_slot(base: str) -> tuple[str, str]:
    """What goes before and after the token in ``base``'s links, worked out once: a send
    makes a million of them."""
    parts = urlsplit(base)
    query = f"{parts.query}&t=" if parts.query else "t="
    marker = "\x00"  # stands for the token while the URL is put back together
    url = urlunsplit(parts._replace(query=query + marker))
    before, _, after = url.partition(marker)
    return before, after


def fill(text: str, values: Mapping[str, str]) -> str:
    for token, value in values.items():
        text = text.replace(token, value)
    return text
