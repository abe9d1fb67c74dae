"""Text that must stay on one line: names in headers, values printed to a terminal.

Control characters and line separators end a header early (header injection) or move a
terminal's cursor and colours (escape sequences); these functions keep such text inert.
"""

from __future__ import annotations

import re
import unicodedata

# Control characters, and the line and paragraph separators some programs break lines at.
_BREAKING = {"Cc", "Zl", "Zp"}


def one_line(text: str | None) -> str:
    """``text`` without control characters or line breaks (each becomes a space), with
    runs of white space made one and the ends trimmed."""
    if not text:
        return ""
    kept = "".join(" " if unicodedata.category(c) in _BREAKING else c for c in text)
    return re.sub(r"\s+", " ", kept).strip()
