"""The live preview, served by a real uvicorn server on loopback and looked at in real
headless Chromium; its words in the publication's language; hostile paths refused with a
page."""

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


def test_it_is_served_by_uvicorn_and_names_no_server(server) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    assert isinstance(server.server, uvicorn.Server) and server.server.started
    status, headers, _ = fetch(server.url)
    assert status == 200 and "server" not in headers
    assert headers["cache-control"] == "no-store"


def fetch(url: str, method: str = "GET", raw_path: str | None = None
          ) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) for a path sent exactly as written."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request(method, raw_path if raw_path is not None else parts.path or "/")
    response = conn.getresponse()
    body = response.read().decode()
    headers = {k.lower(): v for k, v in response.getheaders()}
    conn.close()
    return response.status, headers, body


def test_each_issue_has_its_page_by_date(browser, server) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1700, "height": 1000})
    page.goto(server.url + "2024-07-25/")
    assert page.inner_text(".inbox b") == "Biden explains why he stepped aside"
    phone = page.frame_locator("iframe[title='Phone, 375 px']")
    assert "pass the torch" in phone.locator("body").inner_text()
    assert "Biden tells the nation" in page.inner_text("pre.text")
    page.close()
    status, headers, _ = fetch(server.url, raw_path="/2024-07-25")
    assert (status, headers["location"]) == (308, "2024-07-25/")
    status, headers, body = fetch(server.url, raw_path="/2024-07-25/email.txt")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert "Biden tells the nation" in body


HOSTILE = [
    # (path as sent, status): a path is a date of ASCII digits, or nothing of ours.
    ("/../../etc/passwd", 404), ("/..%2F..%2Fnewsletter.yaml", 404),
    ("/%2e%2e/%2e%2e/etc/passwd", 404), ("/2024-07-24/../../newsletter.yaml", 404),
    ("/2024-07-24/..%2F..%2Fnewsletter.yaml", 404), ("/issues/2024-07-24.yaml", 404),
    ("/2024-07-24/email.html/..", 404), ("/2024-07-24/newsletter.yaml", 404),
    ("/2024-02-30/", 400), ("/9999-99-99/", 400), ("/0000-01-01/", 400),
    ("/2024-13-01/email.html", 400), ("/1999-01-01/", 404), ("/9999-12-31/email.html", 404),
    ("/20240724/", 404), ("/+2024-07-24/", 404), ("/2024-07-24%20/", 404),
    ("/2024-07-24%00/", 404), ("/%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%94-07-24/", 404),
    ("/%D9%A2%D9%A0%D9%A2%D9%A4-07-24/", 404), ("/2024-07-2%E2%81%A4/", 404),
    ("/2024-07-24%E2%80%AE/", 404), ("/%F0%9F%92%A5/", 404), ("/%ff%fe/", 404),
    ("/<script>alert(1)</script>/", 404), ("/" + "9" * 5000 + "/", 404),
    ("/2024-07-24/email.html?x=%00", 200), ("/events?since=%D9%A1", 400),
]


@pytest.mark.parametrize(("path", "status"), HOSTILE)
def test_hostile_paths_get_a_clean_page(server, path: str, status: int) -> None:  # type: ignore[no-untyped-def]
    got, headers, body = fetch(server.url, raw_path=path)
    assert got == status
    assert headers["content-type"] == "text/html; charset=utf-8"
    if status != 200:
        assert body.startswith("<!doctype html>") and "<h1>" in body
        assert "Traceback" not in body and "<script>" not in body
        assert "postal_address" not in body and "root:" not in body


def test_only_get_is_answered(server) -> None:  # type: ignore[no-untyped-def]
    status, _, body = fetch(server.url, method="POST")
    assert status == 405 and "<h1>Only for looking</h1>" in body


@pytest.fixture
def german(project_dir: Path) -> Iterator[preview.PreviewServer]:
    config = project_dir / "newsletter.yaml"
    config.write_text(config.read_text().replace("locale: en-US", "locale: de-DE"))
    source = preview.Source(config, project_dir / "issues" / f"{DAY}.yaml")
    with preview.PreviewServer(source) as running:
        yield running


def test_the_preview_speaks_the_publications_language(browser, german) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1700, "height": 1000})
    page.goto(german.url)
    assert page.get_attribute("html", "lang") == "de-DE"
    assert page.inner_text(".findings") == "Keine Befunde."
    assert page.title() == "Vorschau: Harris secures enough delegates to lead the Democratic ticket"
    captions = page.eval_on_selector_all("figcaption", "cs => cs.map(c => c.textContent)")
    assert captions == ["Telefon, 375 px", "Desktop, 600 px", "Dunkelmodus, 375 px",
                        "Nur-Text"]
    phone = page.frame_locator("iframe[title='Telefon, 375 px']")
    assert "Abonnement verwalten" in phone.locator("body").inner_text()
    page.close()
    for path, status, title in [("/nirgends", 404, "Nicht gefunden"),
                                ("/2024-02-30/", 400, "Kein Datum"),
                                ("/1999-01-01/", 404, "Keine Ausgabe für 1999-01-01")]:
        got, _, body = fetch(german.url, raw_path=path)
        assert got == status and f"<h1>{title}</h1>" in body and 'lang="de-DE"' in body
    assert fetch(german.url.replace("127.0.0.1", "localhost"))[0] == 200


