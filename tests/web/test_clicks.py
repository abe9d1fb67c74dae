"""Clicks through a real ``newsletter serve``: an issue sent by the outbox carries click
links; each redirects (302) to its story, and is counted per story, people apart from
machines (HEAD, robots' User-Agents, a scanner opening every link at once); nothing a
stranger makes redirects anywhere; the database being away loses no redirect."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import subprocess
import sys
from pathlib import Path

import httpx
import lxml.html
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, create_engine, text

from newsletter import clicks
from newsletter.api import Newsletter
from newsletter.config import Environment
from newsletter.errors import BadLink
from newsletter.store.vocabulary import Detail, Kind
from newsletter.web import clicks as clicks_web
from tests.conftest import TOOL_ENV
from tests.web.served import newsletter_serve, with_service_url
from tests.web.server import SECRET

DAY = "2024-07-23"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _send(project_dir: Path, engine: Engine) -> list[str]:
    """Send the issue to one reader through the outbox; the click links of the email."""
    env = {k: v for k, v in os.environ.items() if k not in TOOL_ENV}
    env.update(NEWSLETTER_SECRET=SECRET,
               DATABASE_URL=engine.url.render_as_string(hide_password=False))
    tool = str(Path(sys.executable).with_name("newsletter"))
    for args in (["subscribers", "add", "ann@example.org"], ["send", DAY]):
        done = subprocess.run([tool, *args], cwd=project_dir, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    (sent,) = (project_dir / "outbox" / DAY).iterdir()
    message = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    links = lxml.html.document_fromstring(html).xpath("//a/@href")
    return list(dict.fromkeys(link for link in links if "/c/" in link))


def _newsletter(project_dir: Path, engine: Engine) -> Newsletter:
    return Newsletter(project_dir / "newsletter.yaml", env=Environment.from_environ(
        {"DATABASE_URL": engine.url.render_as_string(hide_password=False)}))


def _counts(project_dir: Path, engine: Engine) -> list[tuple[str, int, int]]:
    figures = _newsletter(project_dir, engine).stats(DAY)
    return [(s.headline, s.people, s.machines) for s in figures.stories]


def test_a_click_redirects_to_its_story_and_is_counted(project_dir: Path, engine: Engine
                                                       ) -> None:
    with newsletter_serve(project_dir, engine, ec.generate_private_key(ec.SECP256R1())) as up:
        links = _send(project_dir, engine)
        assert len(links) >= 3 and all(link.startswith(up.url + "/c/") for link in links)
        story = _newsletter(project_dir, engine).stats(DAY).stories
        answer = httpx.get(links[0], headers={"User-Agent": BROWSER})
        assert answer.status_code == 302
        assert answer.headers["location"].startswith(story[0].url)
        assert "utm_" in answer.headers["location"] or story[0].url == \
            answer.headers["location"]
        assert answer.headers["cache-control"] == "no-store"
        for _ in range(20):  # the same reader again and again: counted once
            httpx.get(links[0], headers={"User-Agent": BROWSER})
        httpx.head(links[1], headers={"User-Agent": BROWSER})  # a machine's look
        httpx.get(links[1], headers={"User-Agent": "Mozilla/5.0 (compatible; bingbot/2.0)"})
        up.process.terminate()  # the counts held in memory are written as it stops
        up.process.wait(30)
    counted = _counts(project_dir, engine)
    assert counted[0][1:] == (1, 0)
    people, machines = counted[1][1:] if counted[1][0] != counted[0][0] else (0, 0)
    # HEAD, then a robot, from one client: a machine's, and the same link once an hour.
    assert (people, machines) == (0, 1)


def test_a_scanner_opening_every_link_is_a_machine(project_dir: Path, engine: Engine) -> None:
    with newsletter_serve(project_dir, engine, ec.generate_private_key(ec.SECP256R1())) as up:
        links = _send(project_dir, engine)
        for link in links:  # within a second, with a browser's User-Agent
            assert httpx.get(link, headers={"User-Agent": BROWSER}).status_code == 302
        up.process.terminate()
        up.process.wait(30)
    counted = _counts(project_dir, engine)
    assert sum(people for _, people, _ in counted) == 0
    assert sum(machines for _, _, machines in counted) >= len(counted)


def test_nothing_a_stranger_makes_redirects(project_dir: Path, engine: Engine) -> None:
    with newsletter_serve(project_dir, engine, ec.generate_private_key(ec.SECP256R1())) as up:
        links = _send(project_dir, engine)
        token = links[0].rsplit("/c/", 1)[1]
        ours = clicks.key(SECRET.encode())
        theirs = clicks.key(b"another publication's secret, long enough")
        day = dt.date(2024, 7, 23)
        forged = [
            clicks.make(theirs, day, "https://evil.example/"),  # another key
            token + "A", token[:-1], token.upper(), token.replace(".", ".."),
            token.split(".")[0] + "." + clicks.make(ours, day, "https://evil.example/")
            .split(".")[1],  # our signature of another URL
            "x" * 9000, "%2e%2e%2f", ".", "",
        ]
        # Every single-character change of a real token.
        for n in range(0, len(token), 7):
            for other in "A_-.":
                if token[n] != other:
                    forged.append(token[:n] + other + token[n + 1:])
        for bad in forged:
            answer = httpx.get(f"{up.url}/c/{bad}")
            assert answer.status_code == 404, bad
            assert "location" not in answer.headers
        # A reader who followed one gets the page of every broken link of ours.
        answer = httpx.get(f"{up.url}/c/{token[:-1]}")
        assert answer.headers["content-type"].startswith("text/html")
        assert "<h1>This link does not work</h1>" in answer.text
        # A token for an http(s) URL only: the maker refuses anything else.
        for scheme in ("javascript:alert(1)", "data:text/html,x", "//evil.example/"):
            with pytest.raises(ValueError):
                clicks.make(ours, day, scheme)


def test_a_click_lands_while_the_database_is_away(project_dir: Path, engine: Engine) -> None:
    # The counts' table gone from under the running service: the redirect does not wait
    # for the database, and the count is written once the table is back.
    with newsletter_serve(project_dir, engine, ec.generate_private_key(ec.SECP256R1())) as up:
        links = _send(project_dir, engine)
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE event_counts RENAME TO event_counts_away"))
        try:
            answer = httpx.get(links[0], headers={"User-Agent": BROWSER})
            assert answer.status_code == 302
        finally:
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE event_counts_away RENAME TO event_counts"))
        up.process.terminate()
        up.process.wait(30)
    assert _counts(project_dir, engine)[0][1] == 1


def test_counts_wait_in_memory_for_the_database(engine: Engine) -> None:
    now = [0.0]
    away = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                         connect_args={"connect_timeout": 2})
    tally = clicks_web.Tally(away, clock=lambda: now[0])
    tally.add(DAY, "https://a.example/1", "client-a", machine=False)
    tally.add(DAY, "https://a.example/1", "client-b", machine=True)
    assert tally.flush() == 0  # held: too recent to count
    now[0] = clicks_web.HOLD + 1
    assert tally.flush() == 0 and len(tally.waiting) == 2  # the database is away: kept
    tally.engine = engine
    assert tally.flush() == 2 and not tally.waiting
    with engine.connect() as conn:
        rows = sorted(conn.execute(text(
            "SELECT detail, count FROM event_counts WHERE kind = 'clicked'")).all())
    assert rows == [("machine", 1), ("person", 1)]


def test_a_link_opened_again_by_its_client_counts_once_an_hour(engine: Engine) -> None:
    now = [0.0]
    tally = clicks_web.Tally(engine, clock=lambda: now[0])
    for _ in range(1000):
        tally.add(DAY, "https://a.example/1", "client-a", machine=False)
    tally.add(DAY, "https://a.example/1", "client-b", machine=False)  # another reader
    now[0] = clicks_web.REPEAT_SECONDS + 1
    tally.add(DAY, "https://a.example/1", "client-a", machine=False)  # an hour on
    assert [e.detail for e in tally.due(everything=True)] == [Detail.PERSON] * 3


def test_a_burst_makes_a_client_a_machine_back_to_its_first_click(engine: Engine) -> None:
    now = [0.0]
    tally = clicks_web.Tally(engine, clock=lambda: now[0])
    for n in range(clicks_web.BURST):
        tally.add(DAY, f"https://a.example/{n}", "scanner", machine=False)
        now[0] += 0.5
    tally.add(DAY, "https://a.example/0", "reader", machine=False)
    now[0] += clicks_web.BURST_SECONDS + 1  # a reader who clicks slowly is a person
    tally.add(DAY, "https://a.example/1", "reader", machine=False)
    now[0] += clicks_web.BURST_SECONDS + 1
    tally.add(DAY, "https://a.example/2", "reader", machine=False)
    found = tally.due(everything=True)
    by_client = [(e.url, e.detail) for e in found]
    assert by_client[:clicks_web.BURST] == [(f"https://a.example/{n}", Detail.MACHINE)
                                            for n in range(clicks_web.BURST)]
    assert [d for _, d in by_client[clicks_web.BURST:]] == [Detail.PERSON] * 3


@pytest.mark.parametrize("agent", ["", "curl/8.5.0", "python-httpx/0.28",
                                   "Mozilla/5.0 (compatible; Googlebot/2.1)",
                                   "Barracuda Sentinel (EE)", "Slackbot-LinkExpanding 1.0"])
def test_robots_say_so_in_their_user_agent(agent: str) -> None:
    assert clicks_web.machine_agent(agent)
    assert not clicks_web.machine_agent(BROWSER)


def test_click_tokens_have_one_spelling() -> None:
    key = clicks.key(b"k" * 32)
    token = clicks.make(key, dt.date(2024, 7, 23), "https://a.example/story?x=1")
    read = clicks.read(key, token)
    assert (read.issue, read.url) == (dt.date(2024, 7, 23), "https://a.example/story?x=1")
    for bad in (token + "=", token + "A", "=" + token, token.replace(".", ". ")):
        with pytest.raises(BadLink):
            clicks.read(key, bad)
    with pytest.raises(BadLink):  # a reader link's key signs no click
        clicks.read(b"k" * 32, token)


def _pixels(project_dir: Path) -> list[str]:
    (sent,) = (project_dir / "outbox" / DAY).iterdir()
    message = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return lxml.html.document_fromstring(html).xpath(
        "//img[@width='1' and @height='1']/@src")


def test_the_open_pixel_is_an_image_and_counts_an_open_once(project_dir: Path,
                                                            engine: Engine) -> None:
    settings = project_dir / "newsletter.yaml"
    settings.write_text(settings.read_text() + "open_pixel: true\n")
    with newsletter_serve(project_dir, engine, ec.generate_private_key(ec.SECP256R1())) as up:
        links = _send(project_dir, engine)
        [pixel] = _pixels(project_dir)
        assert pixel.startswith(up.url + "/o/")
        for _ in range(5):  # the reader opens the email again and again: one open
            answer = httpx.get(pixel, headers={"User-Agent": BROWSER})
            assert answer.status_code == 200 and answer.content == clicks_web.PIXEL
            assert answer.headers["content-type"] == "image/gif"
            assert answer.headers["cache-control"] == "no-store"
        token = pixel.rsplit("/o/", 1)[1]
        # The two kinds of token do not stand in for each other, and a forged one
        # counts nothing.
        assert httpx.get(f"{up.url}/c/{token}").status_code == 404
        assert httpx.get(f"{up.url}/o/{links[0].rsplit('/c/', 1)[1]}").status_code == 404
        assert httpx.get(f"{up.url}/o/{token[:-1]}A").status_code == 404
        up.process.terminate()
        up.process.wait(30)
    figures = _newsletter(project_dir, engine).stats(DAY)
    assert figures.counts.events.get("opened") == {"person": 1}
    assert figures.count(Kind.CLICKED) == 0


def test_no_pixel_unless_asked_for(project_dir: Path, engine: Engine) -> None:
    with newsletter_serve(project_dir, engine, ec.generate_private_key(ec.SECP256R1())):
        _send(project_dir, engine)
    assert _pixels(project_dir) == []


def test_the_archive_and_the_preview_carry_no_pixel(project_dir: Path) -> None:
    from newsletter.email.render import without_open_pixel
    from newsletter.project import Project

    settings = project_dir / "newsletter.yaml"
    with_service_url(project_dir, 443)
    settings.write_text(settings.read_text().replace("http://127.0.0.1:443",
                                                     "https://readers.example.org")
                        + "open_pixel: true\n")
    rendered = Project(settings).render(project_dir / "issues" / f"{DAY}.yaml")
    assert rendered.email.html.count('src="https://readers.example.org/o/') == 1
    page = without_open_pixel(rendered.email.html)
    assert "/o/" not in page and page.count("<img") == rendered.email.html.count("<img") - 1
    from tests.helpers import run

    assert run("archive", "--out", "site")[0] == 0
    assert "/o/" not in (project_dir / "site" / DAY / "index.html").read_text()


def test_an_open_is_a_machines_from_a_scanner_a_robot_or_apple(engine: Engine) -> None:
    from starlette.requests import Request

    now = [0.0]
    tally = clicks_web.Tally(engine, clock=lambda: now[0])
    key = clicks.key(b"k" * 32)
    token = clicks.make_open(key, dt.date(2024, 7, 23))

    def visit(host: str, agent: str = BROWSER, method: str = "GET") -> int:
        scope = {"type": "http", "method": method, "path": f"/o/{token}",
                 "path_params": {"token": token}, "client": (host, 5000),
                 "headers": [(b"user-agent", agent.encode())], "query_string": b""}
        return clicks_web.opened(Request(scope), key, tally).status_code

    assert visit("192.0.2.1") == 200  # a reader
    assert visit("17.58.1.2") == 200  # Apple's proxy, as the message arrives
    assert visit("192.0.2.2", agent="Mozilla/5.0 (compatible; bingbot/2.0)") == 200
    assert visit("192.0.2.3", method="HEAD") == 200
    # A reader who opens the email, then two stories at once, is no scanner...
    tally.add(DAY, "https://a.example/1", clients_bucket("192.0.2.1"), machine=False)
    tally.add(DAY, "https://a.example/2", clients_bucket("192.0.2.1"), machine=False)
    # ...but a client that opened every link is, and its open with them.
    for n in range(clicks_web.BURST):
        tally.add(DAY, f"https://a.example/{n}", clients_bucket("192.0.2.9"), machine=False)
    assert visit("192.0.2.9") == 200
    found = [(e.kind, e.detail) for e in tally.due(everything=True) if e.kind is Kind.OPENED]
    assert found == [(Kind.OPENED, Detail.PERSON)] + [(Kind.OPENED, Detail.MACHINE)] * 4
    clicked = [e.detail for e in tally.due(everything=True)]
    assert clicked == []  # all taken by the first call
    assert clicks.read(key, token).opened and not clicks.read(
        key, clicks.make(key, dt.date(2024, 7, 23), "https://a.example/")).opened


def clients_bucket(host: str) -> str:
    from newsletter.web import clients

    return clients.bucket(host)


def _long_url(n: int, length: int = 2000) -> str:
    """A URL of ``length`` characters, a new string at each call (as each token read)."""
    start = f"https://a.example/{n}?"
    return start + "".join(["q"] * (length - len(start)))


def _tally(now: list[float]) -> clicks_web.Tally:
    """A tally on a clock of the test's; its database is never reached (no flush)."""
    return clicks_web.Tally(create_engine("sqlite://"), clock=lambda: now[0])


