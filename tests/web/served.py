"""``newsletter serve`` itself, in a process of its own on loopback: for what lives in the
server rather than the application (its limits on connections, what it logs, its memory),
which the in-thread server of server.py does not show."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine

from tests.conftest import TOOL_ENV
from tests.web.server import SECRET, free_port

NEWSLETTER = str(Path(sys.executable).with_name("newsletter"))
# Compiled modules kept between the test's server processes (this machine sets
# PYTHONDONTWRITEBYTECODE, and compiling everything at each start takes seconds).
PYCACHE = Path(tempfile.gettempdir()) / f"newsletter-test-pycache-{os.getuid()}"


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def rss_kib(self) -> int:
        """The server process's resident memory, from /proc."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return next(int(line.split()[1]) for line in status.splitlines()
                    if line.startswith("VmRSS:"))

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


def public_key_env(key: ec.EllipticCurvePrivateKey) -> str:
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(public).decode()


def with_service_url(project_dir: Path, port: int) -> None:
    """Point ``readers.service_url`` at the local server, so the pages' links (and the
    confirmation email's) lead to it."""
    path = project_dir / "newsletter.yaml"
    settings = yaml.safe_load(path.read_text())
    settings.setdefault("readers", {})["service_url"] = f"http://127.0.0.1:{port}"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True))


@contextmanager
def newsletter_serve(project_dir: Path, engine: Engine,
                     signing_key: ec.EllipticCurvePrivateKey,
                     extra: dict[str, str] | None = None) -> Iterator[Served]:
    """``newsletter serve`` over the test database, with the webhook's key (and ``extra``
    variables); stopped (and waited for) at the end."""
    port = free_port()
    with_service_url(project_dir, port)
    env = {k: v for k, v in os.environ.items()
           if k not in TOOL_ENV and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(NEWSLETTER_SECRET=SECRET, PYTHONPYCACHEPREFIX=str(PYCACHE),
               DATABASE_URL=engine.url.render_as_string(hide_password=False),
               SENDGRID_WEBHOOK_PUBLIC_KEY=public_key_env(signing_key), **(extra or {}))
    log = project_dir / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [NEWSLETTER, "--config", str(project_dir / "newsletter.yaml"), "serve",
             "--port", str(port)], cwd=project_dir, env=env, stdout=sink,
            stderr=subprocess.STDOUT)
    served = Served(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_for(served)
        yield served
    finally:
        process.terminate()
        process.wait(30)


def _wait_for(served: Served) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise RuntimeError(f"newsletter serve stopped: {served.log.read_text()}")
        try:
            if httpx.get(served.url + "/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("newsletter serve did not answer within a minute")
