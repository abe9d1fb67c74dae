"""The readers' service against clients that mean harm, through a real ``newsletter serve``
on loopback, on SQLite and PostgreSQL: what an attacker would try, a class at a time.

1. Starving it: huge bodies, bodies that trickle, thousands of connections, clients that
   leave half-way. The service stays small, answers /health, and logs one line each;
   every form refuses an oversized body with the same page, and changes nothing.
2. Odd input: every header, body and event value that is not what SendGrid sends is a
   4xx (or, signed, is recorded as well as it can be), never a 500 with a traceback.
3. Forged hosts: no answer is a redirect taken from the request's Host.
4. Bodies nobody reads: a body declared and never finished holds no connection, on any
   route, while a keep-alive client with whole bodies keeps its own.
5. Memory made per address: one long click link followed from thousands of addresses
   leaves the service near its idle memory (the counting holds no URL per address).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import resource
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, text
from sqlalchemy import select as sql_select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from newsletter import clicks, tokens
from newsletter.delivery.providers.sendgrid.webhook import SIGNATURE, TIMESTAMP
from newsletter.store import db, subscribers
from newsletter.store import events as store_events
from newsletter.web import budget, server
from newsletter.web.app import create_app
from newsletter.web.mailer import Mailer
from tests.helpers import ONE_DATABASE
from tests.web.conftest import service_env
from tests.web.served import Served, newsletter_serve
from tests.web.server import SECRET, free_port

MiB = 1024 * 1024
SECURITY = ("content-security-policy", "x-frame-options", "x-content-type-options",
            "referrer-policy")


@pytest.fixture
def served(project_dir: Path, engine: Engine,
           signing_key: ec.EllipticCurvePrivateKey) -> Iterator[Served]:
    with newsletter_serve(project_dir, engine, signing_key) as running:
        yield running


# -- raw HTTP, as an attacker writes it ----------------------------------------------------

def connect(served: Served, timeout: float = 10) -> socket.socket:
    host, port = served.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def head(method: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of the one answer on ``sock`` (read to its close)."""
    raw = b""
    while chunk := sock.recv(65536):
        raw += chunk
    top, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = top.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


