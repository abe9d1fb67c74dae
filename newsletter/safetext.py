"""Text that must stay on one line: names in headers, values printed to a terminal.

Control characters and line separators end a header early (header injection) or move a
terminal's cursor and colours (escape sequences); format characters are invisible and
some reorder what is shown (a right-to-left override makes ``evil\u202egnp.exe`` read
``evilexe.png``); lone surrogates cannot be written in any encoding, and noncharacters are
not text. These functions keep such text inert.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 200  # characters of a reader's name: the forms' fields, the checks, the table

# Each becomes a space: Unicode's control characters (Cc: C0, DEL, C1), the line and
# paragraph separators (Zl, Zp) some programs break lines at, and lone surrogates (Cs).
_BREAKING_CATEGORIES = ("Cc", "Zl", "Zp", "Cs")
# Each goes: format characters (Cf: bidi embeddings, overrides, isolates and marks,
# zero-width space, word joiner, BOM, soft hyphen, tag characters, ...) and noncharacters
# (U+FDD0..U+FDEF, and the last two of every plane).
_GONE_CATEGORIES = ("Cf",)
# Two format characters stay between two visible characters, where they only join or
# part the glyphs beside them: the zero-width joiner and non-joiner. Ordinary names need
# them: Sinhala writes Sri with a joiner (ශ්‍රී), Persian writes many words with a
# non-joiner (می‌خواهم), Malayalam and other Indic scripts choose letter forms with them,
# and emoji sequences are joined by one (👩‍💻 is woman, ZWJ, laptop; without it, two
# emoji). Elsewhere (at an end, beside a space) they go, and a run of them is one.
_JOINERS = "\u200c\u200d"
_STRAY_JOINER = re.compile(rf"(?:^|(?<=\s))[{_JOINERS}]+|[{_JOINERS}]+(?=\s|$)"
                           rf"|(?<=[{_JOINERS}])[{_JOINERS}]+")
_SPACES = re.compile(r"\s+")
_ASCII_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _cleaned(char: str) -> str:
    """One character as one_line keeps it: itself, a space, or nothing."""
    category = unicodedata.category(char)
    if category in _BREAKING_CATEGORIES:
        return " "
    code = ord(char)
    if (category in _GONE_CATEGORIES and char not in _JOINERS) or \
            0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE:
        return ""
    return char


def one_line(text: str | None) -> str:
    """``text`` on one line and without invisible characters: control characters, line
    breaks and lone surrogates each become a space, format characters and noncharacters
    go (a joiner or non-joiner stays between two visible characters only), runs of white
    space are made one and the ends trimmed. Letters of every script, combining marks and
    emoji stay as they were."""
    if not text:
        return ""
    if text.isascii():  # the common case: of all the above, ASCII has only C0 and DEL
        text = _ASCII_CONTROL.sub(" ", text)
    else:  # character by character: texts are short (names, subjects), and a table of
        # every code point, made once, cost a fifth of a second at each process's start
        text = _STRAY_JOINER.sub("", "".join(map(_cleaned, text)))
    return _SPACES.sub(" ", text).strip()


def for_terminal(text: str) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``), so that a name
    cannot move a terminal's cursor or change its colours when printed."""
    return "".join(c if unicodedata.category(c) not in ("Cc", "Cf") or c == " "
                   else c.encode("unicode_escape").decode("ascii") for c in text)


# A spreadsheet runs a cell that starts with one of these (OWASP, "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def for_spreadsheet(cell: str) -> str:
    """A CSV cell a spreadsheet shows as text: a leading formula character is escaped
    with an apostrophe, which spreadsheets hide."""
    return f"'{cell}" if cell.startswith(_FORMULA_START) else cell


def from_spreadsheet(cell: str) -> str:
    """The cell :func:`for_spreadsheet` was given (so our own exports import as they were)."""
    if cell[:1] != "'":  # nearly always: the cheap test first
        return cell
    return cell[1:] if cell[1:].startswith(_FORMULA_START) else cell
