"""Addresses out of text that is logged or stored: a relay's or a provider's message.

A relay says ``550 5.1.1 <ann@example.org>: Recipient address rejected``; the ledger
keeps the reason, the send prints it and CI keeps the log, none of which should hold a
reader's address (the reader's number says whom it was about). Anything shaped like an
address is replaced by :data:`PLACEHOLDER`: in angle brackets or bare, a quoted local part
(``"ann smith"@example.org``), non-ASCII local parts and domains (IDN, either spelling),
any case, and ``%40`` for ``@`` as in a URL. The rest of the message is kept as it was.

The words come from strangers too (a provider relays what a remote server said, and a
webhook's body is anyone's until its signature is checked), so the expression runs on
RE2, whose time is linear in the text's length. Python's own engine tries every start and,
from each, every length of local part: a run of 60,000 letters with no ``@`` took 20 s,
holding the interpreter's lock (the web service stopped answering meanwhile); RE2 takes
milliseconds for a megabyte of any shape.
"""

from __future__ import annotations

import sys

import re2

PLACEHOLDER = "[address]"
# Python's \s in a str pattern is every character str.isspace() accepts; RE2's is ASCII
# alone. Spelled out, so that a no-break space or U+2003 still ends an address.
_SPACE = "".join(f"\\x{{{code:x}}}" for code in range(sys.maxunicode + 1)
                 if chr(code).isspace())
_AT = r"(?:@|%40)"
# A local part: quoted (with escapes), or a run of the characters an address may have,
# ASCII or not, stopping at space, brackets, double quotes and separators (an apostrophe
# may be inside, as in o'brien, but not first, as in 'ann@example.org').
_LOCAL = (rf'(?:"(?:[^"\\\r\n]|\\.)*"|[^{_SPACE}<>()\[\]{{}},;:@"\'][^{_SPACE}<>()\[\]{{}},;:@"]*)')
# A domain: a bracketed literal, or labels ending in a character that is not a dot (so
# "user@example.org." keeps the full stop of its sentence).
_DOMAIN = (rf"(?:\[[^\]{_SPACE}]*\]|[^{_SPACE}<>()\[\]{{}},;:@\"'/?#=&%]*"
           rf"[^{_SPACE}<>()\[\]{{}},;:@\"'/?#=&%.])")
_ADDRESS = re2.compile(_LOCAL + _AT + _DOMAIN)


def addresses(text: str) -> str:
    """``text`` with every address-like part replaced by :data:`PLACEHOLDER`."""
    return str(_ADDRESS.sub(PLACEHOLDER, text))