def test_a_repeat_from_among_many_clients_is_still_not_counted() -> None:
    now = [0.0]
    tally = _tally(now)
    tally.add(DAY, _long_url(1), "client-a", machine=False)
    for n in range(5000):  # many others between the two clicks of client-a
        tally.add(DAY, _long_url(1), f"2001:db8:{n:x}::/64", machine=False)
        now[0] += 0.01
    tally.add(DAY, _long_url(1), "client-a", machine=False)  # within the hour: not again
    tally.add(DAY, _long_url(1), "client-a", machine=False, reader="kim")  # one named
    tally.add(DAY, _long_url(2), "client-a", machine=False)  # another link
    tally.add("2024-07-24", _long_url(1), "client-a", machine=False)  # another issue
    assert len(tally.due(everything=True)) == 1 + 5000 + 3


def test_repeats_and_bursts_are_forgotten_when_too_old_or_too_many(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    tally = _tally(now)
    for n in range(100):
        tally.add(DAY, "https://a.example/1", f"client-{n}", machine=False)
    assert len(tally.opened) == 100 and len(tally.bursts) == 100
    now[0] = clicks_web.REPEAT_SECONDS  # an hour on, the next click clears what is older
    tally.add(DAY, "https://a.example/1", "client-0", machine=False)  # counted again
    assert len(tally.opened) == 1 and len(tally.bursts) == 1
    monkeypatch.setattr(clicks_web, "MAX_REPEATS", 10)
    monkeypatch.setattr(clicks_web, "MAX_CLIENTS", 5)
    for n in range(100):
        tally.add(DAY, "https://a.example/1", f"other-{n}", machine=False)
    assert len(tally.opened) == 10 and len(tally.bursts) == 5
    assert len(tally.due(everything=True)) == 100 + 1 + 100


def test_a_scanner_among_many_clients_is_still_a_machine_in_its_issue_only() -> None:
    now = [0.0]
    tally = _tally(now)
    for n in range(clicks_web.BURST):
        tally.add(DAY, _long_url(n), "scanner", machine=False)
        for other in range(1000):  # others' clicks come in between
            tally.add(DAY, _long_url(n), f"192.0.{n}.{other}", machine=False)
    tally.add("2024-07-24", _long_url(0), "scanner", machine=False)  # another issue
    found = [(e.issue, e.detail) for e in tally.due(everything=True)]
    assert found.count((DAY, Detail.MACHINE)) == clicks_web.BURST
    assert found.count(("2024-07-24", Detail.PERSON)) == 1
    assert len(found) == clicks_web.BURST * 1001 + 1


def _held_bytes(url_length: int, clients: int) -> int:
    """The memory a tally holds after ``clients`` clients clicked one link whose URL has
    ``url_length`` characters (each click reading its own copy, as from its token)."""
    import tracemalloc

    tally = _tally([0.0])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(clients):
            tally.add(DAY, _long_url(1, url_length), f"2001:db8:{n:x}::/64", machine=False)
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_what_a_client_costs_the_tally_does_not_grow_with_the_url() -> None:
    # A client a hundred thousand addresses strong must not make the service hold a copy
    # of a long URL per address: the same clients cost about the same whatever its length.
    clients = 5000
    short, long = _held_bytes(30, clients), _held_bytes(2000, clients)
    assert (long - short) / clients < 100, (short / clients, long / clients)
    assert long / clients < 1000  # and the entries stay small (about 500 bytes)
