"""Addresses as they travel: internationalized domains in IDNA, names that cannot break
a header.

An address whose domain is not ASCII (``jörg@bücher.example``) is written with the
domain in its IDNA form (``jörg@xn--bcher-kva.example`` would still need more); one
whose local part is not ASCII (``josé@…``) can only travel as UTF-8 (SMTPUTF8, RFC 6531,
and UTF-8 headers, RFC 6532): :func:`for_wire` says which. Display names lose control
characters and line breaks, which would otherwise end a header early.
"""

from __future__ import annotations

import contextlib
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


def header_address(name: str | None, address: str) -> str:
    """``Name <address>`` for a header: the address in its wire form, the name cleaned and
    (when not ASCII) an encoded word. The result is ASCII unless the address's local part
    is not, when the message needs UTF-8 headers."""
    wire, shown = for_wire(address).address, one_line(name)
    if not shown:
        return wire
    # formataddr quotes or encodes the name as RFC 5322 asks, but refuses an address it
    # cannot write in ASCII: let it format the name around a stand-in, then put ours in.
    return formataddr((shown, _STAND_IN)).replace(f"<{_STAND_IN}>", f"<{wire}>")


_STAND_IN = "stand-in@example.invalid"
