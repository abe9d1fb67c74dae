"""The live preview, looked at in real headless Chromium."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.site import preview
from tests.helpers import CHROMIUM, need

DAY = "2024-07-24"


@pytest.fixture
def server(project_dir: Path) -> Iterator[preview.PreviewServer]:
    source = preview.Source(project_dir / "newsletter.yaml", project_dir / "issues" / f"{DAY}.yaml")
    with preview.PreviewServer(source) as running:
        yield running


def save(path: Path, text: str) -> None:
    """Save as editors do: write a new file, then rename it over the old one."""
    temp = path.with_name(f".{path.name}.swp")
    temp.write_text(text)
    os.replace(temp, path)


def test_page_shows_inbox_line_widths_dark_mode_and_text(browser, server) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1700, "height": 1000})
    page.goto(server.url)
    assert page.inner_text(".inbox b") == "Harris secures enough delegates to lead the Democratic ticket"
    assert page.inner_text(".inbox span").startswith("Also today, a record-hot summer day")
    assert page.inner_text(".findings") == "No findings."
    frames = page.eval_on_selector_all("iframe", "fs => fs.map(f => [f.title, f.width, f.src])")
    assert [(t, int(w)) for t, w, _ in frames] == [
        ("Phone, 375 px", 375), ("Desktop, 600 px", 600), ("Dark mode, 375 px", 375)]
    assert "* Earth records its hottest day" in page.inner_text("pre.text")
    phone = page.frame_locator("iframe[title='Phone, 375 px']")
    assert "Harris secures" in phone.locator("body").inner_text()
    widths = page.evaluate("""[...document.querySelectorAll('iframe')].map(f =>
        [f.contentDocument.documentElement.scrollWidth, f.clientWidth])""")
    assert all(scroll <= client for scroll, client in widths)  # no horizontal scroll
    dark_bg = page.evaluate("""getComputedStyle(document.querySelector(
        "iframe[title='Dark mode, 375 px']").contentDocument.body).backgroundColor""")
    assert dark_bg == "rgb(18, 18, 18)"
    page.close()


def test_page_reloads_after_a_save(browser, server, project_dir: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(server.url)
    version = page.get_attribute("body", "data-version")
    issue = project_dir / "issues" / f"{DAY}.yaml"
    save(issue, issue.read_text().replace("Harris secures enough delegates",
                                          "Harris clinches enough delegates"))
    page.wait_for_function(f"document.body.dataset.version !== '{version}'", timeout=5000)
    assert page.inner_text(".inbox b").startswith("Harris clinches enough delegates")
    page.close()


def test_a_broken_file_shows_its_errors_and_the_server_lives_on(
        browser, server, project_dir: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(server.url)
    issue = project_dir / "issues" / f"{DAY}.yaml"
    good = issue.read_text()
    save(issue, good.replace("  source: Reuters\n", "  sauce: Reuters\n"))
    page.wait_for_selector("li.error", timeout=5000)
    errors = page.inner_text(".findings")
    assert "lead.sauce: unknown key 'sauce' (did you mean 'source'?)" in errors
    assert page.locator("iframe").count() == 0
    save(issue, good)
    page.wait_for_selector("iframe", timeout=5000)
    assert page.inner_text(".findings") == "No findings."
    page.close()


def test_screenshots_at_both_widths(project_dir: Path, tmp_path: Path) -> None:
    need(Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")
    pytest.importorskip("playwright.sync_api")
    # A process of its own: the browser fixture's Playwright already runs in this one.
    exe = str(Path(sys.executable).with_name("newsletter"))
    result = subprocess.run([exe, "preview", DAY, "--screenshot", str(tmp_path)],
                            cwd=project_dir, env={**os.environ, "CHROMIUM": CHROMIUM},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"wrote {tmp_path}/email-375.png",
                                          f"wrote {tmp_path}/email-600.png"]
    for width in (375, 600):
        png = (tmp_path / f"email-{width}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">I", png[16:20])[0] == width  # IHDR width
        assert struct.unpack(">I", png[20:24])[0] > 900  # the full page, not one screen


def test_dark_forces_the_dark_rules() -> None:
    assert preview.dark("@media (prefers-color-scheme: dark) { a {} }") == "@media all { a {} }"


def test_page_reloads_after_a_settings_change(browser, server, project_dir: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(server.url)
    config = project_dir / "newsletter.yaml"
    save(config, config.read_text().replace("name: BIG Media\n", "name: BIGGER Media\n"))
    page.wait_for_function("document.body.dataset.version !== '0'", timeout=5000)
    phone = page.frame_locator("iframe[title='Phone, 375 px']")
    assert "BIGGER Media" in phone.locator("body").inner_text()
    page.close()


def get(url: str, host: str | None = None) -> tuple[int, str]:
    """A request as any client makes it, with the Host header it likes."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {"Host": host} if host is not None else {}
    conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                 headers=headers)
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, body


@pytest.mark.parametrize(("host", "status"), [
    ("localhost:8000", 200), ("127.0.0.1:8000", 200), ("[::1]:8000", 200), ("LOCALHOST", 200),
    ("attacker.example", 403), ("attacker.example:8000", 403), ("127.0.0.1.nip.io", 403),
    ("", 403),
])
def test_the_preview_answers_only_to_its_own_names(server, host: str, status: int) -> None:  # type: ignore[no-untyped-def]
    assert get(server.url, host)[0] == status


def test_other_names_can_be_allowed(project_dir: Path) -> None:
    source = preview.Source(project_dir / "newsletter.yaml", project_dir / "issues" / f"{DAY}.yaml")
    with preview.PreviewServer(source, allow_hosts=("preview.lan",)) as running:
        assert get(running.url, "preview.lan:8000")[0] == 200
        assert get(running.url, "other.lan")[0] == 403


@pytest.mark.parametrize("query", ["since=abc", "since=-1", "since=1e9", "since=%00",
                                   "since=" + "9" * 40, "since=%D9%A1%D9%A2"])
def test_bad_query_values_get_400(server, query: str) -> None:  # type: ignore[no-untyped-def]
    assert get(f"{server.url}events?{query}")[0] == 400


def test_serving_beyond_loopback_is_warned_about(project_dir: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    running = subprocess.Popen(["newsletter", "preview", "--host", "0.0.0.0", "--port", "0"],
                               cwd=project_dir, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert running.stderr is not None
        line = running.stderr.readline()
        assert line.startswith("warning: serving on 0.0.0.0: anyone who can reach this "
                               "machine can read the issue")
    finally:
        running.terminate()
        running.wait(10)
