"""``tracking: individual`` through a real ``newsletter serve``: each reader's links and
open pixel name them (``?r=``, signed), the click is kept for that reader as well as
counted, and nothing else passes for a reader's part: another reader's is that reader's,
an unsubscribe or manage token, a changed byte, another publication's or a huge value
counts the click in aggregate only, and the reader still lands on the story. At
``aggregate`` nothing is kept per reader, whatever the link carries."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import lxml.html
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, func, select

from newsletter import tokens
from newsletter.store import activity
from newsletter.store import subscribers as store
from newsletter.store.db import reader_activity
from tests.conftest import TOOL_ENV
from tests.web.served import newsletter_serve
from tests.web.server import SECRET
from tests.web.test_clicks import BROWSER, DAY, _newsletter

READERS = ("ann@example.org", "bob@example.org")


def _level(project_dir: Path, level: str) -> None:
    path = project_dir / "newsletter.yaml"
    settings = yaml.safe_load(path.read_text())
    settings.update(tracking=level, open_pixel=True)
    path.write_text(yaml.safe_dump(settings, allow_unicode=True))


def _send(project_dir: Path, engine: Engine) -> dict[str, lxml.html.HtmlElement]:
    """Send the issue to Ann and Bob through the outbox; each one's HTML, by address."""
    env = {k: v for k, v in os.environ.items() if k not in TOOL_ENV}
    env.update(NEWSLETTER_SECRET=SECRET,
               DATABASE_URL=engine.url.render_as_string(hide_password=False))
    tool = str(Path(sys.executable).with_name("newsletter"))
    for args in (*(["subscribers", "add", a] for a in READERS), ["send", DAY]):
        done = subprocess.run([tool, *args], cwd=project_dir, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    found = {}
    for sent in (project_dir / "outbox" / DAY).iterdir():
        message = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        found[email.utils.parseaddr(message["To"])[1]] = lxml.html.document_fromstring(html)
    assert sorted(found) == sorted(READERS)
    return found


def _clicks(page: lxml.html.HtmlElement) -> list[str]:
    return list(dict.fromkeys(a for a in page.xpath("//a/@href") if "/c/" in a))


def _pixel(page: lxml.html.HtmlElement) -> str:
    [src] = page.xpath("//img[@width='1' and @height='1']/@src")
    return str(src)


def _param(url: str, name: str) -> str:
    return parse_qs(urlsplit(url).query)[name][0]


def _link_with(page: lxml.html.HtmlElement, path: str) -> str:
    return next(a for a in page.xpath("//a/@href") if f"/{path}?" in a)


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(reader_activity)).scalar_one())


def test_each_reader_s_clicks_and_opens_are_kept_for_them_alone(project_dir: Path,
                                                                engine: Engine) -> None:
    _level(project_dir, "individual")
    with newsletter_serve(project_dir, engine, ec.generate_private_key(ec.SECP256R1())) as up:
        pages = _send(project_dir, engine)
        ann, bob = (_clicks(pages[a]) for a in READERS)
        ann_part, bob_part = _param(ann[0], "r"), _param(bob[0], "r")
        assert ann_part != bob_part and all(_param(link, "r") == ann_part for link in ann)
        assert _param(_pixel(pages[READERS[0]]), "r") == ann_part
        story = ann[0].split("?")[0]
        assert story == bob[0].split("?")[0]  # the same story's link, but for the reader
        answer = httpx.get(ann[0], headers={"User-Agent": BROWSER})
        assert answer.status_code == 302
        landing = answer.headers["location"]
        assert httpx.get(_pixel(pages[READERS[0]]),
                         headers={"User-Agent": BROWSER}).status_code == 200
        # Whatever stands as the reader part of a real link, the reader lands on the story.
        other = tokens.make(b"another publication's secret, long enough", "reader",
                            "ab" * 16)
        leave = _param(_link_with(pages[READERS[0]], "unsubscribe"), "t")
        manage = _param(_link_with(pages[READERS[0]], "manage"), "t")
        changed = ann_part[:-3] + ("A" if ann_part[-3] != "A" else "B") + ann_part[-2:]
        for bad in (leave, manage, changed, ann_part + "A", other, "x" * 20_000, "",
                    "v4..", ann_part.replace("v4.", "v3.")):
            answer = httpx.get(story, params={"r": bad}, headers={"User-Agent": BROWSER})
            assert (answer.status_code, answer.headers["location"]) == (302, landing), bad
        # A reader part never makes a link of a changed click token go anywhere.
        token = story.rsplit("/c/", 1)[1]
        assert httpx.get(f"{up.url}/c/{token[:-1]}A", params={"r": ann_part}).status_code == 404
        # Bob's part is Bob's, on whichever link it travels.
        assert httpx.get(story, params={"r": bob_part},
                         headers={"User-Agent": BROWSER}).status_code == 302
        up.process.terminate()  # what the tally holds is written as it stops
        up.process.wait(30)
    ids = {r.email: r.id for r in store.listing(engine)}
    mine = activity.of_reader(engine, ids[READERS[0]])
    assert sorted((r["kind"], r["detail"], r["url"]) for r in mine) == [
        ("clicked", "person", landing), ("opened", "person", None)]
    assert [(r["kind"], r["url"]) for r in activity.of_reader(engine, ids[READERS[1]])] == [
        ("clicked", landing)]
    assert _rows(engine) == 3  # none for any forged or foreign part
    assert activity.unique(engine, [DAY]) == {DAY: {"opened": 1, "clicked": 2}}
    # Counted all the same: Ann, Bob, and the forged parts as one client's unnamed click.
    stories = _newsletter(project_dir, engine).stats(DAY).stories
    assert [s.people for s in stories if landing.startswith(s.url)] == [3]


