"""Addresses as they travel: internationalized domains in IDNA, names that cannot break
a header.

An address whose domain is not ASCII (``jörg@bücher.example``) is written with the
domain in its IDNA form (``jörg@xn--bcher-kva.example`` would still need more); one
whose local part is not ASCII (``josé@…``) can only travel as UTF-8 (SMTPUTF8, RFC 6531,
and UTF-8 headers, RFC 6532): :func:`for_wire` says which.

A display name is cleaned (:func:`display_name`), then written by the standard library's
RFC 5322 and RFC 2047 writers: ``formataddr`` quotes it when it has specials, and a name
that is not ASCII becomes encoded words (``email.header.Header``, which ``formataddr``
itself uses), folded where a line would pass 78 characters. The result is the header's
value on the wire: ``message.WirePolicy`` writes it as it is. (The email package's own
folder, given the same name as an ``Address`` or as text, re-parses it and writes it
anew; on Python 3.11 that lost the quotes of a name with a comma under UTF-8 headers or
once folded, ``To: Müller, Hans <...>``, and put spaces inside long encoded names.)
"""

from __future__ import annotations

import contextlib
from email.header import Header
from email.utils import formataddr
from typing import NamedTuple

import idna

from newsletter.safetext import one_line


class WireAddress(NamedTuple):
    address: str  # the domain in IDNA (ASCII) form when it can be
    needs_utf8: bool  # the local part is not ASCII: SMTPUTF8 and UTF-8 headers only


def for_wire(address: str) -> WireAddress:
    local, _, domain = address.rpartition("@")
    # A domain IDNA refuses is left as written; the provider will say what it makes of it.
    with contextlib.suppress(idna.IDNAError):
        domain = idna.encode(domain, uts46=True).decode("ascii")
    wire = f"{local}@{domain}"
    return WireAddress(wire, not wire.isascii())


LINE = 78  # RFC 5322's recommended line length, CRLF not counted
# Folding leaves room for the longest name of an address header ("Reply-To: ").
_LONGEST_NAME = "Reply-To"


def display_name(name: str | None) -> str:
    """The name as a header shows it: on one line, without control characters, lone
    surrogates (each becomes a space) or invisible format characters (safetext.one_line),
    runs of white space made one, the ends trimmed."""
    return one_line(name)


def header_address(name: str | None, address: str) -> str:
    """``Name <address>`` as the header's value on the wire: the address in its wire
    form, the name cleaned, quoted or encoded as RFC 5322 and RFC 2047 ask, and folded
    (lines joined by ``\\n``, each continuation starting with a space).

    The result is ASCII unless the address's local part is not, when the message needs
    UTF-8 headers."""
    wire = for_wire(address).address
    shown = display_name(name)
    if not shown:
        return wire
    if shown.isascii() and "=?" not in shown:
        # formataddr refuses an address it cannot write in ASCII: let it quote the name
        # around a stand-in, then fold the phrase at its spaces (a quoted string may be
        # folded there: unfolding takes out only the line break).
        phrase = formataddr((shown, _STAND_IN)).removesuffix(f" <{_STAND_IN}>")
        folded = Header(phrase, "us-ascii", header_name=_LONGEST_NAME, maxlinelen=LINE
                        ).encode(splitchars=" ").lstrip("\n ")
    else:
        # Not ASCII, or it reads as an encoded word (which a reader's program would
        # decode, quoted or not): encoded words, as formataddr writes such a name.
        folded = Header(shown, "utf-8", header_name=_LONGEST_NAME, maxlinelen=LINE).encode()
    lines = folded.split("\n")
    room = LINE - (len(_LONGEST_NAME) + 2 if len(lines) == 1 else 0)
    between = " " if len(lines[-1]) + len(wire) + 3 <= room else "\n "
    return f"{folded}{between}<{wire}>"


_STAND_IN = "stand-in@example.invalid"
