"""A send through the SendGrid transport to a stand-in that charges what a runner 40 ms
from SendGrid pays: with connections kept open between requests, and without.

Loopback hides what a far server costs (and this kernel has no netem to add it), so the
stand-in charges it itself: an HTTPS server on loopback (TLS with a CA of its own, which
the send trusts through SSL_CERT_FILE, as it would a system's) that waits ``--connect``
ms (TCP's and TLS's handshakes, two round trips) before the handshake of each new
connection, and ``--request`` ms (one round trip) before answering each request, 202 and
an X-Message-Id as /v3/mail/send does. It runs on asyncio in a process of its own, and
takes any number of connections at once.

The send is `newsletter send`'s, through the API with the command's process settings
(its modules frozen out of the cycle collector, cli/interrupts.py), on a SQLite
database of ``--readers`` readers (seeded in SQL): rendering, planning, batches of
1,000, the ledger. It runs twice on the same data: once as it is, once with the stand-in
answering every request with ``Connection: close`` (a server that keeps nothing open),
which makes the same client code open a connection for each request. Prints figures;
asserts nothing. Run from the repository root:

    .venv/bin/python benchmarks/keepalive.py                      # 100,000 readers, concurrency 4
    .venv/bin/python benchmarks/keepalive.py --concurrency 8 --readers 200000
    .venv/bin/python benchmarks/keepalive.py --workers 2         # bodies built in 2 processes

Besides the times it prints the CPU seconds each side used: the sending process (and its
workers), and the stand-in (read from /proc, where there is one), which share the
machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import resource
import shutil
import ssl
import tempfile
import time
from pathlib import Path
from queue import Empty
from typing import Any

from common import PUBLICATION

LENGTH = re.compile(rb"(?im)^content-length:\s*(\d+)\s*$")


class Counters:
    """What the stand-in saw, shared with this process: connections accepted, requests
    answered, the first request's arrival and the last answer's time (monotonic)."""

    def __init__(self, ctx: Any) -> None:
        self.connections = ctx.Value("i", 0)
        self.requests = ctx.Value("i", 0)
        self.first = ctx.Value("d", 0.0)
        self.last = ctx.Value("d", 0.0)
        self.close_each = ctx.Value("b", False)

    def reset(self, close_each: bool) -> None:
        for value in (self.connections, self.requests, self.first, self.last):
            value.value = 0
        self.close_each.value = close_each


def serve(cert: str, key: str, connect: float, request: float, counters: Counters,
          port: Any) -> None:
    """The stand-in: run until terminated."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            # The handshakes' round trips, then the real one. The client's hello waits in
            # the socket meanwhile, not in the stream's buffer, where TLS would not see it.
            writer.transport.pause_reading()
            await asyncio.sleep(connect)
            await writer.start_tls(context)
            counters.connections.value += 1
            while await answer(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # the client closed it
        finally:
            writer.close()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        if not counters.first.value:
            counters.first.value = time.monotonic()
        found = LENGTH.search(head)
        await reader.readexactly(int(found.group(1)) if found else 0)
        await asyncio.sleep(request)
        close = bool(counters.close_each.value)
        writer.write(b"HTTP/1.1 202 Accepted\r\nX-Message-Id: bench\r\nContent-Length: 0\r\n"
                     + (b"Connection: close\r\n" if close else b"") + b"\r\n")
        await writer.drain()
        counters.requests.value += 1
        counters.last.value = time.monotonic()
        return not close

    async def main() -> None:
        server = await asyncio.start_server(connection, "127.0.0.1", 0, backlog=1024)
        port.value = server.sockets[0].getsockname()[1]
        await server.serve_forever()

    asyncio.run(main())


def send(config: Path, url: str, port: int, ca: str, concurrency: int, workers: int,
         out: Any) -> None:
    """One `newsletter send` through the API, in a process of its own; puts its wall time
    and report on ``out``."""
    os.environ.update({"SENDGRID_API_KEY": "SG.bench", "SENDGRID_HOST": f"https://127.0.0.1:{port}",
                       "SSL_CERT_FILE": ca, "NEWSLETTER_SECRET": "bench-secret",
                       "DATABASE_URL": url})
    import gc

    from newsletter import Newsletter, SendOptions
    from newsletter.cli import interrupts

    newsletter = Newsletter(config)
    newsletter.engine  # noqa: B018 - opened (and migrated) before the clock starts
    gc.freeze()  # what `newsletter send` does once its modules are loaded (cli/__init__.py)
    started = time.monotonic()
    with interrupts.for_a_send() as interrupt:  # and the settings it sends with
        report = newsletter.send("2024-07-23", SendOptions(transport="sendgrid",
                                                           concurrency=concurrency,
                                                           workers=workers),
                                 interrupt=interrupt)
    wall = time.monotonic() - started
    newsletter.engine.dispose()  # frozen, it would never be collected: its WAL folded in now
    used = [resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                 resource.RUSAGE_CHILDREN)]
    out.put((started, wall, report.requests, report.counts.get("sent"), report.failed,
             sum(u.ru_utime + u.ru_stime for u in used)))


