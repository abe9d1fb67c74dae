"""What the readers' service refuses to start with, checked by ``create_app`` so that
``newsletter serve`` and ``uvicorn --factory`` refuse alike, in one line.

- ``NEWSLETTER_SECRET`` unset, the development key, or shorter than 32 bytes: every link
  the service honours (unsubscribe, confirm, manage) is an HMAC under it, and a short
  secret can be guessed offline from one link in one email.
- No ``readers.service_url``: the emails' subscribe, manage and unsubscribe links and the
  confirmation links would fall back to ``site_url``, the archive, which does not run the
  service.
- A ``readers.service_url`` on the archive's own origin (scheme, host and port of
  ``site_url``): the archive is static pages (GitHub Pages), so the links would reach no
  service; and the service's pages would share an origin, and so cookies and scripts,
  with whatever else that site serves.

The command line's other commands need none of this: ``send`` falls back to ``site_url``
for links, and a transport that only writes files needs no secret.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

from newsletter.content.settings import Publication
from newsletter.errors import ConfigError
from newsletter.tokens import DEV_SECRET

MIN_SECRET = 32  # bytes: 256 bits, the HMAC-SHA256 key size
MAKE_SECRET = "python3 -c 'import secrets;print(secrets.token_urlsafe(32))'"
DEFAULT_PORTS = {"http": 80, "https": 443}


def check(secret: bytes, publication: Publication) -> None:
    """Raise ConfigError, in one line, for the first unsafe setting found."""
    check_secret(secret)
    check_service_url(publication)


def check_secret(secret: bytes) -> None:
    if not secret or secret == DEV_SECRET:
        raise ConfigError("NEWSLETTER_SECRET is not set (or is the development key): the "
                          "service cannot check the links it is asked to honour; make one "
                          f"with {MAKE_SECRET} and keep it")
    if len(secret) < MIN_SECRET:
        raise ConfigError(f"NEWSLETTER_SECRET is {len(secret)} bytes; the service needs at "
                          f"least {MIN_SECRET} (make one with {MAKE_SECRET} and keep it: the "
                          "links in sent emails are signed with it)")


def check_service_url(publication: Publication) -> None:
    url = publication.readers.service_url
    if not url:
        raise ConfigError("readers.service_url is not set in newsletter.yaml: the address "
                          "where this service answers readers (the links in every email "
                          "point there)")
    if origin(url) == origin(publication.site_url):
        raise ConfigError(f"readers.service_url ({url}) is on the archive's site "
                          f"({publication.site_url}); give the service an address of its "
                          "own, e.g. https://readers.example.org")


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port, as a browser compares them (the default port spelt out)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    with contextlib.suppress(UnicodeError):  # else compared as written
        host = host.encode("idna").decode("ascii")
    return scheme, host.lower(), parts.port or DEFAULT_PORTS.get(scheme)
