"""--check-links against a local server with good, missing, refusing and hanging links."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import main
from newsletter.email.linkcheck import check_links
from newsletter.project import Project
from tests.helpers import GOOD_ISSUE


class Links(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        if self.path == "/no-head":
            return self._answer(405)
        self.do_GET()

    def do_GET(self) -> None:
        if self.path == "/hang":
            time.sleep(3)
        self._answer({"/missing": 404}.get(self.path, 200))

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
    found = [str(p) for p in check_links(parsed, timeout=0.5)]
    assert found == [
        f"issues/2024-08-01.yaml:6:9: lead.body: link {server}/hang did not answer within 0.5 s",
        f"issues/2024-08-01.yaml:14:14: sections[0].items[0].url: link {server}/missing "
        "answered 404 Not Found",
    ]


def test_check_command_with_links(project_dir: Path, server: str,
                                  write_issue: Callable[..., Path]) -> None:
    path = issue_linking(write_issue, server)
    result = CliRunner().invoke(main, ["check", "--check-links", "--link-timeout", "0.5",
                                       str(path.relative_to(project_dir))])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-2:] == ["Checked 1 file: 2 errors, 4 warnings.", "Error: 2 errors found"]
    assert sum("link is http, not https" in line for line in lines) == 4  # the local server
