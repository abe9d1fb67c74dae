"""Addresses out of text that is logged or stored: a relay's or a provider's message.

A relay says ``550 5.1.1 <ann@example.org>: Recipient address rejected``; the ledger
keeps the reason, the send prints it and CI keeps the log, none of which should hold a
reader's address (the reader's number says whom it was about). Anything shaped like an
address is replaced by :data:`PLACEHOLDER`: in angle brackets or bare, a quoted local part
(``"ann smith"@example.org``), non-ASCII local parts and domains (IDN, either spelling),
any case, and ``%40`` for ``@`` as in a URL. The rest of the message is kept as it was.
"""

from __future__ import annotations

import re

PLACEHOLDER = "[address]"
_AT = r"(?:@|%40)"
# A local part: quoted (with escapes), or a run of the characters an address may have,
# ASCII or not, stopping at space, brackets, double quotes and separators (an apostrophe
# may be inside, as in o'brien, but not first, as in 'ann@example.org').
_LOCAL = r'(?:"(?:[^"\\\r\n]|\\.)*"|[^\s<>()\[\]{},;:@"\'][^\s<>()\[\]{},;:@"]*)'
# A domain: a bracketed literal, or labels ending in a character that is not a dot (so
# "user@example.org." keeps the full stop of its sentence).
_DOMAIN = r"(?:\[[^\]\s]*\]|[^\s<>()\[\]{},;:@\"'/?#=&%]*[^\s<>()\[\]{},;:@\"'/?#=&%.])"
_ADDRESS = re.compile(_LOCAL + _AT + _DOMAIN, re.IGNORECASE)


def addresses(text: str) -> str:
    """``text`` with every address-like part replaced by :data:`PLACEHOLDER`."""
    return _ADDRESS.sub(PLACEHOLDER, text)
