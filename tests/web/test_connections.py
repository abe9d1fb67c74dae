"""The cap on the connections one client address holds open (newsletter/web/server.py):
through a real ``newsletter serve`` on loopback, where 127.0.0.0/8 is all ours, so that
127.0.0.2 plays the attacker, 127.0.0.3 everyone else, and 127.0.0.1 the trusted proxy
(uvicorn's default FORWARDED_ALLOW_IPS).

What a security tester did: 4,100 connections from one address that send nothing, each
reopened as the deadline closed it (about 490 a second), and everyone else was answered
503. Now the address holds its 256 and the rest are closed as they open."""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine
from uvicorn.middleware import proxy_headers

from newsletter.web import server
from tests.helpers import ONE_DATABASE
from tests.web.served import Served, newsletter_serve
from tests.web.test_hostile import _address, _more_files, _provider_post, head

ATTACKER, OTHER, PROXY = "127.0.0.2", "127.0.0.3", "127.0.0.1"
CAP = server.per_address(4096)  # serve's concurrency limit
# Long enough for the server to have accepted (or refused) a burst of connections, well
# short of the deadline that closes an idle one.
SETTLE = 1.0


@pytest.fixture
def served(project_dir: Path, engine: Engine,
           signing_key: ec.EllipticCurvePrivateKey) -> Iterator[Served]:
    with newsletter_serve(project_dir, engine, signing_key) as running:
        yield running


def idle(served: Served, source: str) -> socket.socket:
    """A connection from the loopback address ``source`` that sends nothing."""
    return socket.create_connection(_address(served), timeout=10, source_address=(source, 0))


def ended(socks: list[socket.socket]) -> list[socket.socket]:
    """Those of ``socks`` the server has closed: what it sent read and thrown away, then
    the end (or a reset). By poll, not select: there are more than 1,024 descriptors."""
    poller = select.poll()
    by_fd = {sock.fileno(): sock for sock in socks if sock.fileno() >= 0}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    return [by_fd[fd] for fd, _ in poller.poll(0) if _drained(by_fd[fd])]


def _drained(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    try:
        while poller.poll(0):
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    return False  # read to its last byte, and still open


def _close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def _get(served: Served, path: str, source: str) -> int:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10) as client:
        return client.get(served.url + path).status_code


# -- the cap, unit by unit ------------------------------------------------------------------

def test_the_cap_is_a_sixteenth_of_the_concurrency_at_most_256_at_least_8() -> None:
    assert [server.per_address(n) for n in (4096, 8192, None, 1024, 64)] == [256, 256, 256,
                                                                               64, 8]


def test_an_ipv6_64_is_one_address_and_a_mapped_ipv4_address_is_the_address() -> None:
    peers = server.Peers(server.Proxies("127.0.0.1"), cap=2)
    neighbours = [peers.take("2001:db8::1"), peers.take("2001:db8::ffff:ffff:ffff:ffff")]
    with pytest.raises(server.Refused):  # a fresh address of the same /64
        peers.take("2001:db8::1234")
    assert peers.take("2001:db8:0:1::1") == "2001:db8:0:1::/64"  # the next /64 is another
    assert [peers.take("192.0.2.1"), peers.take("::ffff:192.0.2.1")] == ["192.0.2.1"] * 2
    with pytest.raises(server.Refused):
        peers.take("192.0.2.1")
    for key in [*neighbours, "2001:db8:0:1::/64", "192.0.2.1", "192.0.2.1"]:
        assert key is not None
        peers.give_back(key)
    assert not peers.open  # nothing left behind for an address that has gone


def test_a_trusted_proxy_and_a_peer_without_an_address_are_not_counted() -> None:
    peers = server.Peers(server.Proxies("10.0.0.0/8, 192.0.2.7"), cap=1)
    for _ in range(3):
        assert peers.take("10.1.2.3") is None and peers.take("192.0.2.7") is None
        assert peers.take(None) is None
    assert not peers.open


SETTINGS = ["127.0.0.1", "127.0.0.1,::1", "*", ["*"], "127.0.0.1,*", " 10.0.0.0/8 , ::1",
            "172.30.0.10", "2001:db8::/32", "10.0.0.1/8", "unix:/run/x.sock", "", "nonsense"]