def test_at_aggregate_no_link_names_a_reader_and_nothing_is_kept(project_dir: Path,
                                                                 engine: Engine) -> None:
    _level(project_dir, "aggregate")
    with newsletter_serve(project_dir, engine, ec.generate_private_key(ec.SECP256R1())) as up:
        pages = _send(project_dir, engine)
        for page in pages.values():
            html = lxml.html.tostring(page, encoding="unicode")
            assert "?r=" not in html and "%%" not in html
        links = _clicks(pages[READERS[0]])
        ann = store.find(engine, READERS[0])
        assert ann is not None
        real = tokens.make(SECRET.encode(), "reader", ann.link_key)  # a valid part, even
        for link in links[:2]:
            assert httpx.get(link, params={"r": real},
                             headers={"User-Agent": BROWSER}).status_code == 302
        assert httpx.get(_pixel(pages[READERS[0]]), params={"r": real},
                         headers={"User-Agent": BROWSER}).status_code == 200
        assert up.url
        up.process.terminate()
        up.process.wait(30)
    assert _rows(engine) == 0 and activity.unique(engine, [DAY]) == {}
    figures = _newsletter(project_dir, engine).stats(DAY)
    assert sum(s.people for s in figures.stories) == 2  # counted, as ever


def rendered_publication(project_dir: Path):  # type: ignore[no-untyped-def]
    from newsletter.content import settings

    return settings.load(project_dir / "newsletter.yaml")


def test_the_archive_and_the_preview_name_no_reader_and_carry_no_pixel(project_dir: Path) -> None:
    from newsletter.email.render import without_open_pixel
    from newsletter.project import Project
    from tests.helpers import run
    from tests.web.served import with_service_url

    with_service_url(project_dir, 443)
    _level(project_dir, "individual")
    rendered = Project(project_dir / "newsletter.yaml").render(
        project_dir / "issues" / f"{DAY}.yaml")
    assert rendered.email.html.count("?r=%%reader%%") >= 4  # the links and the pixel
    assert "/o/" not in without_open_pixel(rendered.email.html)
    assert run("archive", "--out", "site")[0] == 0
    page = (project_dir / "site" / DAY / "index.html").read_text()
    assert "/c/" in page and "?r=" not in page and "%%" not in page and "/o/" not in page
    from newsletter.site.preview import as_read

    read = as_read(rendered, rendered_publication(project_dir)).email
    for shown in (without_open_pixel(read.html), read.text):  # what the preview shows
        assert "/c/" in shown and "?r=" not in shown and "%%" not in shown


def test_the_manage_page_and_the_download_say_what_is_kept(project_dir: Path,
                                                           engine: Engine) -> None:
    import datetime as dt
    import json

    from newsletter.store import events
    from newsletter.store.vocabulary import Detail, Event, Kind
    from newsletter.web.app import create_app
    from tests.web.conftest import service_env
    from tests.web.server import serving

    ann = store.add(engine, READERS[0])
    at = dt.datetime(2024, 7, 23, 7, 0, tzinfo=dt.UTC)
    events.record(engine, [Event("e1", Kind.CLICKED, READERS[0], DAY, at, Detail.PERSON,
                                 url="https://example.org/story")], individual=True)
    manage = tokens.make_pair(SECRET.encode(), ann.link_key)[1]
    said = {"off": "Opens and clicks are not counted.",
            "aggregate": "Opens and clicks are counted for each issue and story, never for you.",
            "individual": "as you agreed, which issues you opened and which links you clicked"}
    for level, sentence in said.items():
        _level(project_dir, level)
        with serving(create_app(project_dir / "newsletter.yaml", service_env(engine))) as url:
            page = httpx.get(f"{url}/manage", params={"t": manage}).text
            assert " ".join(page.split()).count(sentence) == 1
            assert all(said[other] not in " ".join(page.split()) for other in said
                       if other != level)
            data = json.loads(httpx.post(f"{url}/manage/data", data={"t": manage}).text)
            assert data["opens_and_clicks"].startswith(
                {"off": "not counted", "aggregate": "counted for each issue",
                 "individual": "kept for you"}[level])
            # Kept at the individual level, listed at any (a level changed since).
            assert data["opened_and_clicked"] == [
                {"issue": DAY, "kind": "clicked", "detail": "person",
                 "url": "https://example.org/story", "when": at.isoformat()}]
            assert READERS[0] not in json.dumps(data["opened_and_clicked"])
            if level != "individual":
                continue
            done = httpx.post(f"{url}/manage/forget", data={"t": manage, "sure": "yes"})
            assert done.status_code == 200
    assert _rows(engine) == 0 and store.find(engine, READERS[0]) is None


def test_a_reader_with_nothing_kept_is_told_so_in_the_download(project_dir: Path,
                                                               engine: Engine) -> None:
    import json

    from newsletter.web.app import create_app
    from tests.web.conftest import service_env
    from tests.web.server import serving

    ann = store.add(engine, READERS[0])
    manage = tokens.make_pair(SECRET.encode(), ann.link_key)[1]
    for level, listed in (("aggregate", False), ("individual", True)):
        _level(project_dir, level)
        with serving(create_app(project_dir / "newsletter.yaml", service_env(engine))) as url:
            data = json.loads(httpx.post(f"{url}/manage/data", data={"t": manage}).text)
        assert ("opened_and_clicked" in data) is listed
        assert data.get("opened_and_clicked", []) == []
