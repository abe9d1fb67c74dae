"""The readers' pages: Jinja2 templates in the publication's look, overridable by files of
the same name in a ``templates/`` folder beside newsletter.yaml (as the email's are).

Every page works without JavaScript, at 320 px and up, light and dark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined, select_autoescape
from jinja2 import Environment as Templates
from starlette.responses import HTMLResponse

from newsletter.content.settings import Publication


class Pages:
    def __init__(self, publication: Publication, overrides: Path | None = None) -> None:
        self.publication = publication
        loaders = [FileSystemLoader(overrides)] if overrides else []
        self.env = Templates(
            loader=ChoiceLoader([*loaders, PackageLoader("newsletter.web", "templates")]),
            autoescape=select_autoescape(disabled_extensions=("txt.j2",), default=True),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)

    def text(self, template: str, **values: Any) -> str:
        return self.env.get_template(template).render(pub=self.publication, **values)

    def render(self, template: str, title: str, status: int = 200, **values: Any
               ) -> HTMLResponse:
        return HTMLResponse(self.text(template, title=title, **values), status)

    def message(self, title: str, lines: list[str], status: int = 200,
                link: tuple[str, str] | None = None) -> HTMLResponse:
        """A page of a few sentences, and optionally one link onward (text, address)."""
        return self.render("message.html.j2", title, status, lines=lines, link=link)

    def invalid(self) -> HTMLResponse:
        return self.message("This link does not work", [
            "It may have been changed on the way, or made for another purpose.",
            "To stop the newsletter, use the unsubscribe link of a recent issue, or reply "
            "to it and ask: a person will take you off the list."], 400)


def mask(address: str) -> str:
    """``ann.smith@example.org`` -> ``a*******h@example.org``: enough to recognise one's
    own, not enough to learn someone else's from a forwarded link."""
    local, _, domain = address.rpartition("@")
    shown = local[:1] + "*" * max(len(local) - 2, 1) + (local[-1:] if len(local) > 2 else "")
    return f"{shown}@{domain}"
