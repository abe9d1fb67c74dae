"""Text that must stay on one line: names in headers, values printed to a terminal.

Control characters and line separators end a header early (header injection) or move a
terminal's cursor and colours (escape sequences); these functions keep such text inert.
"""

from __future__ import annotations

import re
import unicodedata

# Control characters (Unicode's Cc: C0, DEL, C1), and the line and paragraph separators
# some programs break lines at.
_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"\s+")


def one_line(text: str | None) -> str:
    """``text`` without control characters or line breaks (each becomes a space), with
    runs of white space made one and the ends trimmed."""
    if not text:
        return ""
    return _SPACES.sub(" ", _BREAKING.sub(" ", text)).strip()


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
