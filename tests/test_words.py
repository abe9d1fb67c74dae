"""One catalogue for every template of the package (newsletter/locales): it holds every
word the templates mark, and each language translates all of them, placeholders kept.
What each layer renders with it is tested beside the layer (tests/email, tests/site,
tests/web test_words.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from newsletter import look, words

PACKAGE = Path(words.__file__).parent
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
TAG = re.compile(r"<[^>]+>")
MARKED = re.compile(r"(?<![\w.])_\(\"")  # a call of _("..."), not a method's __init__("
LANGUAGES = sorted(p.name for p in words.LOCALES.iterdir() if (p / "LC_MESSAGES").is_dir())


def read(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file)


def first(message_id: str | tuple[str, ...]) -> str:
    """A message's id as extraction gives it: the singular of a plural."""
    return message_id if isinstance(message_id, str) else message_id[0]


def template_folders() -> list[Path]:
    """Every folder of templates: the publication's (the repository's templates/, which
    the package links to) and the package's own; a new one is found, not listed here."""
    return sorted({path.parent.resolve() for path in PACKAGE.rglob("*.j2")}
                  | {look.DEFAULTS.resolve()})


def marking_modules() -> list[Path]:
    """Every module of the package that marks words of its own with ``_("...")`` (the
    report's charts): babel.cfg must name it, and its folder be extracted."""
    return sorted(path for path in PACKAGE.rglob("*.py") if MARKED.search(path.read_text()))


def extracted() -> set[str]:
    """What Babel's extraction finds in every template and marking module now, as
    babel.cfg says to run it."""
    with (words.LOCALES / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    folders = {*template_folders(), *(path.parent for path in marking_modules())}
    return {text if isinstance(text, str) else text[0]
            for folder in sorted(folders)
            for _file, _line, text, _comments, _context in
            extract_from_dir(str(folder), method_map, options_map)}


def test_the_extraction_command_names_every_template_folder() -> None:
    command = (words.LOCALES / "babel.cfg").read_text()
    named = set(re.findall(r"(?<=\s)[\w/]*templates\b|newsletter/[\w/]+", command))
    for folder in template_folders():  # the folder, or one that holds it
        inside = folder.relative_to(PACKAGE.parent)
        assert named & {str(inside), *map(str, inside.parents)}, folder
    for module in marking_modules():
        assert str(module.parent.relative_to(PACKAGE.parent)) in command, module
        assert f"[python: **/{module.name}]" in command, module


def test_the_template_catalogue_is_what_the_templates_mark() -> None:
    """Run the commands at the top of newsletter/locales/babel.cfg after changing a
    template's words."""
    found = extracted()
    assert len(found) > 90  # the pages, the emails, the archive and the preview
    assert {"Unsubscribe", "Read the full story", "No findings."} <= found
    assert found == {first(m.id) for m in read(words.LOCALES / "messages.pot") if m.id}


def test_there_is_a_language_besides_english() -> None:
    assert "de" in LANGUAGES


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_word_is_translated_with_its_placeholders(language: str) -> None:
    catalogue = read(words.LOCALES / language / "LC_MESSAGES" / "messages.po")
    assert {first(m.id) for m in catalogue if m.id} == extracted()
    for message in catalogue:
        if not message.id:
            continue
        assert message.string and not message.fuzzy, message.id
        assert set(PLACEHOLDER.findall(str(message.id))) == \
            set(PLACEHOLDER.findall(str(message.string))), message.id
        assert sorted(TAG.findall(str(message.id))) == \
            sorted(TAG.findall(str(message.string))), message.id
    assert not [(m.id, errors) for m, errors in catalogue.check()]


@pytest.mark.parametrize(("locale", "lang", "sample"), [
    ("de-DE", "de-DE", "Abmelden"), ("de-AT", "de-AT", "Abmelden"), ("de", "de", "Abmelden"),
    ("en-US", "en-US", "Unsubscribe"), ("en-GB", "en-GB", "Unsubscribe"),
    ("fr-FR", "en", "Unsubscribe"),  # no catalogue: English, and lang says so
    ("xx-YY", "en", "Unsubscribe"), ("", "en", "Unsubscribe"), ("../../de", "en", "Unsubscribe"),
])
def test_a_locale_picks_its_catalogue_or_english(locale: str, lang: str, sample: str) -> None:
    chosen, translations = words.catalogue(locale)
    assert (chosen, translations.gettext("Unsubscribe")) == (lang, sample)
