"""``GET /c/TOKEN``: count a click on a story and send the reader on to it (302). And
``GET /o/TOKEN``, the open pixel: count an open of the issue and answer an image of one
transparent pixel.

The busiest route in the hour after a send, so nothing on its path waits for the
database: the token alone says where to go (newsletter/clicks.py), and the click is
added to counts in memory that :meth:`Tally.flush` writes every few seconds, one upsert
per story (store/events.py's counts). A database that is down loses no redirect; its
counts wait in memory (bounded) for the next flush.

Machines are counted apart from people. Mail security scanners open every link of a
message within seconds of its delivery, before anyone reads it; so are:

- a HEAD request (a browser never sends one for a link);
- a known scanner's or robot's User-Agent, or none;
- every click of a client (its address's rate-limit bucket) that opened
  :data:`BURST` different links of one issue within :data:`BURST_SECONDS`. Clicks wait
  :data:`HOLD` seconds before they are counted, so the first links a scanner opened are
  counted as a machine's too. (Two seconds: a scanner opens every link at once; a reader
  opening stories in tabs takes longer than that for three.)

An open is a machine's on a HEAD request, a robot's User-Agent, from a client found
scanning the issue's links, or from Apple's network (17.0.0.0/8: Apple Mail Privacy
Protection loads every message's images through it as the message arrives). An open does
not count towards a burst: a reader opens the email, then its stories.

At ``tracking: individual`` a link (and the pixel) carries its reader's token too
(``?r=``, a "reader" token of tokens.py): checked here, an HMAC and no database, and the
click waits in the tally with the reader's link key, which the flush looks up
(store/activity.py). A reader part that does not verify (another's changed, another
publication's, a token made for something else, a thousand characters of anything) is
ignored: the click is counted as at the aggregate level and the reader goes to the story
all the same. At the other levels the reader part is not even read.

A client that opens the same link again within :data:`REPEAT_SECONDS` is not counted
again: one reader (or one script) cannot make a story look wanted by clicking it a
thousand times. Many clients still can; no count without the reader's name can stop
that, and the report says clicks are counted per link.

What a worker remembers for repeats and bursts is small and of one size per entry,
whatever the link's URL (up to 2,000 characters), the client's address or the issue: a
client a hundred thousand addresses strong (IPv6 /64s, or addresses behind a proxy) must
not make it hold a copy of a long URL per address. A repeat is remembered as a 16-byte
keyed digest of (client, issue, link, reader) and the time it was counted; a client's
recent links in an issue under a digest of (client, issue), the links as references to
one copy of each URL the worker has seen (a URL comes from a token we signed, so there
are only as many as stories sent), which the clicks waiting to be written share too.
Both are capped, and forgotten once too old to matter.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import os
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from newsletter import clicks, tokens
from newsletter.errors import BadLink
from newsletter.store import events
from newsletter.store.vocabulary import Detail, Kind
from newsletter.web import clients
from newsletter.web.pages import Pages

__all__ = ["BURST", "BURST_SECONDS", "HOLD", "PIXEL", "REPEAT_SECONDS", "Readers", "Tally",
           "machine_agent", "opened", "redirect"]

log = logging.getLogger("newsletter.web")

BURST = 3  # different links of one issue ...
BURST_SECONDS = 2.0  # ... opened this close together: a scanner
HOLD = 10.0  # seconds a click waits before it is counted, for a burst to be seen
SCANNER_MEMORY = 600.0  # seconds a client found scanning stays a machine for its issue
MAX_CLIENTS = 50_000  # (client, issue) remembered for burst detection (the oldest forgotten)
MAX_WAITING = 200_000  # clicks kept in memory while the database is away
REPEAT_SECONDS = 3600.0  # the same client's same link again within this: not counted
MAX_REPEATS = 200_000  # (client, issue, link) remembered for that (the oldest forgotten)
FLUSH_SECONDS = 2.0
MAX_TEXTS = 10_000  # issues and URLs held once each; past this, the sharing starts afresh
_DIGEST_BYTES = 16  # no collision by chance among 200,000; keyed, so none by design
_V = TypeVar("_V")

# Words in the User-Agent of link scanners, previewers and robots (lower case). Mail
# gateways (Barracuda, Mimecast, Proofpoint, Microsoft's Safe Links) mostly send a
# browser's; the burst rule is what catches those.
_MACHINE_AGENTS = ("bot", "crawl", "spider", "scanner", "preview", "python-", "curl/",
                   "wget/", "go-http-client", "java/", "okhttp", "headlesschrome",
                   "phantomjs", "barracuda", "mimecast", "proofpoint", "safelinks",
                   "facebookexternalhit", "slack", "whatsapp", "telegram", "discord",
                   "httpclient", "libwww", "apache-httpclient", "node-fetch", "axios/")


# A GIF of one transparent pixel, the smallest image every mail client shows.
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00"
         b"\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
_APPLE = ipaddress.ip_network("17.0.0.0/8")


def machine_agent(agent: str | None) -> bool:
    """Whether a User-Agent says a machine follows the link (none at all counts)."""
    lowered = (agent or "").lower()
    return not lowered.strip() or any(word in lowered for word in _MACHINE_AGENTS)


@dataclass(slots=True)
class _Click:
    at: float
    issue: str  # the one copy the tally shares
    url: str  # likewise; empty for an open
    burst: bytes  # the digest of (client, issue) its burst is kept under
    machine: bool
    reader: str | None = None  # the link key a verified reader part named


class Readers:
    """Reads the reader part of a link (``?r=``) at the individual level of tracking."""

    def __init__(self, secret: bytes, individual: bool) -> None:
        self.secret = secret
        self.individual = individual

    def of(self, request: Request) -> str | None:
        """The link key the request's reader part names; None at the other levels, and
        for no part or one that does not verify as a reader's token of ours."""
        given = request.query_params.get("r") if self.individual else None
        if not given:
            return None
        try:
            return tokens.read(self.secret, given, "reader").key
        except BadLink:
            return None


