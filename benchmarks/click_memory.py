"""What the click counting holds in memory against many clients: one signed click link
with a long URL (2,000 characters, the longest a link carries) followed from N distinct
client addresses, through one real ``newsletter serve`` worker. Prints the worker's
resident memory before, right after and a while after, and the growth per address.
Asserts nothing. Usage:

    .venv/bin/python benchmarks/click_memory.py [--addresses 200000] [--url-length 2000]
                                                [--family ipv4|ipv6] [--db postgres|sqlite]

The addresses arrive as ``X-Forwarded-For`` from 127.0.0.1, which uvicorn trusts by
default, standing in for a reverse proxy (or, without one, for the IPv6 /64 blocks an
attacker can have by the hundred thousand). Requests are pipelined on a few kept
connections so that the client's own speed does not decide the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from common import database, free_port, service_settings, wait_until_up

SECRET = "bench-secret-of-at-least-thirty-two-bytes"  # serve refuses a shorter one
DAY = dt.date(2024, 7, 23)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
PIPELINE = 64  # requests sent on a connection before its answers are read
STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) ")


def address(n: int, family: str) -> str:
    """The ``n``-th client: an IPv4 address, or an address in the ``n``-th IPv6 /64."""
    if family == "ipv4":
        return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
    return f"2001:db8:{n >> 16 & 0xffff:x}:{n & 0xffff:x}::1"


def long_url(length: int) -> str:
    start = "https://news.example/story?"
    return start + "q" * (length - len(start))


def rss_kib(pid: int) -> tuple[int, int]:
    """A process's resident memory now and at its peak (VmRSS, VmHWM), in KiB."""
    status = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0])


def drive(port: int, path: str, numbers: range, family: str, seen: Counter[str]) -> None:
    """Follow the link once from each address of ``numbers``, pipelined on one kept
    connection; the answers' statuses counted into ``seen``."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for start in range(numbers.start, numbers.stop, PIPELINE):
            batch = range(start, min(start + PIPELINE, numbers.stop))
            sock.sendall(b"".join(
                (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {BROWSER}\r\n"
                 f"X-Forwarded-For: {address(n, family)}\r\n\r\n").encode() for n in batch))
            seen.update(_answers(sock, len(batch)))


def _answers(sock: socket.socket, wanted: int) -> list[str]:
    """The statuses of ``wanted`` answers without bodies (a redirect's is empty)."""
    data = b""
    while data.count(b"\r\n\r\n") < wanted:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return [m.group(1).decode() for m in STATUS.finditer(data)]


def run(port: int, path: str, count: int, family: str, connections: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    share = -(-count // connections)
    threads = [threading.Thread(target=drive, args=(
        port, path, range(i * share, min((i + 1) * share, count)), family, seen))
        for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--addresses", type=int, default=200_000)
    parser.add_argument("--url-length", type=int, default=2000)
    parser.add_argument("--family", choices=["ipv4", "ipv6"], default="ipv6")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--settle", type=float, default=15.0,
                        help="seconds to wait after the last click (the hold, a flush)")
    args = parser.parse_args()
    from newsletter import clicks

    url = long_url(args.url_length)
    path = f"/c/{clicks.make(clicks.key(SECRET.encode()), DAY, url)}"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        service_settings(folder, port)
        env = {**os.environ, "DATABASE_URL": database(args.db, folder),
               "NEWSLETTER_SECRET": SECRET}
        server = subprocess.Popen([str(Path(sys.executable).with_name("newsletter")), "serve",
                                   "--port", str(port)], cwd=folder, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until_up(f"http://127.0.0.1:{port}", 60)
            measure(server.pid, port, path, args)
        finally:
            server.terminate()
            server.wait(60)


def measure(pid: int, port: int, path: str, args: argparse.Namespace) -> None:
    run(port, path, 2000, "ipv4" if args.family == "ipv6" else "ipv6", 2)  # warm: other addresses
    time.sleep(args.settle)
    idle, _ = rss_kib(pid)
    started = time.monotonic()
    seen = run(port, path, args.addresses, args.family, args.connections)
    took = time.monotonic() - started
    after, peak = rss_kib(pid)
    time.sleep(args.settle)
    settled, _ = rss_kib(pid)
    print(f"{args.addresses:,} {args.family} addresses, one link with a {args.url_length:,}-"
          f"character URL, in {took:.1f} s ({args.addresses / took:,.0f} a second); "
          f"answers {dict(seen)}")
    print(f"worker RSS: idle {idle / 1024:.1f} MiB, after {after / 1024:.1f} MiB, "
          f"peak {peak / 1024:.1f} MiB, {args.settle:.0f} s later {settled / 1024:.1f} MiB")
    growth = settled - idle
    print(f"growth: {growth / 1024:.1f} MiB, {growth * 1024 / args.addresses:,.0f} bytes an "
          "address")


if __name__ == "__main__":
    main()
