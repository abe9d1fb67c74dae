"""A client's address as the rate limit counts it: every spelling of one address is one
bucket, an IPv6 /64 is one bucket, garbage is one shared bucket; and the warning when
every request seems to come from one address (a proxy hiding the readers')."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from newsletter.web import clients
from newsletter.web.app import create_app
from tests.web.conftest import service_env
from tests.web.server import serving


@pytest.mark.parametrize(("spellings", "expected"), [
    (["192.0.2.1", " 192.0.2.1 ", "::ffff:192.0.2.1", "::FFFF:c000:0201", "[::ffff:192.0.2.1]"],
     "192.0.2.1"),
    (["2001:DB8::1", "2001:db8:0:0::1", "2001:0db8:0000:0000:0000:0000:0000:0001",
      "2001:db8::ffff:ffff:ffff:ffff", "2001:db8::1%eth0", "[2001:db8::1]"],
     "2001:db8::/64"),
    (["fe80::1%eth0", "fe80::1%1", "FE80::1"], "fe80::/64"),
    (["::1", "0:0:0:0:0:0:0:1"], "::1"),
    (["", None, "garbage", "192.0.2.256", "192.000.2.1", "2001:db8:::1", "unix:/run/x.sock",
      "a" * 300], "unknown"),
])
def test_every_spelling_of_one_address_is_one_bucket(spellings: list[str | None],
                                                      expected: str) -> None:
    assert {clients.bucket(s) for s in spellings} == {expected}


def test_ipv6_neighbours_share_a_bucket_and_other_blocks_do_not() -> None:
    assert clients.bucket("2001:db8:0:0:aaaa::1") == clients.bucket("2001:db8::2")
    assert clients.bucket("2001:db8:0:1::1") != clients.bucket("2001:db8:0:0::1")
    assert clients.bucket("192.0.2.1") != clients.bucket("192.0.2.2")  # IPv4: per address


def requests_from(url: str, client: str, count: int) -> None:
    """``count`` subscribe-form requests that the server sees as coming from ``client``
    (uvicorn trusts X-Forwarded-For from 127.0.0.1, where the test runs)."""
    with httpx.Client(headers={"X-Forwarded-For": client}) as http:
        for _ in range(count):
            http.get(f"{url}/unsubscribe?t=x")


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "newsletter.web" and r.levelno == logging.WARNING]


def test_one_address_for_every_request_is_warned_about_once(
        project_dir: Path, engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "newsletter.web")
    app = create_app(project_dir / "newsletter.yaml", service_env(engine))
    with serving(app) as url:
        with httpx.Client() as http:  # a load balancer's health checks do not count
            for _ in range(clients.SAMPLE + 10):
                http.get(f"{url}/health")
        requests_from(url, "127.0.0.1", clients.SAMPLE - 1)
        assert warnings_of(caplog) == []
        requests_from(url, "127.0.0.1", clients.SAMPLE)
    [warning] = warnings_of(caplog)
    assert warning.startswith(f"the first {clients.SAMPLE} requests all came from one client "
                              "address (a loopback address): a reverse proxy")
    assert "FORWARDED_ALLOW_IPS" in warning and "X-Forwarded-For" in warning
    assert "127.0.0.1" not in warning  # the log names no address


def test_readers_from_several_addresses_are_not_warned_about(
        project_dir: Path, engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "newsletter.web")
    with serving(create_app(project_dir / "newsletter.yaml", service_env(engine))) as url:
        requests_from(url, "198.51.100.7", clients.SAMPLE - 1)
        requests_from(url, "2001:db8::7", 10)
    assert warnings_of(caplog) == []