@dataclass(slots=True)
class _Burst:
    """One client's recent links in one issue, for burst detection."""

    touched: float
    # (when, URL): the URL is the tally's shared copy, so an entry costs a reference.
    seen: list[tuple[float, str]] = field(default_factory=list)
    scanning: float | None = None  # since when the client counts as a machine here


class Tally:
    """Clicks counted in memory and written to the database in batches."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.clock = clock
        self.waiting: deque[_Click] = deque()  # oldest first
        # Digest of (client, issue) -> its recent links; the least recently touched first.
        self.bursts: OrderedDict[bytes, _Burst] = OrderedDict()
        # Digest of (client, issue, link, reader) -> when counted; the oldest first.
        self.opened: OrderedDict[bytes, float] = OrderedDict()
        self.texts: dict[str, str] = {}  # each issue and URL once, shared by every entry
        self.dropped = 0
        # A key of this process's own: nobody outside can make two clients' digests meet.
        self._key = os.urandom(16)

    def add(self, issue: str, url: str, client: str, machine: bool,
            reader: str | None = None) -> None:
        """A click on ``url`` in ``issue``; with ``url`` empty, an open of the issue.
        ``reader``: the link key of the reader a verified reader part named."""
        now = self.clock()
        # Two readers behind one address (an office) are two clicks when each is named.
        if self._repeated(self._digest(client, issue, url, reader or ""), now):
            return
        issue, url = self._shared(issue), self._shared(url)
        burst = self._digest(client, issue)
        if self._scanning(burst, url, now):
            machine = True
        if len(self.waiting) >= MAX_WAITING:
            self.dropped += 1  # the database has been away long: keep the memory bounded
            return
        self.waiting.append(_Click(now, issue, url, burst, machine, reader))

    def _digest(self, *parts: str) -> bytes:
        """A short fixed-size key for ``parts``, each length-prefixed so that no two
        different tuples read as one."""
        digest = hashlib.blake2b(key=self._key, digest_size=_DIGEST_BYTES)
        for part in parts:
            data = part.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(4, "big") + data)
        return digest.digest()

    def _shared(self, text: str) -> str:
        """The tally's one copy of ``text`` (each token read makes a new string)."""
        if len(self.texts) >= MAX_TEXTS:
            self.texts.clear()  # only signed issues and URLs come here; years of them
        return self.texts.setdefault(text, text)

    def _repeated(self, key: bytes, now: float) -> bool:
        """Whether this client opened this link within :data:`REPEAT_SECONDS`; noted."""
        last = self.opened.get(key)
        if last is not None and now - last < REPEAT_SECONDS:
            return True  # left where it is: the map stays in the order of its times
        self.opened[key] = now
        self.opened.move_to_end(key)
        _forget(self.opened, lambda at: now - at >= REPEAT_SECONDS, MAX_REPEATS)
        return False

    def _scanning(self, burst: bytes, url: str, now: float) -> bool:
        known = self.bursts.get(burst)
        if known is None:
            known = self.bursts[burst] = _Burst(now)
        else:
            known.touched = now
            self.bursts.move_to_end(burst)  # the most recently touched last
        # Past SCANNER_MEMORY (longer than BURST_SECONDS) an entry says nothing any more.
        _forget(self.bursts, lambda b: now - b.touched >= SCANNER_MEMORY, MAX_CLIENTS)
        if known.scanning is not None and now - known.scanning < SCANNER_MEMORY:
            return True
        if not url:  # an open: no link towards a burst
            return False
        recent = [(at, u) for at, u in known.seen if now - at < BURST_SECONDS]
        recent.append((now, url))
        known.seen = recent[-BURST * 4:]
        if len({u for _, u in recent}) >= BURST:
            known.scanning = now
            for click in self.waiting:  # what it opened before is a machine's too
                if click.burst == burst:
                    click.machine = True
            return True
        return False

    def due(self, *, everything: bool = False) -> list[events.Event]:
        """The clicks held long enough, as events of our vocabulary (no address; the
        reader's link key where a reader part named one), taken out of the waiting list."""
        now = self.clock()
        ready = []
        while self.waiting and (everything or now - self.waiting[0].at >= HOLD):
            ready.append(self.waiting.popleft())  # in time order: stop at the first too new
        return [events.Event("", Kind.CLICKED if c.url else Kind.OPENED, "", c.issue, None,
                             Detail.MACHINE if c.machine else Detail.PERSON, url=c.url or None,
                             reader=c.reader)
                for c in ready]

    def flush(self, *, everything: bool = False) -> int:
        """Write the clicks held long enough; on a database error, keep them for the
        next flush. Returns how many were written."""
        ready = self.due(everything=everything)
        return self._settle(ready, self._write(ready))

    def _write(self, ready: list[events.Event]) -> bool:
        if not ready:
            return True
        try:
            events.count_clicks(self.engine, ready)
        except Exception as exc:
            log.warning("clicks not counted yet (%d waiting): %s", len(ready),
                        type(exc).__name__)
            return False
        return True

    def _settle(self, ready: list[events.Event], written: bool) -> int:
        if written:
            return len(ready)
        self.waiting.extendleft(reversed([_Click(0.0, e.issue or "", e.url or "", b"",
                                                 e.detail is Detail.MACHINE, e.reader)
                                          for e in ready]))
        return 0

    async def run(self) -> None:
        """Flush every :data:`FLUSH_SECONDS` while the service runs, and everything at
        the end (a restart loses no click that was held). The waiting list is only ever
        touched on the event loop's thread; the database is written in a worker thread."""
        try:
            while True:
                await asyncio.sleep(FLUSH_SECONDS)
                ready = self.due()
                self._settle(ready, await asyncio.to_thread(self._write, ready))
        finally:
            ready = self.due(everything=True)
            self._settle(ready, await asyncio.to_thread(self._write, ready))


