"""The rate limit through a real reverse proxy in front of a real `newsletter serve`,
each proxy running the example configuration from docs/deploy/ (only ports and
certificate paths changed): readers from two addresses are counted apart, and an
X-Forwarded-For a client forges buys it no fresh bucket.

The test client runs on this machine, so it binds its socket to 127.0.0.2, 127.0.0.3 or
127.0.0.4 (all loopback on Linux) to be three different readers; the proxy reaches the
service from 127.0.0.1, the address uvicorn trusts by default. nginx (Debian's
nginx-light) and Caddy are started by the test and stopped by their pid; each is skipped
with its reason when missing, and fails in CI (.ci/run installs both).
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from newsletter.web import clients
from tests.helpers import REPO, need
from tests.web.server import SECRET, free_port

LIMIT = 3  # readers.requests_per_hour for these tests
DEPLOY = REPO / "docs" / "deploy"


@dataclass
class Proxy:
    url: str  # where readers reach it
    verify: object  # an SSL context for its certificate, or False for plain HTTP


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(200):
        if process.poll() is not None:
            pytest.fail(f"exited with {process.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"nothing listened on {port}: {log.read_text()[-2000:]}")


@contextmanager
def running(args: list[str], port: int, log: Path, **env: str) -> Iterator[None]:
    """A process started here and stopped by its pid, once ``port`` answers."""
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, **env})
    try:
        wait_for_port(port, process, log)
        yield
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture
def service(project_dir: Path, engine: Engine, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, Path]]:
    """`newsletter serve` on loopback with a limit of LIMIT an hour; its port and log."""
    settings = project_dir / "newsletter.yaml"
    settings.write_text(settings.read_text() + f"  requests_per_hour: {LIMIT}\n")
    port, log = free_port(), tmp_path / "serve.log"
    newsletter = str(Path(sys.executable).with_name("newsletter"))
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)  # uvicorn's default: 127.0.0.1
    with running([newsletter, "serve", "--port", str(port)], port, log,
                 NEWSLETTER_SECRET=SECRET,
                 DATABASE_URL=engine.url.render_as_string(hide_password=False)):
        yield port, log


def replaced(text: str, changes: dict[str, str]) -> str:
    for old, new in changes.items():
        assert old in text, f"the example no longer has {old!r}"
        text = text.replace(old, new)
    return text


@contextmanager
def nginx(upstream: int, folder: Path, *, without: str = "") -> Iterator[Proxy]:
    """docs/deploy/nginx.conf in a main configuration of the test's own; ``without``
    drops a line of it (to show what a proxy that forgets it does)."""
    need(shutil.which("nginx") is not None, "nginx (Debian's nginx-light)")
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "readers.example.org")
    cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "cert.pem"))
    tls, plain = free_port(), free_port()
    site = replaced((DEPLOY / "nginx.conf").read_text(), {
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{upstream};",
        "listen 443 ssl;": f"listen 127.0.0.1:{tls} ssl;",
        "listen 80;": f"listen 127.0.0.1:{plain};",
        "/etc/letsencrypt/live/readers.example.org/fullchain.pem": str(folder / "cert.pem"),
        "/etc/letsencrypt/live/readers.example.org/privkey.pem": str(folder / "cert.pem"),
    })
    if without:
        site = replaced(site, {without: ""})
    (folder / "site.conf").write_text(site)
    temp = " ".join(f"{name}_temp_path {folder / name};" for name in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (folder / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} warn;\nevents {{}}\n"
        f"http {{ access_log off; {temp} include {folder / 'site.conf'}; }}\n")
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with running(["nginx", "-p", str(folder), "-c", str(folder / "nginx.conf")], tls,
                 folder / "nginx.out"):
        yield Proxy(f"https://127.0.0.1:{tls}", context)


@contextmanager
def caddy(upstream: int, folder: Path) -> Iterator[Proxy]:
    """docs/deploy/Caddyfile on plain HTTP on loopback (no certificate to fetch), with no
    admin endpoint, its state in the test's folder."""
    need(shutil.which("caddy") is not None, "caddy (Debian's caddy)")
    port = free_port()
    site = replaced((DEPLOY / "Caddyfile").read_text(), {
        "readers.example.org {": f"http://127.0.0.1:{port} {{",
        "reverse_proxy 127.0.0.1:8080": f"reverse_proxy 127.0.0.1:{upstream}",
    })
    (folder / "Caddyfile").write_text("{\n\tadmin off\n\tauto_https off\n}\n" + site)
    with running(["caddy", "run", "--adapter", "caddyfile", "--config",
                  str(folder / "Caddyfile")], port, folder / "caddy.out",
                 HOME=str(folder), XDG_DATA_HOME=str(folder), XDG_CONFIG_HOME=str(folder)):
        yield Proxy(f"http://127.0.0.1:{port}", False)


PROXIES: dict[str, Callable[[int, Path], object]] = {"nginx": nginx, "caddy": caddy}


def reader(proxy: Proxy, source: str) -> httpx.Client:
    """A client whose connections come from ``source``."""
    transport = httpx.HTTPTransport(local_address=source, verify=proxy.verify)  # type: ignore[arg-type]
    return httpx.Client(base_url=proxy.url, transport=transport, timeout=10)


def subscribe(client: httpx.Client, **headers: str) -> int:
    """A form post the limit counts (the hidden field filled: nothing else happens)."""
    return client.post("/subscribe", data={"email": "x@example.org", "website": "bot"},
                       headers=headers).status_code


@pytest.mark.parametrize("kind", PROXIES)
def test_readers_are_counted_apart_and_a_forged_header_buys_nothing(
        kind: str, service: tuple[int, Path], tmp_path: Path) -> None:
    with PROXIES[kind](service[0], tmp_path) as proxy:  # type: ignore[attr-defined]
        with reader(proxy, "127.0.0.2") as first, reader(proxy, "127.0.0.3") as second:
            assert [subscribe(first) for _ in range(LIMIT + 1)] == [200] * LIMIT + [429]
            assert subscribe(second) == 200  # another reader: a bucket of its own
        with reader(proxy, "127.0.0.4") as forger:
            forged = [subscribe(forger, **{"X-Forwarded-For": spoof}) for spoof in (
                "198.51.100.1", "198.51.100.2", "2001:db8::1", "198.51.100.3, 127.0.0.1",
                "127.0.0.1", "garbage")]
    assert forged == [200] * LIMIT + [429] * 3


def test_a_proxy_that_does_not_forward_the_address_is_warned_about(
        service: tuple[int, Path], tmp_path: Path) -> None:
    forgetful = "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"
    with nginx(service[0], tmp_path, without=forgetful) as proxy, \
            reader(proxy, "127.0.0.2") as first, reader(proxy, "127.0.0.3") as second:
        assert subscribe(first) == 200
        for _ in range(LIMIT - 1):
            subscribe(first)
        assert subscribe(second) == 429  # everyone shares the proxy's bucket
        for n in range(clients.SAMPLE):
            (first, second)[n % 2].get("/unsubscribe?t=x")
    time.sleep(0.2)
    warnings = [line for line in service[1].read_text().splitlines()
                if "not passing the readers' addresses" in line]
    assert len(warnings) == 1
    assert "(a loopback address)" in warnings[0] and "FORWARDED_ALLOW_IPS" in warnings[0]
