"""What ``newsletter serve`` adds to uvicorn's HTTP protocol: deadlines for a request's
headers and for its body, and a cap on the connections one client address holds open.
uvicorn waits for either for ever, so a client that opens a connection and sends nothing,
trickles its headers a byte at a time ("slowloris"), or declares a body and never
finishes it, holds a connection and a slot of the concurrency limit for as long as it
likes; enough of them and every other client is answered 503. The deadlines bound how
long a connection is held; the cap bounds how many one address holds, so that one address
(even one reopening each connection as the deadline closes it, hundreds a second) cannot
take the whole concurrency limit.

The same for answers, the other way: a client that asks (pipelining twenty requests in
half a kilobyte) and never reads the answers held its connection for ever, the request's
task waiting on a write buffer that never drained, past every deadline above (they are
for what arrives), and sixteen addresses' worth of them filled the 4,096. An answer the
client leaves unread for WRITE_DEADLINE, while the buffer is full or after the connection
is closing, ends the connection by abort: close() would wait for the buffer to drain.

The body has two other guards, in the application and so under any server: a route that
reads one does so within forms.READ_DEADLINE (else 408), and the answer to a request whose
body was not read to its end closes the connection (forms.UnreadBodyCloses). The body
deadline here is the backstop behind both, for what they do not foresee."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
import weakref
from collections import Counter
from collections.abc import Sequence

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from newsletter.web.clients import bucket, kind

log = logging.getLogger("newsletter.web")

# A request line and headers are a few hundred bytes: any working client sends them in
# one packet. Ten seconds is the body's deadline in a route too (forms.READ_DEADLINE).
# Counted from a request's first byte; before it, a new connection is idle, and is given
# what an idle one gets between requests: uvicorn's keep-alive timeout (5 s in serve).
HEADER_DEADLINE = 10.0
# From the end of the headers to the end of the body, whatever the route does. Past the
# route's own deadline, so that its 408 is the answer a slow client gets.
BODY_DEADLINE = 15.0
# Seconds a client may leave our answers unread: while the write buffer is over its high
# water mark (asyncio's 64 KiB, on top of the kernel's), or once the connection is closing
# with answers still in it. A browser reads as fast as the page comes; a page is under
# 64 KiB, so a reader on the slowest link is never paused this long.
WRITE_DEADLINE = 15.0
# Connections one client address (an IPv4 address, an IPv6 /64) may hold open at once, at
# most, and at most this share of the concurrency limit: 256 of serve's 4,096, so that it
# takes sixteen addresses, not one, to fill the server. A browser opens about 6 per host,
# a provider posts its webhooks a few dozen at a time, and an office or a mobile carrier's
# NAT puts many readers behind one address: 256 is some forty browsers at the same moment.
PER_ADDRESS = 256
PER_ADDRESS_SHARE = 16
PER_ADDRESS_FLOOR = 8  # past a browser's 6, however low the concurrency limit
# A refusal is logged at most this often (seconds): an attacker is refused hundreds of
# times a second, and the log is not theirs to fill.
REFUSAL_LOG_EVERY = 60.0


def per_address(concurrency: int | None) -> int:
    """The cap on one address's connections under a concurrency limit (None: no limit)."""
    if concurrency is None:
        return PER_ADDRESS
    return max(min(PER_ADDRESS, concurrency // PER_ADDRESS_SHARE), PER_ADDRESS_FLOOR)


class Proxies:
    """The peers uvicorn trusts as proxies: ``forwarded_allow_ips`` (FORWARDED_ALLOW_IPS),
    read by uvicorn's rules: a comma-separated list of addresses, networks (CIDR) and
    other literals (a Unix socket's name), or ``*`` for every peer. The same rules as the
    X-Forwarded-For it reads, so that a peer is exempt from the cap exactly when uvicorn
    takes the reader's address from what it forwards."""

    def __init__(self, allowed: Sequence[str] | str) -> None:
        # uvicorn's "*" is the whole setting, alone; within a list it is a mere literal.
        self.everyone = allowed in ("*", ["*"])
        items = [item.strip() for item in allowed.split(",")] if isinstance(allowed, str) \
            else list(allowed)
        self.literals = set(items)
        self.networks = [network for item in items if (network := _network(item))]

    def __contains__(self, host: str | None) -> bool:
        if self.everyone:
            return True
        if not host:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host in self.literals
        return any(address in network for network in self.networks)


def _network(item: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:  # an address is its own /32 or /128
        return ipaddress.ip_network(item, strict=True)
    except ValueError:
        return None


class Peers:
    """The connections open per client address in one server, shared by all its
    connections' protocols, and the cap on them."""

    def __init__(self, proxies: Proxies, cap: int) -> None:
        self.proxies = proxies
        self.cap = cap
        self.open: Counter[str] = Counter()
        self._logged = float("-inf")

    def take(self, host: str | None) -> str | None:
        """Count a new connection from ``host``: its bucket, to give back when it closes;
        None when it is not counted (a proxy's, or not over IP); :class:`Refused` past
        the cap."""
        if host is None or host in self.proxies:
            return None
        key = bucket(host)
        if self.open[key] >= self.cap:
            self._log(key)
            raise Refused(key)
        self.open[key] += 1
        return key

    def give_back(self, key: str) -> None:
        self.open[key] -= 1
        if self.open[key] <= 0:
            del self.open[key]  # an address that has gone costs nothing

    def _log(self, key: str) -> None:
        now = time.monotonic()
        if now - self._logged >= REFUSAL_LOG_EVERY:
            self._logged = now
            log.warning("closed connections from one client address (%s) past the %d it "
                        "may hold open at once (logged at most once a minute)",
                        kind(key), self.cap)


class Refused(Exception):
    """A connection past its address's cap."""


# One count per server (uvicorn makes one ServerState for a server's protocols), so that
# two servers in one process (tests) do not share theirs.
_PEERS: weakref.WeakKeyDictionary[ServerState, Peers] = weakref.WeakKeyDictionary()


def peers(state: ServerState, config: Config) -> Peers:
    if state not in _PEERS:
        cap = per_address(config.limit_concurrency)
        _PEERS[state] = Peers(Proxies(config.forwarded_allow_ips), cap)
    return _PEERS[state]


class RequestInTime(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection that sends nothing within the
    keep-alive timeout of opening (uvicorn's limit on the idle time between requests),
    one whose request has not brought all its headers within HEADER_DEADLINE of its first
    byte, or all its body within BODY_DEADLINE of its headers. A
    connection from an address that already holds its :func:`per_address` is closed as it
    opens, unless the address is a proxy uvicorn trusts (behind a proxy every reader's
    connection comes from the proxy: the proxy limits each reader's)."""

    _deadline: asyncio.TimerHandle | None = None
    _unread: asyncio.TimerHandle | None = None  # WRITE_DEADLINE for answers not read
    _counted: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._cycles: list[RequestResponseCycle] = []  # answers begun or waiting, in order
        try:
            self._counted = peers(self.server_state, self.config).take(
                self.client[0] if self.client else None)
        except Refused:
            # Closed, not answered 503: an answer would wait for a request this client may
            # never send, and cost a write per refusal to a client opening hundreds a
            # second. A browser past the cap sees a closed connection, as on a lost one.
            transport.close()
            return
        # Any client sends its request as soon as it has connected; one that has sent
        # nothing is idle, and a silent connection held half as long costs an attacker
        # with many addresses twice the connections a second. (A browser's unused
        # preconnection, closed, is opened again when needed.)
        self._arm(self.timeout_keep_alive)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(HEADER_DEADLINE)

    def on_headers_complete(self) -> None:
        # httptools calls on_message_complete at once after this when there is no body.
        self._arm(BODY_DEADLINE)
        super().on_headers_complete()
        self._cycles = [cycle for cycle in self._cycles if not cycle.response_complete]
        self._cycles.append(self.cycle)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def pause_writing(self) -> None:
        super().pause_writing()
        self._abort_unless_read()

    def resume_writing(self) -> None:
        self._read_at_last()
        super().resume_writing()
        if self.transport.is_closing():  # it reads: a fresh deadline for the rest
            self._closing()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():  # an answer with Connection: close
            self._closing()

    def timeout_keep_alive_handler(self) -> None:
        super().timeout_keep_alive_handler()
        self._closing()

    def handle_websocket_upgrade(self) -> None:
        # The connection passes to another protocol, whose end this one never sees.
        self._give_back()
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        # asyncio calls this once for every connection made, however it ends: closed by
        # the client, by a deadline, by the server, or by an error.
        self._disarm()
        self._read_at_last()
        self._give_back()
        self._for_nobody()
        super().connection_lost(exc)

    def _give_back(self) -> None:
        if self._counted is not None:
            peers(self.server_state, self.config).give_back(self._counted)
            self._counted = None

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _late(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()
        self._closing()

    def _closing(self) -> None:
        """The transport is closing: at once if its buffer is empty, else once the client
        has read what is left, or WRITE_DEADLINE from now, whichever is first."""
        if self.transport.get_write_buffer_size():
            self._abort_unless_read()

    def _abort_unless_read(self) -> None:
        if self._unread is None:
            self._unread = self.loop.call_later(WRITE_DEADLINE, self._abort)

    def _abort(self) -> None:
        self._for_nobody()  # before the abort, which wakes the task waiting to write
        self.transport.abort()

    def _for_nobody(self) -> None:
        """Every answer still being made on this connection is for nobody now. uvicorn
        says so of the last request parsed (``self.cycle``) alone; with requests
        pipelined, the one being answered is an earlier one, whose task then woke and
        wrote to the closed transport (a RuntimeError, and uvicorn's "ASGI callable
        returned without completing response": two error lines a client that left)."""
        for cycle in self._cycles:
            if not cycle.response_complete:
                cycle.disconnected = True

    def _read_at_last(self) -> None:
        if self._unread is not None:
            self._unread.cancel()
            self._unread = None
