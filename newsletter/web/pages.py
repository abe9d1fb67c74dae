"""The readers' pages: Jinja2 templates in the publication's look, overridable by files of
the same name in a ``templates/`` folder beside newsletter.yaml (as the email's are).

Every page works without JavaScript, at 320 px and up, light and dark.

Every sentence a reader sees is in the templates, marked for translation (Jinja's i18n
extension); the Python side passes data only: which message, and its values. The words
come from the catalogue in ``locales/`` for the publication's ``locale`` (``de-DE``
reads ``locales/de/LC_MESSAGES/messages.po``), or stay English when there is none.
"""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any, Literal

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined, select_autoescape
from jinja2 import Environment as Templates
from starlette.responses import HTMLResponse

from newsletter.content.settings import Publication

LOCALES = Path(__file__).resolve().parent / "locales"

# The pages of a few sentences (message.html.j2 holds their words, by these names).
Message = Literal[
    "invalid", "not_found", "too_large", "busy", "queue_full", "sent", "expired",
    "already_subscribed", "nothing_to_confirm", "subscribed", "unsubscribed", "no_token",
    "erased", "nothing_stored"]


@cache
def catalogue(locale: str) -> tuple[str, gettext.NullTranslations]:
    """The ``lang`` of the pages and their translations for a publication's ``locale``:
    its own catalogue (``de_AT``, else ``de``), else English with no error (and ``lang``
    then says ``en``, as the words are)."""
    try:
        parsed = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return "en", gettext.NullTranslations()
    if parsed.language == "en":
        return locale, gettext.NullTranslations()
    for name in dict.fromkeys((str(parsed), parsed.language)):
        po = LOCALES / name / "LC_MESSAGES" / "messages.po"
        if po.is_file():
            return locale, translations(po)
    return "en", gettext.NullTranslations()


def translations(po: Path) -> gettext.GNUTranslations:
    """A ``.po`` file compiled in memory: no build step, and nothing to fall out of step
    with its source (fuzzy entries are left out, as msgfmt does)."""
    with po.open("rb") as file:
        compiled = BytesIO()
        write_mo(compiled, read_po(file))
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


class Pages:
    def __init__(self, publication: Publication, overrides: Path | None = None) -> None:
        self.publication = publication
        loaders = [FileSystemLoader(overrides)] if overrides else []
        self.env = Templates(
            loader=ChoiceLoader([*loaders, PackageLoader("newsletter.web", "templates")]),
            autoescape=select_autoescape(disabled_extensions=("txt.j2",), default=True),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"])
        self.lang, words = catalogue(publication.locale)
        self.env.install_gettext_translations(words, newstyle=True)  # type: ignore[attr-defined]
        self.env.globals["lang"] = self.lang

    def text(self, template: str, **values: Any) -> str:
        return self.env.get_template(template).render(pub=self.publication, **values)

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        return HTMLResponse(self.text(template, **values), status)

    def message(self, message: Message, status: int = 200, **values: Any) -> HTMLResponse:
        """A page of a few sentences, and perhaps one link onward: its words are
        message.html.j2's, by name; ``values`` are what they mention."""
        return self.render("message.html.j2", status, message=message, **values)

    def invalid(self) -> HTMLResponse:
        return self.message("invalid", 400)


def mask(address: str) -> str:
    """``ann.smith@example.org`` -> ``a*******h@example.org``: enough to recognise one's
    own, not enough to learn someone else's from a forwarded link."""
    local, _, domain = address.rpartition("@")
    shown = local[:1] + "*" * max(len(local) - 2, 1) + (local[-1:] if len(local) > 2 else "")
    return f"{shown}@{domain}"
