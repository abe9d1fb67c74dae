"""--check-links against a local server with good, missing, refusing and hanging links."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from newsletter.cli import main
from newsletter.email.linkcheck import check_links
from newsletter.project import Project
from tests.helpers import GOOD_ISSUE


class Links(BaseHTTPRequestHandler):
    agents: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        if self.path == "/no-head":
            return self._answer(405)
        self.do_GET()

    def do_GET(self) -> None:
        Links.agents.append(self.headers.get("User-Agent", ""))
        if self.path == "/hang":
            time.sleep(3)
        if self.path == "/trickle":  # a byte at a time: each read is quick, the whole is not
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for _ in range(40):
                self.wfile.write(b"X")
                self.wfile.flush()
                time.sleep(0.1)
            return
        if self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._answer({"/missing": 404, "/robots-not-welcome": 403,
                      "/slow-down": 429}.get(self.path, 200))

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Links)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def issue_linking(write_issue: Callable[..., Path], base: str) -> Path:
    text = GOOD_ISSUE.replace("https://example.com/lead", f"{base}/ok")
    text = text.replace("https://example.com/inline", f"{base}/no-head")
    text = text.replace("https://example.com/one", f"{base}/missing")
    text = text.replace("Second paragraph.", f"A [slow one]({base}/hang).")
    return write_issue(text)


def test_failures_are_reported_at_their_field(project: Project, server: str,
                                              write_issue: Callable[..., Path]) -> None:
    parsed = project.render(issue_linking(write_issue, server)).parsed
    found = [str(p) for p in check_links(parsed, timeout=0.5, allow_private=True)]
    assert found == [
        f"issues/2024-08-01.yaml:6:9: lead.body: link {server}/hang did not answer within 0.5 s",
        f"issues/2024-08-01.yaml:14:14: sections[0].items[0].url: link {server}/missing "
        "answered 404 Not Found",
    ]


def test_check_command_with_links(project_dir: Path, server: str,
                                  write_issue: Callable[..., Path]) -> None:
    path = issue_linking(write_issue, server)
    result = CliRunner().invoke(main, ["check", "--check-links", "--link-timeout", "0.5", "--allow-private",
                                       str(path.relative_to(project_dir))])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-2:] == ["Checked 1 file: 2 errors, 4 warnings.", "Error: 2 errors found"]
    assert sum("link is http, not https" in line for line in lines) == 4  # the local server


def problems_for(project: Project, write_issue: Callable[..., Path], urls: list[str],
                 **options: object) -> list[str]:
    text = GOOD_ISSUE.replace("Second paragraph.",
                              " ".join(f"[link {n}]({url})" for n, url in enumerate(urls)))
    parsed = project.render(write_issue(text)).parsed
    return [str(p) for p in check_links(parsed, **options)  # type: ignore[arg-type]
            if "example.com" not in str(p)]


def test_one_deadline_for_a_server_that_trickles(project: Project, server: str,
                                                 write_issue: Callable[..., Path]) -> None:
    started = time.monotonic()
    found = problems_for(project, write_issue, [f"{server}/trickle"], timeout=1.0,
                         allow_private=True)
    assert time.monotonic() - started < 3
    assert found == [f"issues/2024-08-01.yaml:6:9: lead.body: link {server}/trickle did not "
                     "answer within 1 s"]


def test_redirects_are_capped(project: Project, server: str,
                              write_issue: Callable[..., Path]) -> None:
    found = problems_for(project, write_issue, [f"{server}/loop"], timeout=5.0,
                         allow_private=True)
    assert found == [f"issues/2024-08-01.yaml:6:9: lead.body: link {server}/loop redirects "
                     "more than 5 times"]


def test_sites_that_refuse_robots_are_warnings(project: Project, server: str,
                                               write_issue: Callable[..., Path]) -> None:
    Links.agents.clear()
    found = problems_for(project, write_issue, [f"{server}/robots-not-welcome",
                                                f"{server}/slow-down"], allow_private=True)
    assert len(found) == 2 and all(": warning: " in p and "may refuse robots" in p
                                   for p in found)
    assert Links.agents and all(agent.startswith("Mozilla/5.0") for agent in Links.agents)


@pytest.mark.parametrize("host", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1",
                                  "169.254.169.254", "100.64.0.1", "0.0.0.0", "[::1]",
                                  "[fe80::1]", "[fc00::1]", "localhost"])
def test_internal_addresses_are_refused(project: Project, host: str,
                                        write_issue: Callable[..., Path]) -> None:
    # Refused before any connection: no packet goes to these addresses.
    found = problems_for(project, write_issue, [f"https://{host}:1/x"], timeout=5.0)
    assert len(found) == 1 and "is an internal address" in found[0], found


def test_a_redirect_to_an_internal_address_is_refused(project: Project, server: str,
                                                      write_issue: Callable[..., Path]) -> None:
    # Our loopback server stands for a public site here: only its redirect is judged.
    from newsletter.email import linkcheck

    class FirstHopAllowed(linkcheck.PublicOnly):
        hops = 0

        async def handle_async_request(self, request):  # type: ignore[no-untyped-def]
            FirstHopAllowed.hops += 1
            if FirstHopAllowed.hops == 1:
                return await linkcheck.httpx.AsyncHTTPTransport.handle_async_request(
                    self, request)
            return await super().handle_async_request(request)


    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(linkcheck, "PublicOnly", FirstHopAllowed)
        found = problems_for(project, write_issue, [f"{server}/loop"], timeout=5.0)
    assert len(found) == 1 and "127.0.0.1 is an internal address" in found[0]