HOSTS = [None, "", "127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1", "10.9.8.7",
         "172.30.0.10", "172.30.0.11", "2001:db8:1::1", "2001:db9::1", "10.0.0.1",
         "unix:/run/x.sock", "*", "nonsense"]


@pytest.mark.parametrize("setting", SETTINGS)
def test_the_proxies_exempt_are_exactly_those_uvicorn_trusts(setting: str | list[str]) -> None:
    """uvicorn's own reading of FORWARDED_ALLOW_IPS (a private class, so compared here
    rather than used: a new uvicorn that reads it otherwise fails this test)."""
    theirs = proxy_headers._TrustedHosts(setting)
    ours = server.Proxies(setting)
    assert {host: host in ours for host in HOSTS} == {host: host in theirs for host in HOSTS}


# -- against a real server ------------------------------------------------------------------

@ONE_DATABASE
def test_one_address_holds_its_cap_and_no_more_and_a_proxy_has_no_cap(
        served: Served) -> None:
    _more_files(4096)
    held = [idle(served, ATTACKER) for _ in range(CAP)]
    past = [idle(served, ATTACKER) for _ in range(50)]
    trusted = [idle(served, PROXY) for _ in range(CAP + 50)]
    try:
        time.sleep(SETTLE)
        assert len(ended(past)) == 50  # closed as they opened, not left waiting
        assert ended(held) == [] and ended(trusted) == []
        assert _get(served, "/health", OTHER) == 200
    finally:
        _close_all(held + past + trusted)


@ONE_DATABASE
def test_thousands_of_idle_connections_reopened_from_one_address_keep_nobody_else_out(
        served: Served, signing_key: ec.EllipticCurvePrivateKey) -> None:
    """The tester's attack: 4,100 idle connections from one address, each reopened as
    soon as it is closed, at most 500 a second, through two rounds of the idle deadline;
    meanwhile another address's pages and signed webhook posts are answered 200."""
    _more_files(16384)
    stop = threading.Event()
    socks = [idle(served, ATTACKER) for _ in range(4100)]
    attacker = threading.Thread(target=_reopen, args=(served, socks, stop))
    attacker.start()
    try:
        time.sleep(SETTLE)
        started, statuses, n = time.monotonic(), [], 0
        while time.monotonic() - started < 12:  # past two rounds of the 5 s deadline
            statuses += [_get(served, "/health", OTHER), _get(served, "/subscribe", OTHER),
                         _provider_post(served, signing_key, OTHER, n).status_code]
            n += 1
            time.sleep(0.2)
        assert statuses == [200] * len(statuses) and n >= 10
    finally:
        stop.set()
        attacker.join(30)
        _close_all(socks)
    _count_is_back_to_zero(served)


def _reopen(served: Served, socks: list[socket.socket], stop: threading.Event) -> None:
    """Reopen each connection of ``socks`` that the server closes, 5 each 10 ms at most."""
    while not stop.is_set():
        index = {id(sock): n for n, sock in enumerate(socks)}
        for sock in ended(socks)[:5]:
            sock.close()
            with contextlib.suppress(OSError):
                socks[index[id(sock)]] = idle(served, ATTACKER)
        time.sleep(0.01)


def _count_is_back_to_zero(served: Served) -> None:
    """What the server counted for the attacker is back to nothing once its connections
    are closed: a whole cap of new ones is accepted again, and one more is refused."""
    time.sleep(SETTLE)  # the server has seen the last ones go
    again = [idle(served, ATTACKER) for _ in range(CAP)]
    one_more = idle(served, ATTACKER)
    try:
        time.sleep(SETTLE)
        assert ended(again) == [] and ended([one_more]) == [one_more]
    finally:
        _close_all([*again, one_more])


