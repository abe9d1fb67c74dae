"""Who is asking: a client's address as the service counts it, and a check that the
addresses it sees are the readers' own and not a reverse proxy's.

A limit per client address means something only if every spelling of one address is one
bucket and an address is not free to make: IPv4 counts per address; IPv6 per /64, the
block one household or one server gets, so that the 2**64 addresses of one block are not
2**64 fresh buckets. An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) is the IPv4
address; a zone id (``fe80::1%eth0``) is dropped; anything that is not an address at all
shares one bucket, ``unknown``, rather than making a new one per spelling.

Behind a reverse proxy the address uvicorn hands over is the proxy's unless the proxy
sends ``X-Forwarded-For`` and uvicorn trusts it (``FORWARDED_ALLOW_IPS``). Then every
reader shares one bucket and the limit locks everyone out at once; :class:`ProxyCheck`
says so in the log, once, instead of leaving it to be found in an outage.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

log = logging.getLogger("newsletter.web")
UNKNOWN = "unknown"
IPV6_PREFIX = 64
# Requests seen before the check decides; paths a machine calls (a load balancer's health
# check, a provider's webhook) come from one address by nature and are not counted.
SAMPLE = 50
MACHINE_PATHS = ("/health", "/webhooks/")
ADVICE = ("set FORWARDED_ALLOW_IPS to the proxy's address and have the proxy send "
          "X-Forwarded-For (nginx: proxy_set_header X-Forwarded-For "
          "$proxy_add_x_forwarded_for); see docs/readers.md, 'Behind a reverse proxy'")

Scope = MutableMapping[str, Any]
App = Callable[[Scope, Any, Any], Awaitable[None]]


def bucket(host: str | None) -> str:
    """The rate-limit bucket of a client address: the IPv4 address, or the IPv6 /64, in
    one canonical spelling; ``unknown`` for anything that is not an address."""
    address = _parse(host or "")
    if address is None:
        return UNKNOWN
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        if address.is_loopback:  # ::1 alone, not the /64 around it
            return str(address)
        network = ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False)
        return str(network)
    return str(address)


def _parse(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = host.strip().removeprefix("[").removesuffix("]").partition("%")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def kind(bucket_: str) -> str:
    """What sort of address a bucket is, for a log line that names no address."""
    try:
        network = ipaddress.ip_network(bucket_)
    except ValueError:
        return "an unknown address"
    if network.is_loopback:
        return "a loopback address"
    return "a private address" if network.is_private else "a public address"


class ProxyCheck:
    """ASGI middleware: when the first :data:`SAMPLE` requests from readers all came from
    one client address, log one warning that a proxy is hiding the readers' addresses.
    It watches only those first requests, then steps aside."""

    def __init__(self, app: App, sample: int = SAMPLE) -> None:
        self.app = app
        self.sample = sample
        self.seen: set[str] = set()
        self.count = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if self.count < self.sample and scope.get("type") == "http":
            self._note(scope)
        await self.app(scope, receive, send)

    def _note(self, scope: Scope) -> None:
        if str(scope.get("path", "")).startswith(MACHINE_PATHS):
            return
        client = scope.get("client")
        self.seen.add(bucket(client[0] if client else None))
        self.count += 1
        if self.count == self.sample and len(self.seen) == 1:
            log.warning("the first %d requests all came from one client address (%s): a "
                        "reverse proxy in front of the service is not passing the readers' "
                        "addresses, so they all share one rate limit; %s", self.sample,
                        kind(next(iter(self.seen))), ADVICE)
