"""The readers' pages: Jinja2 templates in the publication's look, from its ``templates/``
folder beside newsletter.yaml, the package's defaults filling the gaps (look.py).

Every page works without JavaScript, at 320 px and up, light and dark.

Every sentence a reader sees is in the templates, marked for translation (Jinja's i18n
extension); the Python side passes data only: which message, and its values. The words
come from the package's catalogue for the publication's ``locale`` (see words.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from starlette.responses import HTMLResponse

from newsletter import look, words
from newsletter.content import schedule
from newsletter.content.settings import Publication
from newsletter.safetext import MAX_NAME
from newsletter.web.recent import Issues, Recent

# The pages of a few sentences (message.html.j2 holds their words, by these names).
Message = Literal[
    "invalid", "not_found", "too_large", "busy", "queue_full", "sent", "expired",
    "already_subscribed", "nothing_to_confirm", "subscribed", "unsubscribed",
    "erased", "nothing_stored", "link_sent", "method_not_allowed", "error", "server_error"]


class Pages:
    def __init__(self, publication: Publication, overrides: Path | None = None,
                 issues: Issues | None = None) -> None:
        self.publication = publication
        self.issues = issues
        self.env = words.templates(look.loader(overrides), publication.locale)
        self.lang = str(self.env.globals["lang"])
        self.env.globals["schedule"] = schedule.schedule(publication)
        self.env.globals["max_name"] = MAX_NAME  # the name fields' maxlength
        self.env.filters["long_date"] = self.long_date

    def text(self, template: str, **values: Any) -> str:
        return self.env.get_template(template).render(pub=self.publication, **values)

    def latest(self) -> list[Recent]:
        """The latest issues for the subscribe page (none without an issues folder)."""
        return self.issues.latest() if self.issues else []

    def long_date(self, day: dt.date) -> str:
        """"July 25, 2024", "25. Juli 2024": the publication's locale, Babel's words."""
        return schedule.long_date(day, self.publication)

    def render(self, template: str, status: int = 200, *,
               headers: Mapping[str, str] | None = None, **values: Any) -> HTMLResponse:
        return HTMLResponse(self.text(template, **values), status, headers=headers)

    def message(self, message: Message, status: int = 200, *,
                headers: Mapping[str, str] | None = None, **values: Any) -> HTMLResponse:
        """A page of a few sentences, and perhaps one link onward: its words are
        message.html.j2's, by name; ``values`` are what they mention."""
        return self.render("message.html.j2", status, headers=headers, message=message,
                           **values)

    def invalid(self) -> HTMLResponse:
        return self.message("invalid", 400)


def mask(address: str) -> str:
    """``ann.smith@example.org`` -> ``a*******h@example.org``: enough to recognise one's
    own, not enough to learn someone else's from a forwarded link."""
    local, _, domain = address.rpartition("@")
    shown = local[:1] + "*" * max(len(local) - 2, 1) + (local[-1:] if len(local) > 2 else "")
    return f"{shown}@{domain}"
