"""The sender's domain in DNS: SPF, DKIM and DMARC, read only when asked
(``newsletter health --dns``): the answers live outside this tool, and a machine without
a resolver (CI in a sandbox) must not fail a health check for it.

Each check says what it found, or plainly what it could not check and why: mailbox
providers judge a bulk sender by these three, and by DMARC *alignment* (the From domain
matching the domain SPF or DKIM vouched for), which only the provider's own setup makes
true; this reads the records, it cannot see a message's headers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

import dns.exception
import dns.resolver

__all__ = ["Finding", "Found", "check"]

# Where one large sending service puts DKIM by default (its "automated security"); other
# services' selectors are random, so they must be named (--dkim-selector).
DEFAULT_SELECTORS = ("s1", "s2")


class Found(StrEnum):
    OK = "ok"
    WARN = "warn"
    MISSING = "missing"
    UNKNOWN = "unknown"  # the question could not be asked or answered


@dataclass(frozen=True)
class Finding:
    name: str  # "SPF", "DMARC", "DKIM s1"
    found: Found
    detail: str


def check(domain: str, selectors: Sequence[str] = DEFAULT_SELECTORS, *,
          resolver: dns.resolver.Resolver | None = None) -> list[Finding]:
    """SPF, DMARC and DKIM (at each selector) for ``domain``, asked at once: a resolver
    that does not answer costs its ``lifetime`` (5 s by default) once, not once a
    question."""
    ask = resolver or dns.resolver.Resolver()
    questions: list[Callable[[], Finding]] = [
        partial(_spf, ask, domain), partial(_dmarc, ask, domain),
        *(partial(_dkim, ask, domain, selector) for selector in selectors)]
    with ThreadPoolExecutor(min(len(questions), 8), thread_name_prefix="dns") as pool:
        return list(pool.map(lambda question: question(), questions))


def _texts(ask: dns.resolver.Resolver, name: str) -> list[str] | str:
    """The TXT strings at ``name``, or why they could not be read (a str)."""
    try:
        answer = ask.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException as exc:
        return f"could not ask DNS for {name}: {type(exc).__name__}"
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]


def _spf(ask: dns.resolver.Resolver, domain: str) -> Finding:
    found = _texts(ask, domain)
    if isinstance(found, str):
        return Finding("SPF", Found.UNKNOWN, found)
    records = [t for t in found if t.lower().startswith("v=spf1")]
    if not records:
        return Finding("SPF", Found.MISSING, f"no v=spf1 record at {domain}: receivers "
                       "cannot tell which servers may send for it")
    if len(records) > 1:
        return Finding("SPF", Found.WARN, f"{len(records)} v=spf1 records at {domain}: "
                       "SPF fails when there is more than one (merge them)")
    record = records[0]
    if record.rstrip().endswith("+all"):
        return Finding("SPF", Found.WARN, f"{record!r} lets any server send for {domain}")
    return Finding("SPF", Found.OK, record)


def _dmarc(ask: dns.resolver.Resolver, domain: str) -> Finding:
    name = f"_dmarc.{domain}"
    found = _texts(ask, name)
    if isinstance(found, str):
        return Finding("DMARC", Found.UNKNOWN, found)
    records = [t for t in found if t.upper().startswith("V=DMARC1")]
    if len(records) != 1:
        what = "no" if not records else f"{len(records)}"
        return Finding("DMARC", Found.MISSING, f"{what} v=DMARC1 record at {name}: Gmail "
                       "and Yahoo ask bulk senders for one (p=none at least)")
    tags = dict(part.strip().split("=", 1) for part in records[0].split(";")
                if "=" in part)
    policy = tags.get("p", "").strip().lower()
    if policy not in ("none", "quarantine", "reject"):
        return Finding("DMARC", Found.WARN, f"{records[0]!r} has no valid p= policy")
    return Finding("DMARC", Found.OK, records[0])


def _dkim(ask: dns.resolver.Resolver, domain: str, selector: str) -> Finding:
    name = f"{selector}._domainkey.{domain}"
    found = _texts(ask, name)
    if isinstance(found, str):
        return Finding(f"DKIM {selector}", Found.UNKNOWN, found)
    keys = [t for t in found if "p=" in t]
    if not keys:
        return Finding(f"DKIM {selector}", Found.MISSING, f"no key at {name} (name your "
                       "provider's selectors with --dkim-selector)")
    if "p=;" in keys[0].replace(" ", "") or keys[0].replace(" ", "").endswith("p="):
        return Finding(f"DKIM {selector}", Found.WARN, f"the key at {name} is revoked "
                       "(empty p=)")
    return Finding(f"DKIM {selector}", Found.OK, f"a key at {name}")
