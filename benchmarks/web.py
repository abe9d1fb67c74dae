"""The readers' service under load, on PostgreSQL (or SQLite): one-click unsubscribes a
second, and SendGrid events a second in posts of 1,000. The service runs under uvicorn in
a process of its own on loopback; the load comes from this one. Prints figures and
asserts nothing. Usage:

    .venv/bin/python benchmarks/web.py [--unsubscribes 2000] [--events 100000]
                                       [--db postgres|sqlite] [--clients 8]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import database, free_port, service_settings, wait_until_up
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import text

SECRET = "bench-secret-of-at-least-thirty-two-bytes"  # serve refuses a shorter one


def fill(url: str, count: int) -> None:
    from newsletter.store import db

    engine = db.connect(url)
    rows = [{"email": f"r{n}@example.org", "email_key": f"r{n}@example.org", "name": None,
             "timezone": None, "status": "active", "created_at": "2024-01-01",
             "updated_at": "2024-01-01"} for n in range(count)]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO subscribers (email, email_key, name, timezone, status, "
                          "created_at, updated_at, link_key) VALUES (:email, :email_key, "
                          ":name, :timezone, :status, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, "
                          f"{db.KEY_SQL[engine.dialect.name]})"), rows)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--unsubscribes", type=int, default=2000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    from newsletter.tokens import make

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        service_settings(folder, port)
        url = database(args.db, folder)
        fill(url, args.unsubscribes)
        env = {**os.environ, "DATABASE_URL": url, "NEWSLETTER_SECRET": SECRET,
               "SENDGRID_WEBHOOK_PUBLIC_KEY": base64.b64encode(public).decode()}
        server = subprocess.Popen([str(Path(sys.executable).with_name("newsletter")), "serve",
                                   "--port", str(port)], cwd=folder, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base)
            unsubscribe_rate(base, link_keys(url), args.clients, make)
            event_rate(base, args.events, key)
        finally:
            server.terminate()
            server.wait(30)
        print(f"peak RSS of the service: {child_peak_mb():.0f} MB")


def link_keys(url: str) -> list[str]:
    """The readers' link keys, which their unsubscribe links name."""
    from newsletter.store import db

    engine = db.connect(url)
    with engine.connect() as conn:
        keys = list(conn.execute(text("SELECT link_key FROM subscribers ORDER BY id")).scalars())
    engine.dispose()
    return keys


def unsubscribe_rate(base: str, keys: list[str], clients: int, make) -> None:  # type: ignore[no-untyped-def]
    count = len(keys)
    links = [f"{base}/unsubscribe?t={make(SECRET.encode(), 'unsubscribe', key)}"
             for key in keys]
    with httpx.Client() as client, ThreadPoolExecutor(clients) as pool:
        started = time.perf_counter()
        codes = list(pool.map(lambda link: client.post(
            link, data={"List-Unsubscribe": "One-Click"}).status_code, links))
        wall = time.perf_counter() - started
    print(f"one-click unsubscribes: {count:,} in {wall:.1f} s = {count / wall:,.0f} a second "
          f"({codes.count(200):,} answered 200)")


def event_rate(base: str, count: int, key: ec.EllipticCurvePrivateKey) -> None:
    posts = []
    for start in range(0, count, 1000):
        body = json.dumps([{"email": f"r{n}@example.org", "timestamp": 1721710800,
                            "event": "delivered", "sg_event_id": f"ev-{n}",
                            "issue": "2024-07-23"} for n in range(start, min(start + 1000, count))]
                          ).encode()
        posts.append(body)
    with httpx.Client(timeout=60) as client:
        started = time.perf_counter()
        for body in posts:
            stamp = str(int(time.time()))
            signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
            client.post(f"{base}/webhooks/sendgrid", content=body, headers={
                "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp})
        wall = time.perf_counter() - started
    print(f"webhook events: {count:,} in posts of 1,000 in {wall:.1f} s = "
          f"{count / wall:,.0f} a second")


def child_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


if __name__ == "__main__":
    main()
