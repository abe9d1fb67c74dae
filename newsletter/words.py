"""The words readers and editors see, in the publication's language.

Every sentence lives in a Jinja template, marked for translation (Jinja's i18n extension);
one Babel catalogue per language, ``locales/<lang>/LC_MESSAGES/messages.po``, holds them
for every template of the package: the issue email, the archive, the readers' pages, the
confirmation email and the preview. One catalogue, not one per layer: a translator works
through one file, and the words the email and the pages share ("Unsubscribe", "Manage
your subscription") are translated once and read the same in both.

``locale: de-DE`` reads ``locales/de_DE`` if there is one, else ``locales/de``; a language
without a catalogue stays English. English is the templates' own words (no catalogue),
so an English publication's output is exactly what its templates say.
"""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from jinja2 import BaseLoader, Environment, StrictUndefined, select_autoescape

LOCALES = Path(__file__).resolve().parent / "locales"


@cache
def catalogue(locale: str) -> tuple[str, gettext.NullTranslations]:
    """The ``lang`` the words are in and their translations, for a publication's
    ``locale``: its own catalogue (``de_AT``, else ``de``), else English with no error
    (and ``lang`` then says ``en``, as the words are)."""
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
    # Imported here: an English publication reads no catalogue, and `build` is timed.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as file:
        compiled = BytesIO()
        write_mo(compiled, read_po(file))
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def install(env: Environment, locale: str) -> str:
    """Give ``env``'s templates the words of ``locale`` (``_()`` and ``{% trans %}``, new
    style: values are escaped where the template autoescapes), and ``lang`` as a global;
    return ``lang``."""
    lang, words = catalogue(locale)
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_translations(words, newstyle=True)  # type: ignore[attr-defined]
    env.globals["lang"] = lang
    return lang


def templates(loader: BaseLoader, locale: str) -> Environment:
    """A template environment for pages (the readers' and the preview's): HTML escaped
    (``*.txt.j2`` not), an unknown name an error, and the words of ``locale``."""
    env = Environment(loader=loader, undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True,
                      autoescape=select_autoescape(disabled_extensions=("txt.j2",),
                                                   default=True))
    install(env, locale)
    return env
