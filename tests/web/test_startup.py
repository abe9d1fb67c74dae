"""The service refuses to start unsafe, in one line: from create_app (so `uvicorn
--factory` refuses too) and from `newsletter serve`, with exit status 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.config import Environment
from newsletter.errors import ConfigError
from newsletter.tokens import DEV_SECRET
from newsletter.web.app import create_app
from tests.web.server import SECRET

BIN = Path(sys.executable).parent
GOOD = "x" * 32


def settings_with(project_dir: Path, service_url: str | None) -> Path:
    """The fixture's settings with ``service_url`` as the readers' block, or none."""
    path = project_dir / "newsletter.yaml"
    text = path.read_text().partition("readers:\n")[0]
    path.write_text(text + (f"readers:\n  service_url: {service_url}\n" if service_url else ""))
    return path


def refusal(path: Path, secret: str) -> str:
    with pytest.raises(ConfigError) as caught:
        create_app(path, Environment.from_environ({"NEWSLETTER_SECRET": secret}))
    assert "\n" not in str(caught.value)
    return str(caught.value)


@pytest.mark.parametrize(("secret", "said"), [
    ("", "NEWSLETTER_SECRET is not set (or is the development key)"),
    (DEV_SECRET.decode(), "NEWSLETTER_SECRET is not set (or is the development key)"),
    ("s", "NEWSLETTER_SECRET is 1 bytes; the service needs at least 32"),
    ("x" * 31, "NEWSLETTER_SECRET is 31 bytes; the service needs at least 32"),
    ("é" * 15, "NEWSLETTER_SECRET is 30 bytes"),  # bytes, not characters
])
def test_a_weak_secret_is_refused(project_dir: Path, secret: str, said: str) -> None:
    assert refusal(project_dir / "newsletter.yaml", secret).startswith(said)


@pytest.mark.parametrize("url", [
    "https://news.bigmedia.example", "https://news.bigmedia.example/readers",
    "https://NEWS.bigmedia.example:443/", "https://news.bigmedia.example./x",
])
def test_a_service_url_on_the_archives_site_is_refused(project_dir: Path, url: str) -> None:
    said = refusal(settings_with(project_dir, url), GOOD)
    assert said.startswith(f"readers.service_url ({url}) is on the archive's site "
                           "(https://news.bigmedia.example)")


def test_no_service_url_is_refused(project_dir: Path) -> None:
    assert refusal(settings_with(project_dir, None), GOOD).startswith(
        "readers.service_url is not set in newsletter.yaml")


@pytest.mark.parametrize("url", [
    "https://readers.bigmedia.example", "https://news.bigmedia.example:8443",
    "http://news.bigmedia.example",
])
def test_an_origin_of_its_own_with_a_long_secret_starts(project_dir: Path, url: str) -> None:
    app = create_app(settings_with(project_dir, url),
                     Environment.from_environ({"NEWSLETTER_SECRET": GOOD}))
    assert app.state.service.publication.service_url == url


def run_tool(args: list[str], project_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "NEWSLETTER_SECRET"}
    return subprocess.run(args, cwd=project_dir, env={**base, **env}, capture_output=True,
                          text=True, timeout=60)


def test_serve_and_uvicorn_refuse_in_one_line(project_dir: Path) -> None:
    short = run_tool([str(BIN / "newsletter"), "serve", "--port", "0"], project_dir,
                     NEWSLETTER_SECRET="short")
    assert short.returncode == 1
    assert short.stderr.startswith("Error: NEWSLETTER_SECRET is 5 bytes; the service needs "
                                   "at least 32")
    assert short.stderr.count("\n") == 1
    settings_with(project_dir, "https://news.bigmedia.example/readers")
    shared = run_tool([str(BIN / "newsletter"), "serve", "--port", "0"], project_dir,
                      NEWSLETTER_SECRET=SECRET)
    assert shared.returncode == 1 and shared.stderr.startswith(
        "Error: readers.service_url (https://news.bigmedia.example/readers) is on the "
        "archive's site")
    factory = run_tool([str(BIN / "uvicorn"), "--factory", "newsletter.web.app:factory",
                        "--port", "0"], project_dir, NEWSLETTER_SECRET=SECRET)
    assert factory.returncode != 0 and "is on the archive's site" in factory.stderr


def test_send_needs_neither(project_dir: Path) -> None:
    """The quickstart: no service_url, no secret, the outbox."""
    settings_with(project_dir, None)
    newsletter = str(BIN / "newsletter")
    assert run_tool([newsletter, "subscribers", "add", "ann@example.org"],
                    project_dir).returncode == 0
    sent = run_tool([newsletter, "send", "2024-07-23"], project_dir)
    assert sent.returncode == 0, sent.stdout + sent.stderr