def signed(key: ec.EllipticCurvePrivateKey, body: bytes) -> dict[str, str]:
    stamp = str(int(dt.datetime.now(dt.UTC).timestamp()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE: base64.b64encode(signature).decode(), TIMESTAMP: stamp,
            "Content-Type": "application/json"}


def forged() -> dict[str, str]:
    """Headers of the right form (a recent time, 70 bytes of base64) that sign nothing:
    the body must be read before they can be found out."""
    return {SIGNATURE: base64.b64encode(os.urandom(70)).decode(),
            TIMESTAMP: str(int(time.time()))}


def logged(served: Served, needle: str) -> list[str]:
    """The log lines with ``needle``, once there is one (a line is written as its request
    ends, which can be just after the client has its answer)."""
    for _ in range(50):
        if found := [line for line in served.lines() if needle in line]:
            time.sleep(0.2)  # and any second line would be there too by now
            return [line for line in served.lines() if needle in line]
        time.sleep(0.1)
    return found


def no_traceback(served: Served) -> None:
    log = "\n".join(served.lines())
    assert "Traceback" not in log and "Exception in ASGI" not in log, log


# -- 1. Starving the service ---------------------------------------------------------------

def _post_huge(served: Served, headers: dict[str, str], chunked: bool) -> int | None:
    """POST 32 MiB to the webhook as fast as loopback takes it; the status, if one came
    before the server closed the connection."""
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(32 * MiB)}
    block = os.urandom(64 * 1024)
    piece = f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block
    with connect(served) as sock:
        try:
            sock.sendall(head("POST", "/webhooks/sendgrid", {**headers, **framing}))
            for _ in range(32 * MiB // len(block)):
                sock.sendall(piece)
        except OSError:  # refused, and closed under us: what should happen
            pass
        try:
            return answer(sock)[0]
        except (OSError, ValueError, IndexError):
            return None


@pytest.mark.parametrize("kind", ["unsigned", "forged"])
def test_sixteen_posts_of_32_mib_leave_the_memory_near_idle(served: Served, kind: str) -> None:
    for _ in range(3):  # warm: the first requests load what every later one uses
        assert httpx.get(served.url + "/health").status_code == 200
    idle = served.rss_kib()
    peak, statuses, done = [idle], [], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak.append(served.rss_kib())
            time.sleep(0.01)

    def post() -> None:
        statuses.append(_post_huge(served, {} if kind == "unsigned" else forged(),
                                   chunked=kind == "forged"))

    watcher = threading.Thread(target=watch)
    watcher.start()
    posters = [threading.Thread(target=post) for _ in range(16)]
    for thread in posters:
        thread.start()
    for thread in posters:
        thread.join(120)
    done.set()
    watcher.join()
    assert (max(peak) - idle) < 50 * 1024, f"RSS grew by {(max(peak) - idle) // 1024} MiB"
    refusals = {401} if kind == "unsigned" else {413, 503}
    assert {s for s in statuses if s is not None} <= refusals and len(statuses) == 16
    assert httpx.get(served.url + "/health").status_code == 200
    no_traceback(served)


def _more_files(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


@ONE_DATABASE
def test_two_thousand_trickling_bodies_leave_health_answering(served: Served) -> None:
    _more_files(4096)
    paths = ["/subscribe", "/unsubscribe", "/manage", "/confirm"]
    socks = []
    try:
        for n in range(2000):  # each promises a form and sends it a byte at a time
            sock = connect(served)
            sock.sendall(head("POST", paths[n % 4], {
                "Content-Type": "application/x-www-form-urlencoded",
                "Content-Length": "1000"}) + b"e")
            socks.append(sock)
        # Opened in half a second, the 2,000 are a burst the server takes a second or so to
        # start (measured: 1.3 s on two cores); what is tested is the service while they
        # are all open and trickling.
        assert httpx.get(served.url + "/health", timeout=10).status_code == 200
        for _ in range(5):  # a bounded trickle: five rounds, then every socket is closed
            for sock in socks:
                sock.send(b"m")
            health = httpx.get(served.url + "/health", timeout=1.0)  # the availability check
            assert health.status_code == 200 and health.json() == {"status": "ok"}
            time.sleep(0.2)
    finally:
        for sock in socks:
            sock.close()
    no_traceback(served)


@ONE_DATABASE
def test_a_body_that_trickles_past_the_deadline_gets_408_and_is_dropped(served: Served
                                                                        ) -> None:
    with connect(served, timeout=30) as sock:
        sock.sendall(head("POST", "/subscribe", {
            "Content-Type": "application/x-www-form-urlencoded", "Content-Length": "500"}))
        for _ in range(25):  # a byte every second: 25 of the 500 promised, at most
            sock.send(b"x")
            if select.select([sock], [], [], 1.0)[0]:
                break
        status, headers, body = answer(sock)  # read to the close: the server drops it
    assert status == 408 and headers["connection"] == "close"
    assert all(name in headers for name in SECURITY)
    assert b"<h1>This request did not work</h1>" in body  # a person's form: the page
    no_traceback(served)


def _provider_post(served: Served, key: ec.EllipticCurvePrivateKey, source: str,
                   n: int) -> httpx.Response:
    """A signed post of one event from the loopback address ``source``, as SendGrid's."""
    body = json.dumps([_event(f"in-{source}-{n}")]).encode()
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=5) as client:
        return client.post(served.url + "/webhooks/sendgrid", content=body,
                           headers=signed(key, body))


def _hold(served: Served, size: int, source: str = "127.0.0.1") -> socket.socket:
    """A forged post that promises 4 MiB, sends ``size`` bytes of it and stops there."""
    sock = socket.create_connection(_address(served), timeout=10,
                                    source_address=(source, 0))
    sock.sendall(head("POST", "/webhooks/sendgrid",
                      {**forged(), "Content-Length": str(4 * MiB)}) + b"[" * size)
    return sock


def _address(served: Served) -> tuple[str, int]:
    host, port = served.url.removeprefix("http://").split(":")
    return host, int(port)


def test_webhook_posts_that_trickle_do_not_keep_the_provider_out(
        served: Served, signing_key: ec.EllipticCurvePrivateKey) -> None:
    """What a stranger did: posts with well-formed signature headers and a fresh time,
    each promising a body and sending one byte, held every one of the four reading slots
    for the 10 s deadline, and SendGrid's own posts got 503. A trickle holds only what it
    has sent, so however many there are, the provider's post is read at once."""
    trickles = [_hold(served, 1) for _ in range(64)]
    try:
        time.sleep(0.5)  # every one of them is being read now
        answers = [_provider_post(served, signing_key, "127.0.0.1", n) for n in range(8)]
        assert [a.status_code for a in answers] == [200] * 8, answers[0].text
        assert all(a.json() == {"received": 1, "new": 1, "refused": 0} for a in answers)
    finally:
        for sock in trickles:
            sock.close()
    no_traceback(served)


def test_one_address_cannot_spend_what_the_webhook_holds_for_everyone(
        served: Served, signing_key: ec.EllipticCurvePrivateKey) -> None:
    """Bodies that arrive fast and stop short of their end are held for the whole read
    deadline: from one address they may hold 8 MiB, its share, and a post past it is
    503 at once; a post from another address is read as if nothing were held."""
    held = [_hold(served, 3 * MiB) for _ in range(2)]  # 6 MiB of the share's 8
    try:
        time.sleep(0.5)  # read by now: the route reads as bytes arrive
        # One byte past the share. Sent whole, so that the server has read every byte
        # when it answers: a close with bytes still unread would be a reset, not an answer.
        with _hold(served, 2 * MiB + 1) as third:
            status, headers, body = answer(third)
        assert status == 503 and headers["retry-after"] == "5"
        assert headers["connection"] == "close" and body == b"busy: try again"
        # Someone else, meanwhile (a provider posts from its own addresses):
        other = _provider_post(served, signing_key, "127.0.0.2", 0)
        assert other.status_code == 200 and other.json() == {"received": 1, "new": 1, "refused": 0}
        # and the address that holds its share still gets a post that fits into it:
        assert _provider_post(served, signing_key, "127.0.0.1", 1).status_code == 200
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.5)  # the server has seen them go
    # Once the held posts are gone, their bytes are free again, for the same address too.
    for _ in range(3):
        with _hold(served, 3 * MiB) as again:
            time.sleep(0.2)
            assert not select.select([again], [], [], 0)[0], "refused though nothing is held"
    no_traceback(served)


