"""newsletter.yaml is validated like an issue file, every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.content import settings
from newsletter.errors import ProblemsFound
from tests.helpers import PUBLICATION


def test_repo_settings_load() -> None:
    pub = settings.load(PUBLICATION / "newsletter.yaml")
    assert pub.name == "BIG Media" and pub.sender.address == "brief@bigmedia.example"
    assert pub.send_time == "06:00" and pub.zone.key == "Europe/London"


def test_bad_settings_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "newsletter.yaml"
    path.write_text(
        "name: X\n"
        "tagline: Y\n"
        "site_url: ftp://x.example\n"
        "from: {name: X, address: not-an-address}\n"
        "postal_address: 1 Road\n"
        "timezone: Mars/Olympus\n"
        "locale: zz-ZZ\n"
        "send_time: 25:00\n"
        "theme: {accent: red}\n"
    )
    with pytest.raises(ProblemsFound) as caught:
        settings.load(path)
    lines = [str(p).replace(str(path), "S") for p in caught.value.problems]
    assert lines[0] == "S:3:11: site_url: must be an absolute http(s) URL, not 'ftp://x.example'"
    assert lines[1].startswith("S:4:26: from.address: value is not a valid email address")
    assert lines[2:] == [
        "S:6:11: timezone: unknown timezone 'Mars/Olympus'; use an IANA name like 'Europe/London'",
        "S:7:9: locale: unknown locale 'zz-ZZ'; use a tag like 'en-US'",
        "S:8:12: send_time: must be a 24-hour time like '06:00', not '25:00'",
        "S:9:17: theme.accent: must be a colour like '#1a2b3c', not 'red'",
    ]


def test_web_url_follows_site_url() -> None:
    pub = settings.load(PUBLICATION / "newsletter.yaml")
    import datetime as dt
    assert pub.web_url(dt.date(2024, 7, 23)) == "https://news.bigmedia.example/2024-07-23/"
