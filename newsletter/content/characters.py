"""Which characters may travel in an email, and which only confuse a reader.

Control characters (C0 but tab and line feed, DEL, C1), Unicode noncharacters (U+FFFE,
U+FFFF, ...) and lone surrogates cannot be written into an email's headers or MJML at
all; in a one-line field (a subject, a headline) a line break of any kind (CR, LF, NEL,
U+2028, U+2029) would end the header early. Bidirectional overrides and zero-width
characters are legal but can make a subject read differently from what it says: a
warning, not an error.
"""

from __future__ import annotations

import re
import unicodedata

from markdown_it.common.utils import fromCodePoint, isValidEntityCode

LINE_BREAKS = frozenset("\r\n\x85\u2028\u2029")
# Bidi embeddings, overrides and isolates; zero-width space, joiners, word joiner, BOM.
INVISIBLE = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                      "\u200b\u200c\u200d\u2060\ufeff")
_ENTITY = re.compile(r"&#(?:[xX][0-9a-fA-F]+|[0-9]+);")


def forbidden(char: str, *, multiline: bool) -> bool:
    """The rule, one character at a time (the patterns below must agree with it)."""
    code = ord(char)
    if char in LINE_BREAKS:
        return not (multiline and char == "\n")
    if char == "\t":
        return False
    return (unicodedata.category(char) in ("Cc", "Cs")
            or 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE)


def describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


# Every character _forbidden refuses in prose, as one pattern: most texts are clean, and a
# regular expression finds that out far faster than a loop over their characters.
_NONCHARACTERS = "".join(chr(plane << 16 | low) for plane in range(17) for low in (0xFFFE, 0xFFFF))
_PROSE_BAD = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
                        f"\u2028\u2029{_NONCHARACTERS}]")
_LINE_BAD = re.compile(f"[\n{_PROSE_BAD.pattern[1:-1]}]")


def problem(text: str, *, multiline: bool = False) -> str | None:
    """Why ``text`` cannot go into an email, or None. Numeric character references
    (``&#12;``) count as the character they stand for: Markdown turns them into it."""
    found = (_PROSE_BAD if multiline else _LINE_BAD).search(text)
    if found:
        return _message(found.group(), found.start(), multiline)
    if "&#" not in text:
        return None
    for match in _ENTITY.finditer(text):
        char = _as_markdown_reads(match.group())
        if forbidden(char, multiline=False):  # a reference never makes a wanted line break
            return f"{match.group()} stands for {describe(char)}, which cannot go in an email"
    return None


def _as_markdown_reads(reference: str) -> str:
    """The character Markdown turns ``&#NN;`` into (its own rule: some become U+FFFD)."""
    digits = reference[2:-1]
    code = int(digits[1:], 16) if digits[:1] in "xX" else int(digits)
    return fromCodePoint(code) if isValidEntityCode(code) else "\ufffd"


def _message(char: str, index: int, multiline: bool) -> str:
    if char in LINE_BREAKS and not multiline:
        return f"line break {describe(char)} at character {index + 1} of a one-line field; " \
               "write it on one line"
    return f"character {describe(char)} at character {index + 1} cannot go in an email; " \
           "remove it"


def invisible(text: str) -> str | None:
    """A description of the first bidi control or zero-width character, or None."""
    for index, char in enumerate(text):
        if char in INVISIBLE:
            return f"{describe(char)} (character {index + 1})"
    return None