@ONE_DATABASE
def test_strangers_who_fill_the_webhook_s_bytes_and_stall_give_way_to_the_provider(
        served: Served, signing_key: ec.EllipticCurvePrivateKey) -> None:
    """What a stranger did next: two addresses, each holding its share with two posts of
    4 MiB less a byte (well-formed signature headers, a body never finished), kept every
    signed post out for the read deadline, again and again. A post that finds the budget
    full takes the place of the reads that have gone on longest, past a second: they are
    cut short (408), and the provider's post is read."""
    stalled = [_hold(served, 4 * MiB - 1, source) for source in
               ("127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3")]
    try:
        time.sleep(budget.GRACE + 0.5)  # all read as far as they go, and past their grace
        for n in range(3):
            answered = _provider_post(served, signing_key, "127.0.0.4", n)
            assert answered.status_code == 200, answered.text
        cut = [answer(sock)[0] for sock in stalled if select.select([sock], [], [], 5)[0]]
        assert cut and set(cut) == {408}, cut  # the oldest gave way, each with a 408
    finally:
        for sock in stalled:
            sock.close()
    no_traceback(served)


@pytest.mark.parametrize("path", ["/subscribe", "/webhooks/sendgrid", "/manage/forget"])
def test_a_client_that_leaves_mid_body_is_one_log_line(served: Served, path: str) -> None:
    with connect(served) as sock:
        sock.sendall(head("POST", path, {**forged(), "Content-Length": "10000"}) + b"t=" * 50)
        time.sleep(0.2)  # the service is reading the body now
    lines = logged(served, f"POST {path} ")
    assert len(lines) == 1 and "499 (the client went away)" in lines[0], served.lines()
    no_traceback(served)


@pytest.mark.parametrize("path", ["/c/x%0a2026-11-29%20newsletter.web%20FAKE%20login%0d",
                                  "/nope%00z%1b[31mRED%1b[0m", "/c/" + "%0a" * 3000])
def test_a_path_writes_one_escaped_log_line(served: Served, path: str) -> None:
    # What a stranger puts in a path must not forge a log line of its own, colour the
    # operator's terminal, or fill the log.
    with connect(served) as sock:
        sock.sendall(head("GET", path, {"Connection": "close"}))
        status, _, _ = answer(sock)
    assert status == 404
    time.sleep(0.2)  # the log line follows the answer
    text = served.log.read_text(errors="replace")
    assert "\x1b" not in text and "\x00" not in text
    lines = [line for line in served.lines() if " GET /" in line and " 404 " in line]
    assert len(lines) == 1 and len(lines[0]) < 500, lines
    assert "FAKE" not in text or "\\n" in lines[0]
    no_traceback(served)


