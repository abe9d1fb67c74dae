"""What every route of the readers' service shares: the publication, the database, the
secret, the pages, the transport. Its own module, below app.py and the route modules,
so that they all name it without importing one another in a circle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from newsletter.content.settings import Publication
from newsletter.delivery.providers.base import Transport, Webhook
from newsletter.web.pages import Pages
from newsletter.web.welcome import Welcomer


@dataclass(frozen=True)
class Service:
    publication: Publication
    engine: Engine
    secret: bytes
    # Each provider's webhook that the environment sets up, by provider name: mounted
    # at /webhooks/NAME.
    webhooks: Mapping[str, Webhook[Any]]
    pages: Pages
    # What confirmation emails go by: the command line's ``auto`` choice (the first
    # provider set up, else the fallback, in a folder beside newsletter.yaml), made when
    # the process starts.
    transport: Transport
    # The welcome sent once to each reader who confirms (welcome.yaml), or None.
    welcomer: Welcomer | None = None
