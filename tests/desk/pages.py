"""A local web server that serves the shapes of page ``newsletter add`` meets in the wild.

Each path is one shape; the metadata is written the way real publishers write it (the
words are ours). Run as a script it serves until killed and prints its port, so a
subprocess test (the GitHub workflow's steps) can use it too.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

HUGE = 50 * 1024 * 1024
CHUNK = b"<p>" + b"padding " * 8000 + b"</p>\n"

OG_ONLY = """<!doctype html><html><head>
<meta property="og:type" content="article">
<meta property="og:title" content="Rivers rise across the north as rain keeps falling">
<meta property="og:site_name" content="The Northern Courier">
<meta property="og:description" content="Flood defences held overnight as three rivers reached levels not seen since records began, and more rain is forecast.">
<meta property="og:image" content="/img/river.jpg">
<meta property="og:image:width" content="1200">
<meta property="og:url" content="https://courier.example/rivers-rise?utm_source=rss&utm_medium=feed&id=7">
</head><body><p>Story text.</p></body></html>"""

JSON_LD_ONLY = """<!doctype html><html><head><title>ignored title | Site</title>
<script type="application/ld+json">
{"@context": "https://schema.org", "@graph": [
  {"@type": "WebSite", "url": "https://ledger.example/"},
  {"@type": "NewsArticle", "headline": "Parliament passes the budget by four votes",
   "description": "The vote came after a night of talks between the two largest parties.",
   "image": {"@type": "ImageObject", "url": "https://ledger.example/budget.jpg", "width": 480, "height": 270},
   "publisher": {"@type": "Organization", "name": "The Daily Ledger"}}]}
</script></head><body><p>Text.</p></body></html>"""

OEMBED_PAGE = """<!doctype html><html><head><title>A video page</title>
<link rel="alternate" type="application/json+oembed" href="/oembed.json?url=x&amp;format=json" title="oEmbed">
</head><body></body></html>"""

OEMBED = {"version": "1.0", "type": "video", "title": "Inside the new tidal power station",
          "provider_name": "StreamTube", "author_name": "Energy Desk",
          "thumbnail_url": "https://stream.example/thumb.jpg", "thumbnail_width": 480}

BARE = """<html><body><h1>Town council votes to keep the library open</h1>
<p>After a long evening of debate, the council agreed on Tuesday to fund the town library
for another five years. The decision follows a petition signed by more than four
thousand residents, who argued that the building is the only free warm space in the
centre of town during the winter.</p>
<p>The council will review the opening hours next spring.</p></body></html>"""

CP1251 = ("<html><head><meta property='og:title' content='Москва: новый мост открыт'>"
          "<meta property='og:site_name' content='Вестник'>"
          "<meta property='og:description' content='Мост через реку открыт для движения.'>"
          "</head><body></body></html>")

SHIFT_JIS = ("<html><head><meta charset='shift_jis'>"
             "<meta property='og:title' content='東京で桜が満開に'>"
             "<meta property='og:site_name' content='日刊ニュース'></head><body></body></html>")


HOSTILE = ("<html><head><title>x</title>"
           "<meta property='og:title' content='Pay\u202enow\u200b\x07 " + "long " * 200 + "'>"
           "<meta property='og:site_name' content='Site\u2066 name'>"
           "<meta property='og:description' content='Read [this](javascript:alert(1)) "
           "and *that* &lt;script&gt;'>"
           "<meta property='og:image' content='javascript:alert(1)'>"
           "<link rel='canonical' href='javascript:alert(1)'>"
           "<link rel='alternate' type='application/json+oembed' "
           "href='http://169.254.169.254/latest/meta-data'>"
           "</head><body></body></html>")

# Just under the cap: the metadata, then tags that never close, a shape that made a
# backtracking regex run for every "<link" to the end of the page (half an hour).
UNCLOSED = (OG_ONLY.split("</head>")[0] + "<link <meta " * 150_000 + "</head></html>")


class Pages(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    agents: ClassVar[list[str]] = []
    huge_sent: ClassVar[list[int]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        Pages.agents.append(self.headers.get("User-Agent", ""))
        path = self.path.split("?")[0]
        redirects = {"/r1": "/r2", "/r2": "/r3", "/r3": "/og?utm_campaign=x",
                     "/loop": "/loop", "/to-internal": "http://10.255.255.1/x",
                     "/to-metadata": "http://169.254.169.254/latest/"}
        if path in redirects:
            return self._send(302, b"", "text/html", {"Location": redirects[path]})
        if path == "/huge":
            return self._huge()
        if path == "/forbidden":
            return self._send(403, b"<h1>Forbidden</h1>", "text/html")
        if path == "/paywall":
            return self._send(402, b"<h1>Subscribe</h1>", "text/html")
        if path == "/pdf":
            return self._send(200, b"%PDF-1.7\n...", "application/pdf")
        if path == "/oembed.json":
            return self._send(200, json.dumps(OEMBED).encode(), "application/json")
        if path == "/cp1251":
            return self._send(200, CP1251.encode("cp1251"), "text/html; charset=windows-1251")
        if path == "/sjis":
            return self._send(200, SHIFT_JIS.encode("shift_jis"), "text/html")
        pages = {"/og": OG_ONLY, "/jsonld": JSON_LD_ONLY, "/oembed": OEMBED_PAGE,
                 "/bare": BARE, "/hostile": HOSTILE, "/unclosed": UNCLOSED}
        if path in pages:
            return self._send(200, pages[path].encode(), "text/html; charset=utf-8")
        self._send(404, b"not here", "text/plain")

    def _send(self, status: int, body: bytes, kind: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _huge(self) -> None:
        """50 MB: the metadata first, then padding; counts what the client took."""
        head = OG_ONLY.split("</head>")[0].encode() + b"</head><body>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(HUGE))
        self.end_headers()
        sent = 0
        try:
            self.wfile.write(head)
            sent = len(head)
            while sent < HUGE:
                piece = CHUNK[:HUGE - sent]
                self.wfile.write(piece)
                sent += len(piece)
        except OSError:  # the client hung up: what it took is what it read, or little more
            pass
        Pages.huge_sent.append(sent)


def serve() -> tuple[ThreadingHTTPServer, str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return httpd, f"127.0.0.1:{httpd.server_address[1]}"


if __name__ == "__main__":
    server, where = serve()
    print(where, flush=True)
    while True:
        time.sleep(sys.maxsize)