def _every_row(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {table.name: sorted(map(tuple, conn.execute(table.select()).all()), key=repr)
                for table in db.metadata.sorted_tables}


def _kims_links(engine: Engine) -> tuple[str, str, str]:
    """A reader, Kim, and the tokens of her unsubscribe and manage links, with a
    confirmation token for a request nobody made."""
    subscribers.add(engine, "kim@example.org")
    reader = subscribers.find(engine, "kim@example.org")
    assert reader is not None
    leave, manage = tokens.make_pair(SECRET.encode(), reader.link_key)
    return leave, manage, tokens.make(SECRET.encode(), "confirm", "ab" * 16)


def test_every_form_answers_an_oversized_body_with_the_same_page_and_changes_nothing(
        served: Served, engine: Engine) -> None:
    leave, manage, confirm = _kims_links(engine)
    # Each form's own fields first, as if they would act: nothing past the limit is read.
    fields = f"t={manage}&sure=yes&name=Kim&timezone=Asia/Tokyo&email=kim@example.org&"
    one_click = "List-Unsubscribe=One-Click&"
    posts = {"/subscribe": fields, "/manage": fields, "/manage/data": fields,
             "/manage/forget": fields, "/manage/link": fields,
             f"/unsubscribe?t={leave}": one_click, "/unsubscribe": f"t={leave}&",
             "/confirm": f"t={confirm}&name=Kim&"}
    before = _every_row(engine)
    pages = set()
    for path, start in posts.items():
        huge = start.encode() + b"a" * (10 * MiB)
        for content in (huge, iter([huge[:MiB]] * 10)):  # Content-Length, then chunked
            answered = httpx.post(served.url + path, content=content, headers={
                "Content-Type": "application/x-www-form-urlencoded"})
            assert answered.status_code == 413, path
            assert answered.headers["content-type"].startswith("text/html"), path
            pages.add(answered.text)
    assert len(pages) == 1 and "larger than any of ours" in pages.pop()
    # Queueing is part of the answer: a request taken would be a row by now.
    assert _every_row(engine) == before
    # And a beat of the mailer, run here to its end, finds nothing to mail (the server's
    # own would have mailed it to the same outbox).
    service = create_app(served.log.parent / "newsletter.yaml", service_env(engine)).state.service
    assert Mailer(service).beat() == 0
    assert not (served.log.parent / "outbox").exists() or \
        not any((served.log.parent / "outbox").rglob("*.eml"))
    no_traceback(served)


@ONE_DATABASE
def test_every_form_refuses_bytes_that_are_not_utf8_and_changes_nothing(
        served: Served, engine: Engine) -> None:
    """Decoded with "replace", an address of them became U+FFFD, queued and mailed."""
    leave, manage, confirm = _kims_links(engine)
    posts = {"/subscribe": "email={bad}@example.com&name={bad}",
             "/manage": f"t={manage}&name={{bad}}", "/manage/data": f"t={manage}&x={{bad}}",
             "/manage/forget": f"t={manage}&sure=yes&x={{bad}}",
             "/manage/link": "email={bad}@example.com",
             "/unsubscribe": f"t={leave}&x={{bad}}", "/confirm": f"t={confirm}&name={{bad}}"}
    before = _every_row(engine)
    for path, form in posts.items():
        # %-escaped, raw, a lone surrogate's bytes and an overlong "/" (no valid UTF-8
        # has them), a sequence cut short
        for bad in (b"%ff%fe", b"\xff\xfe", b"%ed%a0%80", b"%c0%af", b"%e2%82"):
            content = form.encode().replace(b"{bad}", bad)
            answered = httpx.post(served.url + path, content=content, headers={
                "Content-Type": "application/x-www-form-urlencoded"})
            assert answered.status_code == 400, (path, bad)
            assert answered.headers["content-type"].startswith("text/html"), path
    assert _every_row(engine) == before
    no_traceback(served)


@pytest.mark.parametrize("nul", ["%00", "\x00"])
def test_a_nul_in_any_form_field_is_refused_or_made_a_space(
        served: Served, engine: Engine, nul: str) -> None:
    """PostgreSQL's text refuses U+0000, which SQLite keeps: a name keeps it as a space
    (safetext.one_line, as every control character); an address, a timezone or a token
    with one is not valid, and answered as such; on both databases alike."""
    leave, manage, _ = _kims_links(engine)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    kim = subscribers.find(engine, "kim@example.org")
    assert kim is not None
    refused = {"/subscribe": f"email=a{nul}b@example.com&name=x",
               "/manage/link": f"email=kim{nul}@example.org",
               "/manage": f"t={manage}&timezone=Asia{nul}/Tokyo",
               "/manage/data": f"t={manage}{nul}", "/manage/forget": f"t={manage}{nul}&sure=yes",
               "/unsubscribe": f"t={leave}{nul}"}
    for path, content in refused.items():
        answered = httpx.post(served.url + path, content=content.encode(), headers=form)
        assert answered.status_code == 400, path
    for path in (f"/manage?t={manage}%00", f"/unsubscribe?t={leave}%00", "/c/x%00", "/o/x%00"):
        assert httpx.get(served.url + path).status_code in (400, 404), path
    taken = {"/subscribe": f"email=nul@example.com&name=N{nul}L&timezone=Europe/Paris",
             "/manage": f"t={manage}&name=K{nul}m"}
    for path, content in taken.items():
        answered = httpx.post(served.url + path, content=content.encode(), headers=form)
        assert answered.status_code == 200, path
    with engine.connect() as conn:
        queued = conn.execute(sql_select(db.signups.c.email, db.signups.c.name)).all()
    assert queued == [("nul@example.com", "N L")]
    assert subscribers.find(engine, "kim@example.org").name == "K m"  # type: ignore[union-attr]
    assert subscribers.find(engine, "kim@example.org").status == "active"  # type: ignore[union-attr]
    no_traceback(served)


# -- 2. Odd input --------------------------------------------------------------------------

STAMPS = {
    "twenty digits": "99999999999999999999",
    "superscript two (str.isdigit says yes)": "²",
    "Arabic-Indic digits": "١٧٢١٧١٠٨٠٠",
    "4,400 digits (int() refuses)": "7" * 4400,
    "negative": "-1721710800",
    "a space inside": "1721 710800",
    "a tab inside": "1721\t710800",
    "a fraction": "1721710800.5",
    "hexadecimal": "0x66a0a3d0",
    "a date": "2024-07-23T06:00:00Z",
    "stale": str(int(time.time()) - 3600),
}


def test_timestamp_headers_of_any_size_or_script_are_400(served: Served) -> None:
    for case, stamp in STAMPS.items():
        with connect(served) as sock:
            headers = {**forged(), TIMESTAMP: stamp, "Content-Length": "2"}
            sock.sendall(head("POST", "/webhooks/sendgrid", headers) + b"[]")
            status, answered, _ = answer(sock)
        assert status == 400, case
        assert all(name in answered for name in SECURITY), case
    no_traceback(served)


SIGNATURES = {"missing": None, "empty": "", "not base64": "not*base64!",
              "10 KB of base64": base64.b64encode(os.urandom(7500)).decode(),
              "base64 of the wrong signature": base64.b64encode(os.urandom(70)).decode()}


def test_signatures_malformed_or_wrong_are_401(served: Served) -> None:
    for case, signature in SIGNATURES.items():
        headers = {**forged(), "Content-Type": "application/json"}
        if signature is None:
            del headers[SIGNATURE]
        else:
            headers[SIGNATURE] = signature
        status = httpx.post(served.url + "/webhooks/sendgrid", content=b"[]",
                            headers=headers).status_code
        assert status == 401, case
    no_traceback(served)


BODIES = {
    "an object": b'{"email": "ann@example.org"}',
    "null": b"null",
    "a list of numbers": b"[1, 2, 3]",
    "a list of strings and an object": b'["x", {"email": "ann@example.org"}]',
    "nested past the parser's stack": b"[" * 200_000 + b"]" * 200_000,
    "nested past SendGrid's shape": b'[{"a": ' + b"[" * 40 + b"]" * 40 + b"}]",
    "not UTF-8": b'[{"email": "ann@example.org", "event": "\xff\xfe"}]',
    "UTF-16 (JSON, but not what SendGrid sends)": '[{"event": "open"}]'.encode("utf-16"),
    "empty": b"",
    "not JSON": b"<xml/>",
}


def test_signed_bodies_that_are_not_a_list_of_events_are_400(
        served: Served, signing_key: ec.EllipticCurvePrivateKey) -> None:
    for case, body in BODIES.items():
        answered = httpx.post(served.url + "/webhooks/sendgrid", content=body,
                              headers=signed(signing_key, body))
        assert answered.status_code == 400, case
    no_traceback(served)


def _event(n: int | str, **values: object) -> dict[str, object]:
    return {"email": "reader@example.org", "event": "delivered", "sg_event_id": f"odd-{n}",
            "issue": "2024-07-23", "timestamp": 1721710800, **values}


ABSURD_TIMES: list[object] = [10**12, -1, "yesterday", 1721710800.5, None, True, 10**400,
                              "1721710800", [1721710800], {"at": 1}]


def test_signed_events_with_absurd_values_are_kept_and_answered_200(
        served: Served, engine: Engine, signing_key: ec.EllipticCurvePrivateKey) -> None:
    posted = [_event(n, timestamp=stamp) for n, stamp in enumerate(ABSURD_TIMES)]
    posted += [_event("new-kind", event="a_kind_sendgrid_adds_next_year"),
               _event("p" * 100 + "-one"), _event("p" * 100 + "-two"),  # one prefix, two ids
               _event("id" * 50_000),  # 100,000 characters
               _event("surrogate", email="\ud800@example.org"),  # no database takes it: skipped
               _event("fine")]
    body = json.dumps(posted).encode()
    for _ in range(2):  # and SendGrid's retry of the same post changes nothing
        answered = httpx.post(served.url + "/webhooks/sendgrid", content=body,
                              headers=signed(signing_key, body))
        assert answered.status_code == 200
    kept = len(posted) - 2  # a kind not in our words is left out, as is the surrogate
    assert answered.json() == {"received": kept, "new": 0, "refused": 0}
    assert store_events.counts(engine, "2024-07-23") == {"delivered": kept}
    with engine.connect() as conn:
        times = dict(conn.execute(sql_select(db.events.c.id, db.events.c.happened_at)).all())
    unknown = {store_events.key(f"odd-{n}") for n in range(len(ABSURD_TIMES))}
    assert all(times[key] is None for key in unknown)
    assert times[store_events.key("odd-fine")] is not None
    no_traceback(served)


def test_a_relayed_reason_of_a_megabyte_is_kept_short_and_answered_at_once(
        served: Served, engine: Engine, signing_key: ec.EllipticCurvePrivateKey) -> None:
    """A remote server's words reach us through SendGrid, addresses taken out before
    they are kept. Letters with no "@" in them, a megabyte long, took the backtracking
    engine 20 s for 60,000 of them, all that time holding the lock the event loop needs:
    /health waited too. Answered within httpx's default deadline (5 s) or not at all."""
    posted = [_event("long-bounce", event="bounce", reason="x" * MiB),
              _event("long-deferred", event="deferred", response="'" * MiB),
              _event("long-address", event="bounce", reason="y" * MiB + "@example.org")]
    body = json.dumps(posted).encode()
    answered = httpx.post(served.url + "/webhooks/sendgrid", content=body,
                          headers=signed(signing_key, body))
    assert answered.status_code == 200 and answered.json() == {"received": 3, "new": 3, "refused": 0}
    with engine.connect() as conn:
        kept = dict(conn.execute(sql_select(db.events.c.id, db.events.c.reason)).all())
    assert kept[store_events.key("odd-long-bounce")] == "x" * store_events.REASON_LENGTH
    assert kept[store_events.key("odd-long-deferred")] == "'" * store_events.REASON_LENGTH
    assert kept[store_events.key("odd-long-address")] == "[address]"
    assert httpx.get(served.url + "/health").status_code == 200
    no_traceback(served)


# A NUL in each text field SendGrid sends, in an event of the kind that keeps that field.
# PostgreSQL's text refuses U+0000, and one such value failed the whole post, at every
# retry; the character is stored as U+FFFD (providers/base.py, ``stored``).
NUL_EVENTS: dict[str, dict[str, object]] = {
    "reason": {"event": "bounce", "type": "bounce", "reason": "550 5.1.1 no\x00 mailbox"},
    "response": {"event": "deferred", "response": "451 4.7.1 try\x00 later"},
    "url": {"event": "click", "url": "https://example.org/a\x00b"},
    "issue": {"issue": "2024-07-23\x00"},
    "email": {"event": "bounce", "type": "bounce", "email": "kim\x00@example.org"},
    "sg_event_id": {"sg_event_id": "odd-\x00-nul"},
}


def _stored_events(engine: Engine) -> dict[str, dict[str, object]]:
    with engine.connect() as conn:
        return {row.id: dict(row._mapping) for row in conn.execute(db.events.select())}


@pytest.mark.parametrize("field", list(NUL_EVENTS))
def test_a_signed_event_with_a_nul_in_any_field_is_kept_beside_the_others(
        served: Served, engine: Engine, signing_key: ec.EllipticCurvePrivateKey,
        field: str) -> None:
    subscribers.add(engine, "kim@example.org")
    nul = _event("nul", **NUL_EVENTS[field])
    body = json.dumps([_event("plain"), nul]).encode()
    for new in (2, 0):  # and SendGrid's retry of the same post is taken too
        answered = httpx.post(served.url + "/webhooks/sendgrid", content=body,
                              headers=signed(signing_key, body))
        assert answered.status_code == 200, answered.text
        assert answered.json() == {"received": 2, "new": new, "refused": 0}
    rows = _stored_events(engine)
    cleaned = str(nul[field]).replace("\x00", "\ufffd")
    nul_key = store_events.key(cleaned if field == "sg_event_id" else "odd-nul")
    assert set(rows) == {store_events.key("odd-plain"), nul_key}
    assert not any("\x00" in str(value) for row in rows.values() for value in row.values())
    kept = {"reason": "reason", "response": "reason", "url": "url", "issue": "issue"}
    if field in kept:
        assert rows[nul_key][kept[field]] == cleaned
    # A bounce for "kim\0@..." names nobody on the list: Kim is not taken for it.
    assert subscribers.find(engine, "kim@example.org").status == "active"  # type: ignore[union-attr]
    issue = cleaned if field == "issue" else "2024-07-23"
    assert sum(store_events.counts(engine, issue).values()) == (1 if field == "issue" else 2)
    no_traceback(served)


def _refuse_poison(engine: Engine) -> None:
    """The database refuses, from now on, any event whose reason says "poison": a
    constraint on PostgreSQL, a trigger on SQLite (which cannot add a constraint to a
    table that exists). For what else a database may refuse one day."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE events ADD CONSTRAINT no_poison "
                              "CHECK (reason IS NULL OR reason NOT LIKE '%poison%')"))
        else:
            conn.execute(text("CREATE TRIGGER no_poison BEFORE INSERT ON events "
                              "WHEN NEW.reason LIKE '%poison%' "
                              "BEGIN SELECT RAISE(ABORT, 'poison'); END"))


def test_an_event_the_database_refuses_loses_nothing_else_of_its_post(
        served: Served, engine: Engine, signing_key: ec.EllipticCurvePrivateKey) -> None:
    subscribers.add(engine, "kim@example.org")
    subscribers.add(engine, "lee@example.org")
    _refuse_poison(engine)
    posted = [_event("first"),
              _event("poison", event="bounce", type="bounce", email="kim@example.org",
                     reason="550 poison <kim@example.org>"),
              _event("last", event="bounce", type="bounce", email="lee@example.org",
                     reason="550 5.1.1 unknown")]
    body = json.dumps(posted).encode()
    for new in (2, 0):  # not a poison pill: SendGrid's retry is answered 200 too
        answered = httpx.post(served.url + "/webhooks/sendgrid", content=body,
                              headers=signed(signing_key, body))
        assert answered.status_code == 200, answered.text
        assert answered.json() == {"received": 3, "new": new, "refused": 1}
    assert set(_stored_events(engine)) == {store_events.key("odd-first"),
                                           store_events.key("odd-last")}
    assert subscribers.find(engine, "lee@example.org").status == "bounced"  # type: ignore[union-attr]
    assert subscribers.find(engine, "kim@example.org").status == "active"  # type: ignore[union-attr]
    assert store_events.counts(engine, "2024-07-23") == {"delivered": 1, "bounced": 1}
    lines = logged(served, "the database refused")
    assert len(lines) == 2 and all("1 of 3 events" in line for line in lines), lines
    assert "bounced IntegrityError" in lines[0] or "bounced CheckViolation" in lines[0]
    assert not any("example.org" in line for line in served.lines())
    no_traceback(served)


def test_a_500_carries_the_security_headers_and_is_one_log_line(
        served: Served, engine: Engine, signing_key: ec.EllipticCurvePrivateKey) -> None:
    with engine.begin() as conn:  # the database loses a table under the running service
        conn.execute(text("ALTER TABLE events RENAME TO events_gone"))
    body = json.dumps([_event(1)]).encode()
    answered = httpx.post(served.url + "/webhooks/sendgrid", content=body,
                          headers=signed(signing_key, body))
    assert answered.status_code == 500 and all(name in answered.headers for name in SECURITY)
    # Plain text, as every other error of a webhook: the page is for people.
    assert answered.headers["content-type"].startswith("text/plain")
    assert answered.text == "internal server error"
    lines = logged(served, "POST /webhooks/sendgrid")
    assert len(lines) == 1 and " 500 " in lines[0] and "reader@example.org" not in lines[0]
    assert " at events.py:" in lines[0]  # where in our code, not deep in the driver
    no_traceback(served)


def test_a_500_where_people_call_is_still_the_page(
        served: Served, engine: Engine) -> None:
    with engine.begin() as conn:  # the rate limit's table goes: every form that queues fails
        conn.execute(text("ALTER TABLE throttle RENAME TO throttle_gone"))
    person = httpx.post(served.url + "/subscribe", data={"email": "kim@example.org"})
    assert person.status_code == 500 and person.headers["content-type"].startswith("text/html")
    assert "<html" in person.text and all(name in person.headers for name in SECURITY)
    no_traceback(served)


# -- 3. Forged hosts -----------------------------------------------------------------------

def routes(project_dir: Path, engine: Engine) -> list[str]:
    """Every path the application serves, read from it (so a new route is covered)."""
    app = create_app(project_dir / "newsletter.yaml", service_env(engine))
    return sorted({route.path for route in app.routes if isinstance(route, Route)})


def test_no_answer_redirects_to_the_host_a_request_names(served: Served, project_dir: Path,
                                                         engine: Engine) -> None:
    paths = routes(project_dir, engine)
    # No webhook is set up in this environment: the catch-all that answers 404 is served.
    assert {"/manage", "/manage/forget", "/webhooks/{name}"} <= set(paths)
    for path in paths:
        for method in ("GET", "POST"):
            for forged_host in ({"Host": "evil.example"},
                                {"X-Forwarded-Host": "evil.example",
                                 "X-Forwarded-Proto": "https"}):
                answered = httpx.request(method, served.url + path + "/?t=x",
                                         headers=forged_host, follow_redirects=False)
                assert answered.status_code == 404, (method, path, forged_host)
                assert "location" not in answered.headers
                assert "evil.example" not in answered.text


@ONE_DATABASE
def test_headers_that_never_finish_are_cut_off_at_the_deadline(served: Served) -> None:
    """Slowloris: connections that send nothing, or their headers a byte at a time, are
    closed by the server (5 s for one that sends nothing, 10 s from a request's first
    byte, newsletter/web/server.py), not held for ever."""
    silent = [connect(served, timeout=30) for _ in range(20)]
    trickling = [connect(served, timeout=30) for _ in range(20)]
    started = head("POST", "/subscribe", {"Content-Length": "10"})[:-4]
    try:
        for second in range(25):  # a byte a second, for 25 s at most
            for sock in trickling:
                with contextlib.suppress(OSError):  # closed by now: what should happen
                    sock.send(started[second:second + 1])
            if all(_closed(sock) for sock in silent + trickling):
                break
            time.sleep(1)
        assert all(_closed(sock) for sock in silent + trickling)
    finally:
        for sock in silent + trickling:
            sock.close()
    assert httpx.get(served.url + "/health").status_code == 200
    no_traceback(served)


def _closed(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (it has nothing else to say on it)."""
    if not select.select([sock], [], [], 0)[0]:
        return False
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


# -- 4. Bodies the service does not read ----------------------------------------------------

# Where a body is declared and a byte of it sent: routes that never read a body (every
# GET and HEAD, a 404, a 405, a POST refused on its headers) and routes that read one.
UNREAD_BODIES = [("GET", "/health"), ("HEAD", "/health"), ("GET", "/c/x"), ("HEAD", "/o/x"),
                 ("GET", "/manage"), ("GET", "/nope"), ("POST", "/health"),
                 ("POST", "/webhooks/nope"), ("POST", "/webhooks/sendgrid"),
                 ("POST", "/subscribe"), ("POST", "/unsubscribe"), ("POST", "/manage/forget")]
# The deadlines for a body (10 s read by a route, 15 s whatever the route) and a generous
# margin for a loaded machine: a correctness bound, not a speed one.
CLOSED_WITHIN = 40.0


def _started_body(method: str, path: str, chunked: bool) -> bytes:
    """A request that promises 1,000 bytes of body and brings one."""
    if chunked:
        return head(method, path, {"Transfer-Encoding": "chunked"}) + b"3e8\r\ne"
    return head(method, path, {"Content-Length": "1000"}) + b"e"


def _gone(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock``: what it sent read and thrown away, then
    the end (or a reset)."""
    try:
        while select.select([sock], [], [], 0)[0]:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    return False


@ONE_DATABASE
def test_a_body_nobody_reads_does_not_hold_its_connection(served: Served) -> None:
    """The tester's attack: a body declared, the answer read, one more byte, then nothing.
    uvicorn's keep-alive timer stops at that byte and waits for the rest of the body; each
    such connection held a slot of the 4,096 for ever."""
    cases = [(method, path, chunked) for method, path in UNREAD_BODIES
             for chunked in (False, True)]
    socks = [connect(served, timeout=60) for _ in cases]
    try:
        for sock, case in zip(socks, cases, strict=True):
            sock.sendall(_started_body(*case))
        time.sleep(1)  # the routes that do not read have answered by now
        for sock in socks:
            with contextlib.suppress(OSError):  # closed already: what should happen
                sock.send(b"e")
        deadline = time.monotonic() + CLOSED_WITHIN
        open_ = list(zip(socks, cases, strict=True))
        while open_ and time.monotonic() < deadline:
            open_ = [(sock, case) for sock, case in open_ if not _gone(sock)]
            time.sleep(0.5)
        assert not open_, [case for _, case in open_]
    finally:
        for sock in socks:
            sock.close()
    assert httpx.get(served.url + "/health").status_code == 200
    no_traceback(served)


def _one_answer(sock: socket.socket) -> tuple[int, dict[str, str]]:
    """The status and headers of the next answer on a kept-alive ``sock``, its body
    (by Content-Length) read and thrown away."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {raw!r}"
        raw += chunk
    top, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = top.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    missing = int(headers["content-length"]) - len(rest)
    while missing > 0:
        missing -= len(sock.recv(missing))
    return int(status_line.split()[1]), headers


def test_a_keep_alive_client_with_whole_bodies_keeps_its_connection(served: Served) -> None:
    """Three requests on one connection, the bodies whole: each answered, none closed."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    with connect(served) as sock:
        sock.sendall(head("POST", "/unsubscribe", {**form, "Content-Length": "8"})
                     + b"t=nobody")
        first = _one_answer(sock)
        sock.sendall(head("POST", "/manage/forget", {**form, "Transfer-Encoding": "chunked"})
                     + b"11\r\nt=nobody&sure=yes\r\n0\r\n\r\n")
        second = _one_answer(sock)
        sock.sendall(head("GET", "/health"))
        third = _one_answer(sock)
    assert [first[0], second[0], third[0]] == [400, 400, 200]
    assert all("connection" not in headers for _, headers in (first, second, third))
    no_traceback(served)


def test_without_the_application_s_guard_the_server_still_drops_an_unfinished_body(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The backstop (newsletter/web/server.py), behind an application that answers without
    reading the body and keeps the connection: the protocol ``serve`` runs closes it at
    BODY_DEADLINE (shortened here), while a request without a body is kept alive."""
    monkeypatch.setattr(server, "BODY_DEADLINE", 1.0)

    async def hello(_request: Request) -> Response:
        return PlainTextResponse("hello")

    port = free_port()
    running = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/", hello)]),
                                            host="127.0.0.1", port=port, log_level="warning",
                                            http=server.RequestInTime))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if running.started:
                break
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as kept, \
                socket.create_connection(("127.0.0.1", port), timeout=10) as attacker:
            kept.sendall(head("GET", "/"))
            attacker.sendall(_started_body("GET", "/", chunked=False))
            assert _one_answer(kept)[0] == 200 and _one_answer(attacker)[0] == 200
            attacker.send(b"e")  # uvicorn's keep-alive timer stops here
            deadline = time.monotonic() + 10  # the deadline, 1 s, and ample margin
            while not _gone(attacker) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _gone(attacker)
            kept.sendall(head("GET", "/"))  # within uvicorn's 5 s keep-alive
            assert _one_answer(kept)[0] == 200
    finally:
        running.should_exit = True
        thread.join(10)


