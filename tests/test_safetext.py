"""One-line text by Unicode's classes: every control, format and separator character,
surrogate and noncharacter out of anything that becomes a header or a page line, every
letter, mark, digit, symbol and emoji of every script kept."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from newsletter.email.addresses import display_name
from newsletter.safetext import one_line
from newsletter.store import subscribers as store

JOINERS = "\u200c\u200d"
BREAKING = ("Cc", "Zl", "Zp", "Cs")


def _noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def _of(*categories: str) -> list[str]:
    return [chr(c) for c in range(sys.maxunicode + 1)
            if unicodedata.category(chr(c)) in categories and not _noncharacter(c)]


FORMAT = _of("Cf")
BAD = _of(*BREAKING) + FORMAT + [chr(c) for c in range(sys.maxunicode + 1) if _noncharacter(c)]


def _bad(char: str) -> bool:
    return unicodedata.category(char) in (*BREAKING, "Cf") or _noncharacter(ord(char))


def test_the_classes_are_what_we_think() -> None:
    assert {"\u202e", "\u2066", "\u2069", "\u200b", "\ufeff", "\u00ad", "\U000e0041"} <= \
        set(FORMAT)
    assert len(BAD) > 2048 + 65 + 66 + 150


@pytest.mark.parametrize("clean", [one_line, display_name])
def test_every_bad_character_goes_or_is_a_space(clean) -> None:  # type: ignore[no-untyped-def]
    for char in BAD:
        got = clean(f"A{char}B")
        if char in JOINERS:  # between two letters it joins or parts them: kept
            assert got == f"A{char}B"
        else:
            assert got in ("AB", "A B"), (f"U+{ord(char):04X}", got)
        # At the ends, beside a space, or on its own: nothing of it is left.
        assert clean(f"{char}A {char} B{char}") == "A B", f"U+{ord(char):04X}"
        assert clean(char * 3) == ""


def test_nothing_bad_is_left_whatever_is_mixed() -> None:
    text = "".join(BAD[::7]) + "x" + "".join(BAD[3::11])
    assert not [c for c in one_line(text) if _bad(c)]


def test_every_letter_mark_digit_symbol_and_space_of_every_script_stays() -> None:
    kept = [c for c in _of("Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No",
                           "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
                           "Co")]
    assert len(kept) > 100_000
    text = "a" + "".join(kept) + "z"
    assert one_line(text) == text
    assert one_line("a\u00a0b\u3000c\u2003d") == "a b c d"  # spaces are spaces


@pytest.mark.parametrize("name", [
    "👩\u200d💻", "👨\u200d👩\u200d👧\u200d👦 family", "🏳\ufe0f\u200d🌈", "🧑🏽\u200d🚀",
    "❤\ufe0f\u200d🔥", "1\ufe0f\u20e3 keycap", "🇺🇦 🇩🇪", "👍🏽",
    "ශ්\u200dරී ලංකා",  # Sinhala "Sri" is written with a joiner
    "می\u200cخواهم",  # Persian: a non-joiner inside the word
    "കൺ കണ്\u200dഠം",  # Malayalam: a chillu (the joiner form only inside a word)
    "Zoë e\u0301 Z̷̢a̵l̴g̶o̸", "שלום עולם", "مرحبا", "漢字かな한국어", "Ελληνικά", "ไทย",
])
def test_names_of_every_script_and_emoji_sequences_survive(name: str) -> None:
    assert one_line(name) == name


@pytest.mark.parametrize(("name", "shown"), [
    ("evil\u202egnp.exe", "evilgnp.exe"),
    ("\u2066\u202eURGENT\u2069\u2069 bank", "URGENT bank"),
    ("Z\u200bW\ufeff\u2060", "ZW"),
    ("\u200dx\u200d", "x"), ("a\u200d\u200c\u200db", "a\u200db"), ("a \u200db", "a b"),
    ("🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", "🏴"),  # tag text
    ("line\nbreak\u2028sep\u2029para\x85nel", "line break sep para nel"),
    ("x\ud800y", "x y"), ("non\ufdd0char\U0010ffff", "nonchar"),
])
def test_what_a_name_becomes(name: str, shown: str) -> None:
    assert one_line(name) == shown


def test_a_readers_name_is_stored_without_them(engine) -> None:  # type: ignore[no-untyped-def]
    reader = store.add(engine, "rlo@example.org", name="\u202eAnn\u200b \u2066Lee\u2069")
    assert reader.name == "Ann Lee"
