from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine

from newsletter.config import Environment
from newsletter.web.app import create_app
from tests.web.server import SECRET, serving

SERVICE_URL = "https://readers.bigmedia.example"


@pytest.fixture(autouse=True)
def readers_block(project_dir: Path) -> Path:
    """The service's own address in the publication's settings, which ``serve`` needs; a
    test adds more of the block with indented lines (it is the last block of the file)."""
    settings = project_dir / "newsletter.yaml"
    settings.write_text(settings.read_text() + f"readers:\n  service_url: {SERVICE_URL}\n")
    return settings


@pytest.fixture(autouse=True)
def quick_mailer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The services started in this process look at their queue every 0.1 s, not every
    second: the same mailer, on a faster clock, so a test waits less for its email. (A
    service started as ``newsletter serve`` keeps the real beat.)"""
    from newsletter.web import mailer

    monkeypatch.setattr(mailer, "BEAT", 0.1)


@pytest.fixture
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def service_env(engine: Engine, **extra: str) -> Environment:
    return Environment.from_environ({
        "NEWSLETTER_SECRET": SECRET,
        "DATABASE_URL": engine.url.render_as_string(hide_password=False), **extra})


@pytest.fixture
def service(project_dir: Path, engine: Engine,
            signing_key: ec.EllipticCurvePrivateKey) -> Iterator[str]:
    """The service on a real server, over the test database, sending by the outbox; its
    base URL."""
    public = signing_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    env = service_env(engine, SENDGRID_WEBHOOK_PUBLIC_KEY=base64.b64encode(public).decode())
    with serving(create_app(project_dir / "newsletter.yaml", env)) as url:
        yield url