def test_only_an_answer_to_a_body_left_unread_closes_its_connection(
        project_dir: Path, engine: Engine) -> None:
    """forms.UnreadBodyCloses, seen from inside: the guard that holds under any server."""
    from starlette.testclient import TestClient  # (its import warns of httpx)

    client = TestClient(create_app(project_dir / "newsletter.yaml", service_env(engine)))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    unread = [client.request("GET", "/health", content=b"x"),
              client.request("HEAD", "/c/x", content=b"x"),
              client.post("/health", content=b"x"),  # 405
              client.post("/nope", content=b"x"),  # 404
              client.post("/subscribe", content=b"email=" + b"a" * MiB, headers=form)]
    assert [answer.headers.get("connection") for answer in unread] == ["close"] * 5
    read = [client.get("/health"), client.request("GET", "/health", content=b""),
            client.post("/manage/forget", content=b"t=nobody&sure=yes", headers=form),
            client.post("/unsubscribe", content=b"t=nobody", headers=form)]
    assert [answer.headers.get("connection") for answer in read] == [None] * 4


def test_an_unknown_webhook_name_is_not_repeated_back(served: Served) -> None:
    for name, said in (("%3Cscript%3Ealert(1)", "<script>"), ("x" * 2000, "x" * 2000),
                       ("%E2%80%AEevil", "evil")):
        answered = httpx.post(f"{served.url}/webhooks/{name}", content=b"{}")
        assert answered.status_code == 404
        assert answered.text == "no webhook is set up by that name" and said not in answered.text