def redirect(request: Request, click_key: bytes, tally: Tally, pages: Pages,
             readers: Readers | None = None) -> Response:
    """The route: a 302 to the story a valid token names, counted (for its reader too,
    when ``readers`` finds one); a 404 page for any other token (never a redirect to
    anything a stranger chose, whatever the reader part)."""
    try:
        click = clicks.read(click_key, request.path_params["token"])
    except BadLink:
        click = None
    if click is None or click.opened:  # the pixel's token too: never a redirect
        # A reader followed it: the page every broken link of ours gives, in their words.
        return pages.message("invalid", 404)
    machine = request.method == "HEAD" or machine_agent(request.headers.get("user-agent"))
    host = request.client.host if request.client else None
    tally.add(click.issue.isoformat(), click.url, clients.bucket(host), machine,
              readers.of(request) if readers else None)
    # Not cached (every answer of the service says no-store): every click comes here.
    return RedirectResponse(click.url, status_code=302)


def opened(request: Request, click_key: bytes, tally: Tally,
           readers: Readers | None = None) -> Response:
    """The open pixel's route: the image, an open counted when the token is an open
    pixel's (anything else: a 404, counting nothing)."""
    try:
        pixel = clicks.read(click_key, request.path_params["token"])
    except BadLink:
        pixel = None
    if pixel is None or not pixel.opened:
        return Response(b"", status_code=404, media_type="image/gif")
    host = request.client.host if request.client else None
    machine = request.method == "HEAD" or machine_agent(request.headers.get("user-agent")) \
        or _from_apple(host)
    tally.add(pixel.issue.isoformat(), "", clients.bucket(host), machine,
              readers.of(request) if readers else None)
    return Response(PIXEL, media_type="image/gif")


def _forget(entries: OrderedDict[bytes, _V], stale: Callable[[_V], bool], cap: int) -> None:
    """Drop ``entries``' oldest while they are ``stale`` or more than ``cap``."""
    while entries and (len(entries) > cap or stale(next(iter(entries.values())))):
        entries.popitem(last=False)


def _from_apple(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host) in _APPLE
    except ValueError:
        return False

