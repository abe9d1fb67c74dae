"""What a reader costs on our side when sending through SES: one raw message a request.

Sends ``--messages`` readers through the SES transport (boto3, SES v2 SendEmail with Raw
content) to a local stand-in that only reads each request and answers as SES does, in
``--threads`` threads, and prints the time a message, split into writing the reader's
message (``personal_message``) and the request (boto3's signing, the HTTP exchange over
a kept-alive connection). Also prints what a send of a million costs in requests and in
time at a given account rate (``--rate``, messages a second), which SES counts per
recipient whether a request carries one (SendEmail) or fifty (SendBulkEmail).

    PYTHONPATH=. python benchmarks/ses.py --messages 2000 --threads 1 4
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from newsletter.config import Environment
from newsletter.delivery.providers import registry
from newsletter.project import Project
from newsletter.store.recipient import Recipient

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "publication"


class Answering(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"MessageId": uuid.uuid4().hex}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--rate", type=float, nargs="+", default=[14.0, 200.0])
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answering)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    folder = Path(tempfile.mkdtemp())
    try:
        shutil.copy(FIXTURE / "newsletter.yaml", folder / "newsletter.yaml")
        shutil.copytree(FIXTURE / "issues", folder / "issues")
        with (folder / "newsletter.yaml").open("a") as settings:
            settings.write("delivery:\n  ses:\n    configuration_set: bench\n")
        project = Project(folder / "newsletter.yaml")
        email = project.render(project.resolve("2024-07-23")).email
        env = Environment.from_environ({
            "SES_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDBENCH",
            "AWS_SECRET_ACCESS_KEY": "bench", "NEWSLETTER_SECRET": "b" * 40,
            "SES_ENDPOINT_URL": f"http://127.0.0.1:{server.server_address[1]}"})
        transport = registry.make("ses", project.publication, env, outbox=folder)
        readers = [Recipient(n, f"reader{n}@example.org", f"Reader {n}", None, f"{n:032x}")
                   for n in range(args.messages)]
        start = time.perf_counter()
        for reader in readers[:500]:
            transport.personal_message(email, reader)
        build = (time.perf_counter() - start) / 500
        print(f"writing one reader's message: {build * 1000:.2f} ms "
              f"({len(transport.personal_message(email, readers[0]).raw):,} bytes)")
        for threads in args.threads:
            start = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda r: transport.send(email, [r]), readers))
            took = time.perf_counter() - start
            print(f"{threads} thread(s): {took / len(readers) * 1000:.2f} ms a message, "
                  f"{len(readers) / took:,.0f} messages a second, write and request")
        for rate in args.rate:
            hours = 1_000_000 / rate / 3600
            print(f"a million readers at {rate:g} a second (the account's rate): "
                  f"{hours:.1f} h; 1,000,000 requests raw, 20,000 with SendBulkEmail")
    finally:
        server.shutdown()
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