# -- memory made per address ---------------------------------------------------------------

def _click_from(served: Served, path: str, addresses: list[str]) -> list[int]:
    """GET ``path`` once from each address (as ``X-Forwarded-For`` from loopback, which
    uvicorn trusts: a reverse proxy's part), 64 requests at a time on one kept
    connection; the statuses."""
    statuses: list[int] = []
    with connect(served, timeout=30) as sock:
        for start in range(0, len(addresses), 64):
            batch = addresses[start:start + 64]
            sock.sendall(b"".join(head("GET", path, {
                "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0",
                "X-Forwarded-For": address}) for address in batch))
            data = b""
            while data.count(b"\r\n\r\n") < len(batch):  # a redirect has no body
                chunk = sock.recv(1 << 16)
                assert chunk, "the server closed the connection"
                data += chunk
            statuses += [int(line.split()[1]) for line in data.split(b"\r\n")
                         if line.startswith(b"HTTP/1.1 ")]
    return statuses


@ONE_DATABASE
def test_thousands_of_addresses_on_one_long_link_leave_the_memory_near_idle(
        served: Served) -> None:
    url = "https://news.example/story?" + "q" * 1973  # 2,000 characters, the longest
    path = "/c/" + clicks.make(clicks.key(SECRET.encode()), dt.date(2024, 7, 23), url)
    many = 20_000  # IPv6 /64s: an attacker has them by the hundred thousand
    warm = [f"192.0.2.{n}" for n in range(250)]  # the route's first uses, and the tally's
    assert _click_from(served, path, warm) == [302] * len(warm)
    idle = served.rss_kib()
    addresses = [f"2001:db8:{n >> 16:x}:{n & 0xffff:x}::1" for n in range(many)]
    assert _click_from(served, path, addresses) == [302] * many
    grown = served.rss_kib() - idle
    # A copy of the URL per address is 2 KB each, 40 MB here: it grew 59 MiB when the
    # counting kept one. Its entries, and the clicks held to be counted, take about 13 MiB.
    assert grown < 32 * 1024, f"RSS grew by {grown // 1024} MiB"
    assert httpx.get(served.url + "/health").status_code == 200
    no_traceback(served)