def test_a_wrong_host_is_told_in_the_page(server) -> None:  # type: ignore[no-untyped-def]
    status, body = get(server.url, "attacker.example")
    assert status == 403 and "<h1>Not this host name</h1>" in body
    assert "newsletter preview --allow-host NAME" in body


def test_a_port_in_use_is_an_error_to_report(server) -> None:  # type: ignore[no-untyped-def]
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    with pytest.raises(OSError):
        preview.PreviewServer(server.source, port=port)


def test_stopping_ends_open_event_streams_at_once(project_dir: Path) -> None:
    import http.client
    import time

    source = preview.Source(project_dir / "newsletter.yaml", project_dir / "issues" / f"{DAY}.yaml")
    running = preview.PreviewServer(source).start()
    port = int(running.url.rsplit(":", 1)[1].strip("/"))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/events?since=0")
    assert conn.getresponse().status == 200
    began = time.monotonic()
    running.stop()
    assert time.monotonic() - began < 3
    conn.close()


def test_ctrl_c_stops_the_command_with_a_page_listening(project_dir: Path) -> None:
    import http.client
    import signal

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    running = subprocess.Popen(  # Ctrl-C as a terminal sends it, whatever this test inherited
        ["newsletter", "preview", "--port", "0"], cwd=project_dir, env=env, text=True,
        stdout=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert running.stdout is not None
        line = running.stdout.readline()
        assert line.startswith("previewing issues/2024-07-25.yaml at http://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/events?since=0")
        assert conn.getresponse().status == 200
        running.send_signal(signal.SIGINT)
        assert running.wait(5) == 0
    finally:
        running.kill()
        running.wait(10)


def test_the_welcome_email_has_its_page(browser, server, project_dir: Path) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from tests.helpers import PUBLICATION

    answer = httpx.get(f"{server.url}welcome/")
    assert answer.status_code == 404 and "No welcome email" in answer.text
    save(project_dir / "welcome.yaml", (PUBLICATION / "welcome.yaml").read_text())
    assert httpx.get(f"{server.url}welcome").headers["location"] == "welcome/"
    page = browser.new_page(viewport={"width": 1700, "height": 1000})
    page.goto(f"{server.url}welcome/")
    assert page.inner_text(".inbox b")  # the welcome's subject
    frames = page.eval_on_selector_all("iframe", "fs => fs.map(f => f.title)")
    assert frames == ["Phone, 375 px", "Desktop, 600 px", "Dark mode, 375 px"]
    phone = page.frame_locator("iframe[title='Phone, 375 px']")
    assert phone.locator("a[href$='?t=PREVIEW']").count() >= 1  # the reader's own links
    assert "PREVIEW" in page.inner_text("pre.text")
    page.close()
    assert "?t=PREVIEW" in httpx.get(f"{server.url}welcome/email.txt").text
    save(project_dir / "welcome.yaml", "subject: [unclosed\n")
    broken = httpx.get(f"{server.url}welcome/")
    assert broken.status_code == 200 and "welcome.yaml" in broken.text
    assert 'class="findings"' in broken.text and "error" in broken.text
    assert httpx.get(f"{server.url}welcome/email.html").status_code == 422


def test_the_reader_tokens_are_filled_for_a_sample_reader(browser, project_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """What a reader sees in place of the tokens: a greeting with a sample reader's name,
    and links; never %%greeting%% and the like, in any view."""
    config = project_dir / "newsletter.yaml"
    config.write_text(config.read_text() + "delivery:\n  greeting: Good morning, {name}\n")
    source = preview.Source(config, project_dir / "issues" / f"{DAY}.yaml")
    with preview.PreviewServer(source) as running:
        for part in ("email.html", "email-dark.html", "email.txt", ""):
            status, _, body = fetch(running.url + part)
            assert status == 200 and "%%" not in body, part
        assert "Good morning, Reader One" in fetch(running.url + "email.txt")[2]
        page = browser.new_page(viewport={"width": 1700, "height": 1000})
        page.goto(running.url)
        phone = page.frame_locator("iframe[title='Phone, 375 px']")
        assert "Good morning, Reader One" in phone.locator("body").inner_text()
        assert "Good morning, Reader One" in page.inner_text("pre.text")
        href = phone.locator("a", has_text="Unsubscribe").get_attribute("href")
        assert href == "https://news.bigmedia.example/unsubscribe?t=PREVIEW"
        page.close()
    config.write_text(config.read_text().replace("locale: en-US", "locale: de-DE")
                      .replace("Good morning", "Guten Morgen"))
    with preview.PreviewServer(source) as running:
        assert "Guten Morgen, Erika Mustermann" in fetch(running.url + "email.txt")[2]