@ONE_DATABASE
def test_the_count_goes_back_down_however_a_connection_ends(served: Served) -> None:
    """Every way a connection ends gives its place back: the client closes or resets it,
    the server answers and closes it (Connection: close, HTTP/1.0, a 400), uvicorn's
    keep-alive timeout after an answer, the idle deadline, and the header deadline; and
    the idle deadline (5 s) is shorter than the one for headers begun (10 s)."""
    _more_files(4096)
    ways: dict[str, Callable[[socket.socket], None]] = {
        "client closes": socket.socket.close, "client resets": _reset,
        "close": _sends(head("GET", "/health", {"Connection": "close"})),
        "HTTP/1.0": _sends(b"GET /health HTTP/1.0\r\n\r\n"),
        "400": _sends(b"NOT HTTP\r\n\r\n"), "kept alive": _sends(head("GET", "/health")),
        "silent": _sends(b""), "headers begun": _sends(b"GET /health HTTP/1.1\r\nHost: 12")}
    socks = {way: [idle(served, ATTACKER) for _ in range(CAP // len(ways))] for way in ways}
    opened = time.monotonic()
    try:
        for way, group in socks.items():
            for sock in group:
                ways[way](sock)
        time.sleep(3)  # short of every deadline
        waiting = ["kept alive", "silent", "headers begun"]
        assert [way for way in waiting if ended(socks[way])] == []
        closed_at = {way: _all_ended(socks[way]) - opened for way in waiting}
        assert 4 < closed_at["silent"] < closed_at["headers begun"], closed_at
    finally:
        _close_all([sock for group in socks.values() for sock in group])
    _count_is_back_to_zero(served)


def _all_ended(socks: list[socket.socket]) -> float:
    """When the last of ``socks`` was closed by the server (within 30 s)."""
    left, until = list(socks), time.monotonic() + 30
    while left:
        assert time.monotonic() < until, "a connection was held past every deadline"
        done = ended(left)
        left = [sock for sock in left if sock not in done]
        time.sleep(0.05)
    return time.monotonic()


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _sends(request: bytes) -> Callable[[socket.socket], None]:
    def send(sock: socket.socket) -> None:
        sock.sendall(request)
    return send


# -- answers nobody reads -------------------------------------------------------------------

def _held_by_the_server(served: Served, source: str) -> int:
    """Connections from ``source`` the server's process still holds open, as the kernel
    lists them (/proc/net/tcp, the server's side: ESTABLISHED). One the process has let go
    of is FIN_WAIT (its unread answers still queued) or gone; the client's own side cannot
    tell, and reading it would be the very thing this client never does."""
    port = int(_address(served)[1])
    ip = socket.inet_aton(source)[::-1].hex().upper()
    held = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, state = line.split()[1:4]
        if local.endswith(f":{port:04X}") and remote.startswith(ip + ":") and state == "01":
            held += 1
    return held


def _asks_and_never_reads(served: Served, requests: bytes) -> socket.socket:
    """A connection with a small receive window and the internet's segment size, as the
    stranger's, that sends ``requests`` at once and then reads nothing."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1400)
    sock.bind((ATTACKER, 0))
    sock.connect(_address(served))
    sock.sendall(requests)
    return sock


@ONE_DATABASE
def test_answers_left_unread_do_not_hold_the_connection(served: Served) -> None:
    """The second stranger's attack: requests pipelined in a few kilobytes, the answers
    (a page each) never read. The request's task waited on the full write buffer for
    ever, past every deadline (those are for what arrives), and sixteen addresses' worth
    of such connections held all 4,096. Whichever way the connection would go on (kept
    alive, or closing after the last answer), the server lets go of it within
    WRITE_DEADLINE of the client's stopping to read."""
    page = head("GET", "/")
    shapes = {"kept alive": page * 60,
              "closing": page * 59 + head("GET", "/", {"Connection": "close"})}
    socks = [_asks_and_never_reads(served, requests)
             for requests in shapes.values() for _ in range(4)]
    try:
        time.sleep(server.BODY_DEADLINE)  # past every deadline for what arrives
        assert _held_by_the_server(served, ATTACKER) == len(socks)  # the attack is real
        until = time.monotonic() + server.WRITE_DEADLINE
        while time.monotonic() < until and _held_by_the_server(served, ATTACKER):
            time.sleep(0.5)
        assert _held_by_the_server(served, ATTACKER) == 0
    finally:
        _close_all(socks)
    _count_is_back_to_zero(served)
    assert _get(served, "/health", ATTACKER) == 200
    # A client gone is one line of ours a request, not uvicorn's error and a traceback's.
    assert not [line for line in served.lines()
                if "RuntimeError" in line or "ASGI callable" in line or "Traceback" in line]