def cpu_seconds(pid: int) -> float:
    """The CPU time a process has used so far, from /proc (0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def project(folder: Path, batch_size: int) -> None:
    """The repository's publication and issues, in ``folder``, with ``batch_size``."""
    text = (PUBLICATION / "newsletter.yaml").read_text()
    (folder / "newsletter.yaml").write_text(
        f"{text}\ndelivery:\n  sendgrid:\n    batch_size: {batch_size}\n")
    (folder / "issues").symlink_to(PUBLICATION / "issues")


def certificate(folder: Path) -> tuple[str, str, str]:
    """A CA of the benchmark's own and a certificate for 127.0.0.1: (ca, cert, key)."""
    import trustme

    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    paths = [str(folder / name) for name in ("ca.pem", "cert.pem", "key.pem")]
    ca.cert_pem.write_to_path(paths[0])
    issued.cert_chain_pems[0].write_to_path(paths[1])
    issued.private_key_pem.write_to_path(paths[2])
    return paths[0], paths[1], paths[2]


def one_send(ctx: Any, seeded: Path, folder: Path, port: int, ca: str, concurrency: int,
             workers: int, counters: Counters, close_each: bool, server: int
             ) -> tuple[float, ...]:
    """The send on a copy of the seeded database; (wall s, sending s, before the first
    request s, after the last answer s, requests, sent, failed, connections, CPU s of the
    sending process and its workers, CPU s of the stand-in meanwhile). The two processes'
    monotonic clocks are the same clock (the system's), so their times compare."""
    database = folder / ("without.sqlite3" if close_each else "with.sqlite3")
    for leftover in database.parent.glob(database.name + "-*"):  # a killed run's WAL
        leftover.unlink()
    shutil.copy(seeded, database)
    counters.reset(close_each)
    queue = ctx.Queue()
    child = ctx.Process(target=send, args=(folder / "newsletter.yaml", f"sqlite:///{database}",
                                           port, ca, concurrency, workers, queue))
    served = cpu_seconds(server)
    child.start()
    while True:
        try:
            started, wall, requests, sent, failed, cpu = queue.get(timeout=1)
            break
        except Empty:
            if not child.is_alive():
                raise SystemExit(f"the send failed (exit code {child.exitcode})") from None
    child.join()
    first, last = counters.first.value, counters.last.value
    return (wall, last - first, first - started, started + wall - last, requests, sent,
            failed, counters.connections.value, cpu, cpu_seconds(server) - served)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=4,
                        help="requests at once (as newsletter send --concurrency)")
    parser.add_argument("--connect", type=float, default=80.0,
                        help="ms charged for each new connection's handshakes")
    parser.add_argument("--request", type=float, default=40.0, help="ms charged for each request")
    parser.add_argument("--runs", type=int, default=1, help="sends of each kind")
    parser.add_argument("--workers", type=int, default=0,
                        help="processes that build and post the requests (as newsletter "
                             "send --workers)")
    parser.add_argument("--batch-size", type=int, default=1000,
                        help="readers a request (fewer: less CPU a request, the same round "
                             "trips; for a machine too busy to show them)")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    counters, port = Counters(ctx), ctx.Value("i", 0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ca, cert, key = certificate(folder)
        project(folder, args.batch_size)
        server = ctx.Process(target=serve, args=(cert, key, args.connect / 1000,
                                                 args.request / 1000, counters, port),
                             daemon=True)
        server.start()
        try:
            while not port.value:
                time.sleep(0.01)
            from send import populate  # the send benchmark's seeding, in SQL

            seeded = folder / "seeded.sqlite3"
            filler = ctx.Process(target=populate, args=(f"sqlite:///{seeded}", args.readers))
            filler.start()
            filler.join()
            for _ in range(args.runs):
                for close_each in (False, True):
                    figures = one_send(ctx, seeded, folder, port.value, ca, args.concurrency,
                                       args.workers, counters, close_each, server.pid)
                    report(args, figures, close_each)
        finally:
            server.terminate()


def report(args: argparse.Namespace, figures: tuple[float, ...], close_each: bool) -> None:
    wall, sending, before, after, requests, sent, failed, connections, cpu, served = figures
    ideal = requests * args.request / 1000 / args.concurrency
    kind = "without reuse (Connection: close)" if close_each else "with reuse          "
    print(f"{kind}: {int(requests)} requests, concurrency {args.concurrency}, ideal "
          f"{ideal:.2f} s; the whole send {wall:.2f} s ({wall / ideal:.2f}x ideal), "
          f"first request to last answer {sending:.2f} s ({sending / ideal:.2f}x), before it "
          f"{before:.2f} s, after {after:.2f} s; "
          f"{int(connections)} connections, {int(sent):,} sent, {int(failed)} failed; "
          f"the sending process{' and its workers' if args.workers else ''} used "
          f"{cpu:.2f} s of CPU, the stand-in {served:.2f} s (the machine's load average: "
          f"{os.getloadavg()[0]:.1f})",
          flush=True)


if __name__ == "__main__":
    main()
