"""The welcome a reader gets once after confirming: read from ``welcome.yaml`` when the
service starts, sent by the mailer (mailer.py) through the service's transport.

A file that does not validate stops the service from starting, with its problems; a
file with a TODO left is not sent (a warning in the log at start), as an issue with a
TODO never is. Without the file, confirming queues no welcome.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from newsletter.content import welcome as welcome_file
from newsletter.content.settings import Publication
from newsletter.delivery.personalize import Personalizer
from newsletter.email.message import Notice
from newsletter.email.welcome import Links, Welcomes
from newsletter.store.recipient import Recipient
from newsletter.store.subscribers import Subscriber
from newsletter.web.recent import Issues

log = logging.getLogger("newsletter.web")


class Welcomer:
    """The publication's welcome, with what every one of them shares made once: the
    templates' environment, the schedule, the personal links' maker, and the latest
    issues (recent.py, the subscribe page's)."""

    def __init__(self, welcome: welcome_file.Welcome, publication: Publication,
                 secret: bytes, templates: Path, issues: Issues) -> None:
        self.welcome, self.publication, self.issues = welcome, publication, issues
        self.personal = Personalizer(publication, secret)
        self.welcomes = Welcomes(publication, templates)

    def notice(self, reader: Subscriber, now: dt.datetime) -> Notice:
        """The welcome for ``reader``, with their own links and the latest issue."""
        leave, manage = self.personal.links(Recipient(reader.id, reader.email, reader.name,
                                                      reader.timezone, reader.link_key))
        latest = self.issues.latest(now, count=1)
        email = self.welcomes.render(self.welcome, Links(leave, manage),
                                     latest=latest[0].day if latest else None)
        return Notice(reader.email, None, email.subject, email.text, email.html,
                      kind="welcome")


def load(root: Path, publication: Publication, secret: bytes, *, templates: Path,
         issues: Issues) -> Welcomer | None:
    """The publication's welcome (``welcome.yaml`` in ``root``), or None (no file, or a
    TODO left in it)."""
    path = welcome_file.path_in(root)
    if not path.is_file():
        return None
    loaded = welcome_file.load(path)
    if loaded.findings:
        log.warning("%s still has a TODO: no welcome is sent until it is written", path)
        return None
    return Welcomer(loaded.welcome, publication, secret, templates, issues)
