"""The welcome a reader gets once after confirming: read from ``welcome.yaml`` when the
service starts, sent by the mailer (mailer.py) through the service's transport.

A file that does not validate stops the service from starting, with its problems; a
file with a TODO left is not sent (a warning in the log at start), as an issue with a
TODO never is. Without the file, confirming queues no welcome.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from newsletter.content import welcome as welcome_file
from newsletter.content.settings import Publication
from newsletter.delivery.personalize import Personalizer
from newsletter.email.message import Notice
from newsletter.email.welcome import Links, latest_issue, render
from newsletter.store.recipient import Recipient
from newsletter.store.subscribers import Subscriber

log = logging.getLogger("newsletter.web")


@dataclass(frozen=True)
class Welcomer:
    welcome: welcome_file.Welcome
    publication: Publication
    root: Path  # the publication's folder: issues/ and templates/
    secret: bytes

    def notice(self, reader: Subscriber, now: dt.datetime) -> Notice:
        """The welcome for ``reader``, with their own links and the latest issue."""
        personal = Personalizer(self.publication, self.secret)
        leave, manage = personal.links(Recipient(reader.id, reader.email, reader.name,
                                                 reader.timezone, reader.link_key))
        today = now.astimezone(self.publication.zone).date()
        email = render(self.welcome, self.publication, Links(leave, manage),
                       latest=latest_issue(self.root / "issues", today),
                       overrides=self.root / "templates")
        return Notice(reader.email, None, email.subject, email.text, email.html,
                      kind="welcome")


def load(root: Path, publication: Publication, secret: bytes) -> Welcomer | None:
    """The publication's welcome, or None (no file, or a TODO left in it)."""
    path = welcome_file.path_in(root)
    if not path.is_file():
        return None
    loaded = welcome_file.load(path)
    if loaded.findings:
        log.warning("%s still has a TODO: no welcome is sent until it is written", path)
        return None
    return Welcomer(loaded.welcome, publication, root, secret)
