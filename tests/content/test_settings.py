"""newsletter.yaml is validated like an issue file, every problem at once."""

from __future__ import annotations

import json
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


# -- the logo: loaded by the readers' pages and named in their Content-Security-Policy ----

BAD_LOGOS = [
    "https://cdn.example;script-src 'unsafe-inline' 'unsafe-eval' *;img-src */logo.png",
    "https://cdn.example/logo.png;script-src *", "https://cdn.example/a,b.png",
    "https://cdn.example/logo.png data:", "https://cdn.example/\tlogo.png",
    "https://cdn.example/logo\u00a0.png", "https://cdn.example/'self'.png",
    'https://cdn.example/"x".png', "https://cdn.example/<x>.png", "https://cdn.example/a\\b",
    "https://cdn.example/logo\u202e.png", "https://cdn.example/logo\u200b.png",
    "https://cdn.example/logo\x7f.png", "https://user:pw@cdn.example/logo.png",
    "https://@cdn.example/logo.png", "https://cdn.example:99999/logo.png",
    "https://cdn.example:0/logo.png", "https://cdn.example:x/logo.png", "https:///logo.png",
    "https://cdn..example/logo.png", "https://-cdn.example/logo.png",
    "https://cdn_example.org/logo.png", "https://cdn.example", "https://cdn.example/",
    "http://cdn.example/logo.png", "javascript:alert(1)", "data:image/png;base64,AAAA",
    "//cdn.example/logo.png", "../logo.png", "img/../../logo.png", "/img;script-src/x.png",
    "img/logo.png, evil", "/img/'unsafe-inline'.png",
]


def _with_logo(tmp_path: Path, logo: str) -> Path:
    path = tmp_path / "newsletter.yaml"
    text = (PUBLICATION / "newsletter.yaml").read_text()
    path.write_text(text + f"logo: {json.dumps(logo)}\n")
    return path


@pytest.mark.parametrize("logo", BAD_LOGOS)
def test_a_logo_that_is_not_a_plain_https_url_or_path_is_one_line_naming_it(
        tmp_path: Path, logo: str) -> None:
    with pytest.raises(ProblemsFound) as caught:
        settings.load(_with_logo(tmp_path, logo))
    [problem] = caught.value.problems
    [line] = str(problem).splitlines()
    # The one-line check of every text field (control characters) may speak first.
    assert ": logo: must be an https URL or a path on site_url (" in line or \
        (": logo: character U+" in line and logo.isprintable() is False)


@pytest.mark.parametrize(("logo", "origin"), [
    ("https://cdn.example/logo.png", "https://cdn.example"),
    ("https://CDN.Example:8443/img/logo.svg?v=2", "https://cdn.example:8443"),
    ("https://bücher.example/logo.png", "https://xn--bcher-kva.example"),
    ("https://[2001:db8::1]/logo.png", "https://[2001:db8::1]"),
    ("https://192.0.2.7/logo.png", "https://192.0.2.7"),
    ("/img/logo.png", "https://news.bigmedia.example"),
    ("img/logo%20big.png", "https://news.bigmedia.example"),
])
def test_a_good_logo_has_an_origin_and_nothing_more(tmp_path: Path, logo: str,
                                                    origin: str) -> None:
    pub = settings.load(_with_logo(tmp_path, logo))
    assert pub.logo_origin == origin
