"""The reader's side of the service, on a real server: subscribing with double opt-in,
confirming, the preferences page; the same answer whoever asks; the abuse limits."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email
import itertools
import json
import re
import threading
import time
from email import policy
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, event, select, update

from newsletter import tokens
from newsletter.delivery.providers.outbox.transport import file_name
from newsletter.errors import TransportRejected, TransportUnavailable
from newsletter.project import Project
from newsletter.store import consent, signups
from newsletter.store import subscribers as store
from newsletter.store.db import signups as signups_table
from newsletter.store.db import subscribers as subscribers_table
from newsletter.store.db import subscribers as table
from newsletter.web.app import create_app
from newsletter.web.mailer import Mailer
from tests.helpers import run_send
from tests.web.conftest import SERVICE_URL, service_env
from tests.web.server import SECRET, serving

KEY = SECRET.encode()


def notices(project_dir: Path) -> list[email.message.EmailMessage]:
    folder = project_dir / "outbox" / "notices"
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore[misc]
            for p in sorted(folder.glob("*.eml"))] if folder.is_dir() else []


def confirm_link(message: email.message.EmailMessage) -> str:
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(r"https?://\S+/confirm\?t=\S+", text)
    assert found, text
    return found.group(0)


def local(url: str, service: str) -> str:
    """A link from an email (under site_url) made to point at the test server."""
    return service + url[url.index("/", url.index("//") + 2):]


def row(engine: Engine, address: str):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(table).where(table.c.email_key == address.lower())).first()


def subscribe(service: str, address: str, **fields: str) -> httpx.Response:
    return httpx.post(f"{service}/subscribe", data={"email": address, **fields})


def wait_for(check, seconds: float = 10.0):  # type: ignore[no-untyped-def]
    """``check()`` once it is true (the mailer works on a beat of a second)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    pytest.fail(f"still not true after {seconds} s")


def settled(engine: Engine) -> bool:
    """Whether the mailer has handled every queued request."""
    with engine.connect() as conn:
        return not conn.execute(select(signups_table.c.id).where(
            signups_table.c.state.in_(("queued", "mailing")))).first()


def mailed_to(project_dir: Path, engine: Engine) -> list[str]:
    wait_for(lambda: settled(engine))
    return [m["To"] for m in notices(project_dir)]


def token_of(message: email.message.EmailMessage) -> str:
    return confirm_link(message).split("?t=")[1]


class _Fields(HTMLParser):
    """The inputs of a page's confirming form: name, value, and what marks them."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, dict[str, str | None]] = {}
        self.focused: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name"):
            self.inputs[str(found["name"])] = found
        if "autofocus" in found:
            self.focused.append(tag if tag == "button" else str(found.get("name")))


def fields_of(page: str) -> _Fields:
    parsed = _Fields()
    parsed.feed(page)
    return parsed


def client(network: str = "127.0.0.1") -> httpx.Client:
    """A client whose connections come from ``network`` (any 127/8 address is this
    machine's, so the server sees a different client for each)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=network))


def confirm_as_shown(service: str, token: str, network: str = "127.0.0.1",
                     **changes: str) -> httpx.Response:
    """What a browser does: open the confirm page, leave its fields as they are shown
    (or change some), press the button."""
    with client(network) as browser:
        page = browser.get(f"{service}/confirm", params={"t": token})
        shown = {name: attrs.get("value") or ""
                 for name, attrs in fields_of(page.text).inputs.items()}
        return browser.post(f"{service}/confirm", data={**shown, **changes})


def test_subscribe_then_confirm(service: str, engine: Engine, project_dir: Path) -> None:
    answer = subscribe(service, "ann@example.org", name="Ann", timezone="Europe/Paris")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert row(engine, "ann@example.org") is None  # nobody is on file until they confirm
    [message] = wait_for(lambda: notices(project_dir))
    # Nothing the requester typed but the address: no name in To: or in the words.
    assert message["To"] == "ann@example.org" and "Confirm" in message["Subject"]
    assert "Ann" not in message.as_string().replace("ann@", "")
    assert message["Auto-Submitted"] == "auto-generated"
    link = local(confirm_link(message), service)
    assert "ann" not in link.split("?t=")[1]  # the token names no address
    shown = httpx.get(link)  # a GET, as a mail scanner makes, changes nothing
    assert shown.status_code == 200 and "a*n@example.org" in shown.text
    # What confirming saves is on the page, in fields, with the button's focus.
    form = fields_of(shown.text)
    assert (form.inputs["name"]["value"], form.inputs["timezone"]["value"]) == \
        ("Ann", "Europe/Paris")
    assert form.focused == ["button"]
    assert row(engine, "ann@example.org") is None
    done = confirm_as_shown(service, link.split("?t=")[1])
    assert done.status_code == 200 and "You are subscribed" in done.text
    active = row(engine, "ann@example.org")
    assert (active.status, active.name, active.timezone) == ("active", "Ann", "Europe/Paris")
    assert active.confirmed_at is not None and active.opted_in_at is not None
    # What the server knows, not what the client said: its own form, the client's network.
    assert active.consent_source == f"form {SERVICE_URL}/subscribe"
    assert active.opt_in_ip == "127.0.0.1"
    again = httpx.post(f"{service}/confirm", data={"t": link.split("?t=")[1]})
    assert "already subscribed" in again.text  # a second press changes nothing


KINDS = ("new", "active", "unsubscribed", "bounced", "complained", "pending", "waiting")


def readers_of_every_kind(service: str, engine: Engine, project_dir: Path) -> None:
    """One address of each kind a stranger might probe."""
    for kind in ("active", "unsubscribed", "bounced", "complained", "pending"):
        store.add(engine, f"{kind}@example.org")
        if kind == "pending":  # a row of an earlier release: no writer makes it now
            with engine.begin() as conn:
                conn.execute(subscribers_table.update().where(
                    subscribers_table.c.email_key == "pending@example.org")
                    .values(status="pending"))
        elif kind != "active":
            store.set_status(engine, f"{kind}@example.org", kind)
    subscribe(service, "waiting@example.org")  # asked a moment ago, link on its way
    mailed_to(project_dir, engine)


def test_the_answer_is_the_same_for_every_kind_of_address(service: str, engine: Engine,
                                                          project_dir: Path) -> None:
    readers_of_every_kind(service, engine, project_dir)
    before = len(notices(project_dir))
    pages = {}
    for kind in KINDS:
        answer = subscribe(service, f"{kind}@example.org")
        assert answer.status_code == 200
        pages[kind] = answer.text.replace(f"{kind}@example.org", "ADDRESS")
    assert len(set(pages.values())) == 1
    sent = mailed_to(project_dir, engine)[before:]
    # The new reader, the one who left and the one still to confirm are asked to
    # confirm; the active one is not mailed, nor any address that bounced or complained,
    # and the waiting one had its email within the hour.
    assert sorted(sent) == ["new@example.org", "pending@example.org",
                            "unsubscribed@example.org"]
    assert row(engine, "unsubscribed@example.org").status == "unsubscribed"  # until confirmed
    assert row(engine, "new@example.org") is None


def test_the_answer_does_the_same_work_for_every_kind_of_address(
        service: str, engine: Engine, project_dir: Path) -> None:
    # The statements the answer runs, whatever the address: the same, none reading the
    # readers (so no difference in time can come from them).
    readers_of_every_kind(service, engine, project_dir)
    from starlette.testclient import TestClient

    app = create_app(project_dir / "newsletter.yaml", service_env(engine))
    statements: list[str] = []
    listen = app.state.service.engine
    event.listen(listen, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: statements.append(statement))
    client = TestClient(app)  # no lifespan: the mailer is not running here
    seen = {}
    for kind in KINDS:
        statements.clear()
        assert client.post("/subscribe", data={"email": f"{kind}@example.org"}
                           ).status_code == 200
        seen[kind] = tuple(statements)
        assert not any("subscribers" in s for s in statements), statements
    assert len(set(seen.values())) == 1


def test_a_strangers_words_change_no_reader(service: str, engine: Engine,
                                            project_dir: Path) -> None:
    store.add(engine, "kay@example.org", name="Kay", timezone="Europe/Oslo")
    store.set_status(engine, "kay@example.org", "unsubscribed")
    subscribe(service, "kay@example.org", name="Click http://evil.example/x to stop these",
              timezone="Asia/Tokyo")
    [message] = wait_for(lambda: notices(project_dir))
    assert "evil" not in message.as_string() and message["To"] == "kay@example.org"
    kept = row(engine, "kay@example.org")
    assert (kept.name, kept.timezone, kept.status) == ("Kay", "Europe/Oslo", "unsubscribed")


SCAM = "URGENT: your bank account is locked, call +1 555 0100"


def a_stranger_asks_first(service: str, engine: Engine, project_dir: Path,
                          address: str) -> str:
    """The tester's sequence: a stranger asks for ``address`` with his words, from
    127.0.0.4; its owner asks a second later from 127.0.0.5, which the hour's share
    drops; the one email's token, which carries the stranger's request."""
    with client("127.0.0.4") as stranger:
        stranger.post(f"{service}/subscribe", data={
            "email": address, "name": SCAM, "timezone": "Pacific/Kiritimati"})
    wait_for(lambda: notices(project_dir))
    with client("127.0.0.5") as owner:
        owner.post(f"{service}/subscribe", data={
            "email": address, "name": "Vera", "timezone": "Europe/Berlin"})
    wait_for(lambda: settled(engine))
    [message] = notices(project_dir)
    return token_of(message)


def issue_to(engine: Engine, project: Project, project_dir: Path, address: str) -> str:
    """The To: header of the next issue as sent to ``address``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEWSLETTER_SECRET", SECRET)
        run_send(engine, project, "outbox")
    [sent] = (project_dir / "outbox").glob(f"*/{file_name(address)}")
    return str(email.message_from_bytes(sent.read_bytes(), policy=policy.default)["To"])


def test_the_owner_sees_and_chooses_what_a_strangers_request_said(
        service: str, engine: Engine, project_dir: Path, project: Project) -> None:
    token = a_stranger_asks_first(service, engine, project_dir, "vera@example.org")
    with client("127.0.0.5") as owner:
        page = owner.get(f"{service}/confirm", params={"t": token})
        form = fields_of(page.text)
        # The stranger's words are shown to her, as fields she may change or clear.
        assert form.inputs["name"]["value"] == SCAM
        assert form.inputs["timezone"]["value"] == "Pacific/Kiritimati"
        assert form.focused == ["button"]  # still one click, or Enter
        done = owner.post(f"{service}/confirm", data={
            "t": token, "name": "Vera", "timezone": "Europe/Berlin"})
    assert done.status_code == 200 and "You are subscribed" in done.text
    vera = row(engine, "vera@example.org")
    assert (vera.status, vera.name, vera.timezone) == ("active", "Vera", "Europe/Berlin")
    assert vera.opt_in_ip == "127.0.0.5"  # her click is the consent, not his request
    assert issue_to(engine, project, project_dir, "vera@example.org") == \
        "Vera <vera@example.org>"


def test_cleared_fields_save_no_name_and_no_timezone(service: str, engine: Engine,
                                                     project_dir: Path, project: Project
                                                     ) -> None:
    token = a_stranger_asks_first(service, engine, project_dir, "vi@example.org")
    done = confirm_as_shown(service, token, "127.0.0.5", name=" ", timezone="")
    assert done.status_code == 200
    vi = row(engine, "vi@example.org")
    assert (vi.status, vi.name, vi.timezone, vi.opt_in_ip) == ("active", None, None,
                                                                "127.0.0.5")
    assert issue_to(engine, project, project_dir, "vi@example.org") == "vi@example.org"


def test_a_click_that_sent_no_fields_saves_nothing_it_did_not_show(
        service: str, engine: Engine, project_dir: Path, project: Project) -> None:
    # A page of the release before (only the token), or a script: the request's words
    # were never shown, so none are saved.
    token = a_stranger_asks_first(service, engine, project_dir, "vo@example.org")
    with client("127.0.0.5") as owner:
        assert owner.post(f"{service}/confirm", data={"t": token}).status_code == 200
    vo = row(engine, "vo@example.org")
    assert (vo.status, vo.name, vo.timezone, vo.opt_in_ip) == ("active", None, None,
                                                                "127.0.0.5")
    assert SCAM not in issue_to(engine, project, project_dir, "vo@example.org")


def test_a_reader_coming_back_keeps_their_own_words(service: str, engine: Engine,
                                                    project_dir: Path) -> None:
    store.add(engine, "kim@example.org", name="Kim", timezone="Europe/Oslo")
    store.set_status(engine, "kim@example.org", "unsubscribed")
    token = a_stranger_asks_first(service, engine, project_dir, "kim@example.org")
    with client("127.0.0.5") as owner:
        form = fields_of(owner.get(f"{service}/confirm", params={"t": token}).text)
        assert form.inputs["name"]["value"] == SCAM  # shown, so that she can undo it
        owner.post(f"{service}/confirm", data={"t": token})  # an old page: no fields
    kim = row(engine, "kim@example.org")
    assert (kim.status, kim.name, kim.timezone, kim.opt_in_ip) == (
        "active", "Kim", "Europe/Oslo", "127.0.0.5")
    # Asked without a name, the page offers what is on file.
    store.set_status(engine, "kim@example.org", "unsubscribed")
    with engine.begin() as conn:
        conn.execute(signups_table.update().values(
            mailed_at=signups_table.c.mailed_at - dt.timedelta(hours=2)))
    subscribe(service, "kim@example.org")
    wait_for(lambda: len(notices(project_dir)) == 2)
    again = token_of(notices(project_dir)[-1])
    form = fields_of(httpx.get(f"{service}/confirm", params={"t": again}).text)
    assert (form.inputs["name"]["value"], form.inputs["timezone"]["value"]) == \
        ("Kim", "Europe/Oslo")


@pytest.mark.parametrize(("field", "value"), [
    ("name", "x" * 201), ("timezone", "Mars/Olympus"), ("timezone", "localtime"),
    ("timezone", "posix/Europe/Berlin")])
def test_an_invalid_field_confirms_nothing_and_says_where(service: str, engine: Engine,
                                                          project_dir: Path, field: str,
                                                          value: str) -> None:
    subscribe(service, "wu@example.org", name="Wu")
    token = token_of(wait_for(lambda: notices(project_dir))[-1])
    answer = confirm_as_shown(service, token, **{field: value})
    assert answer.status_code == 400
    form = fields_of(answer.text)
    marked = form.inputs[field]
    assert marked["aria-invalid"] == "true"
    assert marked["aria-describedby"] == f"{field}-error"
    assert f'id="{field}-error"' in answer.text and form.focused == [field]
    assert form.inputs["name"]["value"] == ("Wu" if field != "name" else value)
    assert row(engine, "wu@example.org") is None
    assert confirm_as_shown(service, token, **{field: ""}).status_code == 200
    assert row(engine, "wu@example.org").status == "active"


def test_a_link_from_before_the_queue_shows_and_saves_the_same(service: str,
                                                               engine: Engine) -> None:
    from tests.helpers import asked_before_the_queue
    from tests.web.test_service import _legacy

    waiting = asked_before_the_queue(engine, "lee@example.org")
    with engine.begin() as conn:  # what an earlier release kept of the request
        conn.execute(table.update().where(table.c.id == waiting.id).values(
            name=SCAM, timezone="Asia/Tokyo"))
    token = _legacy(KEY, b"c", waiting.id, "v2")
    form = fields_of(httpx.get(f"{service}/confirm", params={"t": token}).text)
    assert form.inputs["name"]["value"] == SCAM
    done = confirm_as_shown(service, token, "127.0.0.6", name="Lee")
    assert done.status_code == 200 and "You are subscribed" in done.text
    lee = row(engine, "lee@example.org")
    assert (lee.status, lee.name, lee.timezone, lee.opt_in_ip) == (
        "active", "Lee", "Asia/Tokyo", "127.0.0.6")


def test_a_reader_who_left_comes_back_only_by_confirming(service: str, engine: Engine,
                                                         project_dir: Path) -> None:
    subscribe(service, "bo@example.org")
    old_token = token_of(wait_for(lambda: notices(project_dir))[-1])
    httpx.post(f"{service}/confirm", data={"t": old_token})
    reader = store.find(engine, "bo@example.org")
    assert reader is not None and reader.status == "active"
    leave = tokens.make_pair(KEY, reader.link_key)[0]
    httpx.post(f"{service}/unsubscribe", data={"t": leave})
    assert row(engine, "bo@example.org").status == "unsubscribed"
    # The old confirmation link does not bring them back, the same day: it is spent,
    # and they withdrew since.
    stale = httpx.post(f"{service}/confirm", data={"t": old_token})
    assert stale.status_code == 400 and "Nothing to confirm" in stale.text
    assert row(engine, "bo@example.org").status == "unsubscribed"
    # Asking again, once the hour's email is used, sends a new link; that one brings
    # them back, with new links: the ones made before they left act for them no more.
    with engine.begin() as conn:
        conn.execute(signups_table.update().values(
            mailed_at=signups_table.c.mailed_at - dt.timedelta(hours=2)))
    subscribe(service, "bo@example.org")
    wait_for(lambda: len(notices(project_dir)) == 2)
    assert row(engine, "bo@example.org").status == "unsubscribed"  # until they confirm
    fresh = token_of(notices(project_dir)[-1])
    assert httpx.post(f"{service}/confirm", data={"t": fresh}).status_code == 200
    back = store.find(engine, "bo@example.org")
    assert back is not None and back.status == "active" and back.link_key != reader.link_key
    old_manage = tokens.make_pair(KEY, reader.link_key)[1]
    assert "Nothing is stored about you" in httpx.get(f"{service}/manage",
                                                      params={"t": old_manage}).text


def test_an_erased_strangers_old_links_reach_nobody(service: str, engine: Engine,
                                                    project_dir: Path) -> None:
    # Seen on SQLite: a stranger subscribed, confirmed, erased himself, asked for a
    # victim's address, then used his own old links. None of them may act on the victim.
    subscribe(service, "mallory@example.org")
    confirm_token = token_of(wait_for(lambda: notices(project_dir))[-1])
    httpx.post(f"{service}/confirm", data={"t": confirm_token})
    mallory = store.find(engine, "mallory@example.org")
    assert mallory is not None
    leave, manage = tokens.make_pair(KEY, mallory.link_key)
    assert httpx.post(f"{service}/manage/forget", data={"t": manage, "sure": "yes"}
                      ).status_code == 200
    subscribe(service, "victim@example.org", name="Victim")
    wait_for(lambda: len(notices(project_dir)) == 2)
    for answer in (httpx.post(f"{service}/confirm", data={"t": confirm_token}),
                   httpx.get(f"{service}/confirm", params={"t": confirm_token})):
        assert answer.status_code == 400
    assert row(engine, "victim@example.org") is None  # not subscribed without their click
    httpx.post(f"{service}/confirm", data={"t": token_of(notices(project_dir)[-1])})
    victim = row(engine, "victim@example.org")
    assert victim.status == "active" and victim.id != mallory.id  # numbers never reused
    data = httpx.post(f"{service}/manage/data", data={"t": manage})
    assert "victim" not in data.text and data.status_code in (200, 400)
    httpx.post(f"{service}/unsubscribe", params={"t": leave},
               data={"List-Unsubscribe": "One-Click"})
    assert row(engine, "victim@example.org").status == "active"


@pytest.mark.parametrize("spoil", ["expired", "tampered", "wrong purpose", "development key",
                                   "garbage", "unknown key"])
def test_bad_confirmation_links_confirm_nothing(service: str, engine: Engine,
                                                project_dir: Path, spoil: str) -> None:
    subscribe(service, "cy@example.org")
    good = token_of(wait_for(lambda: notices(project_dir))[-1])
    key = signups.by_key(engine, tokens.read(KEY, good, "confirm").key or "")
    assert key is not None
    today = int(time.time()) // 86400
    token = {
        "expired": tokens.make(KEY, "confirm", key.key, day=today - 8),
        "tampered": good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        "wrong purpose": tokens.make_pair(KEY, key.key)[0],
        "development key": tokens.make(tokens.DEV_SECRET, "confirm", key.key),
        "garbage": "v2.%%%.x",
        "unknown key": tokens.make(KEY, "confirm", "ab" * 16),
    }[spoil]
    for answer in (httpx.get(f"{service}/confirm", params={"t": token}),
                   httpx.post(f"{service}/confirm", data={"t": token})):
        assert answer.status_code == 400
        assert ("expired" in answer.text) == (spoil == "expired")
        assert "Subscribe" in answer.text or "does not work" in answer.text
    assert row(engine, "cy@example.org") is None


def test_a_week_old_link_still_confirms(service: str, engine: Engine,
                                        project_dir: Path) -> None:
    # Asked and mailed by the service's mailer (a request queued a week ago would be
    # dropped as stale before it went), then made a week old: the request and its link.
    signups.queue(engine, "dee@example.org", source="form test")
    assert mailed_to(project_dir, engine) == ["dee@example.org"]
    week_ago = consent.now() - dt.timedelta(days=7)
    dee = signups_table.c.email == "dee@example.org"
    with engine.begin() as conn:
        conn.execute(update(signups_table).where(dee).values(requested_at=week_ago,
                                                             mailed_at=week_ago))
        key = conn.execute(select(signups_table.c.key).where(dee)).scalar_one()
    token = tokens.make(KEY, "confirm", key, day=int(time.time()) // 86400 - 7)
    assert httpx.post(f"{service}/confirm", data={"t": token}).status_code == 200
    assert row(engine, "dee@example.org").status == "active"


def test_a_request_made_while_the_service_was_down_is_mailed_when_it_starts(
        project_dir: Path, engine: Engine) -> None:
    signups.queue(engine, "eli@example.org", source="form test")
    with serving(create_app(project_dir / "newsletter.yaml", service_env(engine))):
        assert mailed_to(project_dir, engine) == ["eli@example.org"]


def test_a_relay_that_refuses_changes_no_answer_and_is_tried_again(
        project_dir: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signups, "RETRY_FIRST", dt.timedelta(seconds=1))
    (project_dir / "outbox").mkdir(exist_ok=True)
    (project_dir / "outbox" / "notices").write_text("in the way")  # the folder cannot be made
    with serving(create_app(project_dir / "newsletter.yaml", service_env(engine))) as url:
        assert subscribe(url, "fay@example.org").status_code == 200
        wait_for(lambda: _attempts(engine, "fay@example.org") >= 1)
        (project_dir / "outbox" / "notices").unlink()  # the relay is back
        assert mailed_to(project_dir, engine) == ["fay@example.org"]


def _attempts(engine: Engine, address: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(signups_table.c.attempts).where(
            signups_table.c.email_key == address)).scalar() or 0)


def test_the_hidden_field_catches_scripts(service: str, engine: Engine,
                                          project_dir: Path) -> None:
    person = subscribe(service, "real@example.org").text
    script = subscribe(service, "bot@example.org", website="http://spam.example")
    assert script.status_code == 200
    assert script.text.replace("bot@", "X@") == person.replace("real@", "X@")
    assert mailed_to(project_dir, engine) == ["real@example.org"]


def test_requests_per_client_are_limited(project_dir: Path, engine: Engine) -> None:
    settings = project_dir / "newsletter.yaml"
    settings.write_text(settings.read_text() + "  requests_per_hour: 3\n")
    with serving(create_app(settings, service_env(engine))) as url:
        answers = [subscribe(url, f"r{n}@example.org").status_code for n in range(5)]
        assert answers == [200, 200, 200, 429, 429]
        assert sorted(mailed_to(project_dir, engine)) == [f"r{n}@example.org" for n in range(3)]


def test_invalid_input_is_said_and_kept(service: str, engine: Engine,
                                        project_dir: Path) -> None:
    bad = subscribe(service, "not an address", name="Zoë")
    assert bad.status_code == 400 and "does not look like an email address" in bad.text
    assert 'value="Zoë"' in bad.text  # what was typed is kept
    zone = subscribe(service, "zoe@example.org", timezone="Mars/Olympus")
    assert zone.status_code == 400 and "timezone" in zone.text
    huge = httpx.post(f"{service}/subscribe", content=b"email=" + b"a" * 100_000,
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert huge.status_code == 413
    assert mailed_to(project_dir, engine) == []


@pytest.mark.parametrize("header", ["Origin", "Referer", "X-Forwarded-Host", "Host"])
def test_the_consent_record_keeps_what_the_server_knows(service: str, engine: Engine,
                                                        project_dir: Path, header: str) -> None:
    httpx.post(f"{service}/subscribe", data={"email": "eve@example.org"},
               headers={header: "https://evil.example/page"})
    httpx.post(f"{service}/confirm", data={"t": token_of(wait_for(lambda: notices(project_dir))[-1])})
    kept = row(engine, "eve@example.org")
    assert kept.consent_source == f"form {SERVICE_URL}/subscribe"
    assert "evil" not in str(tuple(kept))


def test_one_request_claimed_by_two_mailers_at_once_is_mailed_once(engine: Engine) -> None:
    signups.queue(engine, "same@example.org", source="form test")
    claimed: list[object] = []
    start = threading.Barrier(6)

    def take() -> None:
        start.wait()
        claimed.append(signups.claim(engine))

    threads = [threading.Thread(target=take) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(c is not None for c in claimed) == 1


def test_a_failed_email_waits_longer_each_time_and_is_dropped_in_the_end(
        engine: Engine) -> None:
    at = consent.now()
    signups.queue(engine, "hal@example.org", source="form test", at=at)
    waits = []
    for _ in range(signups.MAX_ATTEMPTS):
        signup = signups.claim(engine, at)
        assert signup is not None
        if not signups.retry(engine, signup, at):  # the email did not go, again
            break
        with engine.connect() as conn:
            wait = _aware(conn.execute(select(signups_table.c.retry_at)).scalar_one()) - at
        assert signups.claim(engine, at + wait - dt.timedelta(seconds=1)) is None  # not yet
        waits.append(wait.total_seconds() / 60)
        at += wait
    assert waits == [1, 2, 4, 8, 16, 32, 60]  # then the eighth failure drops it
    with engine.connect() as conn:
        assert conn.execute(select(signups_table.c.id)).first() is None


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def test_confirmation_emails_are_capped_per_hour_and_per_day(engine: Engine) -> None:
    start = consent.now()
    mailed = []
    for minutes in range(0, 48 * 60, 20):  # a request every 20 minutes for two days
        at = start + dt.timedelta(minutes=minutes)
        signups.queue(engine, "gus@example.org", source="form test", at=at)
        signup = signups.claim(engine, at)
        assert signup is not None
        if signups.refusal(engine, signup, at) is None:
            signups.mailed(engine, signup, at)
            mailed.append(minutes)
        else:
            signups.drop(engine, signup)
    per_day = [sum(1 for m in mailed if day * 1440 <= m < (day + 1) * 1440) for day in (0, 1)]
    assert per_day == [signups.PER_DAY, signups.PER_DAY]
    assert all(b - a >= 60 for a, b in itertools.pairwise(mailed))


def test_expired_requests_go_by_themselves(project_dir: Path, engine: Engine) -> None:
    from newsletter.web.mailer import Mailer

    old = consent.now() - dt.timedelta(days=9)
    for n in range(3):
        signups.queue(engine, f"old{n}@example.org", source="form test", at=old)
    signups.queue(engine, "new@example.org", source="form test")
    app = create_app(project_dir / "newsletter.yaml", service_env(engine))
    Mailer(app.state.service).prune()
    with engine.connect() as conn:
        left = conn.execute(select(signups_table.c.email)).scalars().all()
    assert left == ["new@example.org"]


def manage_link(engine: Engine, address: str) -> str:
    reader = store.find(engine, address)
    assert reader is not None
    return tokens.make_pair(KEY, reader.link_key)[1]


def test_the_manage_page_changes_name_and_timezone(service: str, engine: Engine) -> None:
    store.add(engine, "gil@example.org", name="Gil")
    token = manage_link(engine, "gil@example.org")
    page = httpx.get(f"{service}/manage", params={"t": token})
    assert page.status_code == 200 and "g*l@example.org" in page.text and 'value="Gil"' in page.text
    saved = httpx.post(f"{service}/manage", data={"t": token, "name": "Gilbert",
                                                  "timezone": "Asia/Tokyo"})
    assert saved.status_code == 200 and "Saved." in saved.text
    reader = store.find(engine, "gil@example.org")
    assert reader is not None and (reader.name, reader.timezone) == ("Gilbert", "Asia/Tokyo")
    for zone in ("Nowhere", "localtime", "Factory", "right/UTC"):
        bad = httpx.post(f"{service}/manage", data={"t": token, "name": "G", "timezone": zone})
        assert bad.status_code == 400 and "timezone" in bad.text
    assert store.find(engine, "gil@example.org").timezone == "Asia/Tokyo"  # type: ignore[union-attr]


def test_the_data_download_holds_what_is_kept(service: str, engine: Engine,
                                              project_dir: Path) -> None:
    subscribe(service, "hal@example.org", name="Hal")
    confirm_as_shown(service, token_of(wait_for(lambda: notices(project_dir))[-1]))
    answer = httpx.post(f"{service}/manage/data", data={"t": manage_link(engine,
                                                                        "hal@example.org")})
    assert answer.status_code == 200 and "attachment" in answer.headers["content-disposition"]
    data = json.loads(answer.text)["subscriber"]
    assert (data["email"], data["name"], data["status"]) == ("hal@example.org", "Hal", "active")
    assert data["consent"]["source"] == f"form {SERVICE_URL}/subscribe"
    assert data["consent"]["confirmed_at"] and data["consent"]["opted_in_at"]
    assert data["consent"]["opt_in_ip"] == "127.0.0.1"
    assert [r["state"] for r in data["requests"]] == ["confirmed"]
    assert "link_key" not in answer.text and "legacy" not in answer.text


def test_forget_me_erases_after_a_tick(service: str, engine: Engine) -> None:
    store.add(engine, "ida@example.org")
    token = manage_link(engine, "ida@example.org")
    unsure = httpx.post(f"{service}/manage/forget", data={"t": token})
    assert unsure.status_code == 400 and store.find(engine, "ida@example.org") is not None
    done = httpx.post(f"{service}/manage/forget", data={"t": token, "sure": "yes"})
    assert done.status_code == 200 and "Erased" in done.text
    assert store.find(engine, "ida@example.org") is None
    after = httpx.get(f"{service}/manage", params={"t": token})
    assert "Nothing is stored about you" in after.text


def test_each_link_serves_its_own_purpose_only(service: str, engine: Engine) -> None:
    store.add(engine, "jo@example.org")
    reader = store.find(engine, "jo@example.org")
    assert reader is not None
    leave, manage = tokens.make_pair(KEY, reader.link_key)
    # A manage token does not unsubscribe, in one click or by the page's button...
    one_click = httpx.post(f"{service}/unsubscribe?t={manage}",
                           data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 400
    assert httpx.post(f"{service}/unsubscribe", data={"t": manage}).status_code == 400
    # ... an unsubscribe token opens no preferences, and a confirm token neither.
    assert httpx.get(f"{service}/manage", params={"t": leave}).status_code == 400
    confirm = tokens.make(KEY, "confirm", reader.link_key)
    assert httpx.post(f"{service}/manage/data", data={"t": confirm}).status_code == 400
    # The halves of the pair are not interchangeable: the manage payload with the
    # unsubscribe half (or the other way round) does not verify.
    swapped = manage.rsplit(".", 1)[0] + "." + leave.rsplit(".", 1)[1]
    assert httpx.get(f"{service}/manage", params={"t": swapped}).status_code == 400
    assert store.find(engine, "jo@example.org").status == "active"  # type: ignore[union-attr]


def test_a_page_without_a_token_says_where_the_link_is(service: str) -> None:
    answer = httpx.get(f"{service}/manage")
    assert answer.status_code == 200 and "linked at the foot of every issue" in answer.text
    assert 'action="/manage/link"' in answer.text  # and offers to email it


@pytest.mark.browser
def test_a_reader_subscribes_confirms_and_manages_in_a_browser_at_320_px(  # type: ignore[no-untyped-def]
        browser, service: str, engine: Engine, project_dir: Path) -> None:
    page = browser.new_page(viewport={"width": 320, "height": 640})

    def fits() -> bool:
        return bool(page.evaluate("document.documentElement.scrollWidth <= 320"))

    page.goto(f"{service}/subscribe")
    assert fits()
    page.fill("#email", "a.rather.long.address.for.a.phone@example.org")
    page.fill("#name", "Kim")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Check your inbox")
    assert fits()
    [message] = wait_for(lambda: notices(project_dir))  # the mailer works on a beat
    page.goto(local(confirm_link(message), service))
    # A request waits in the queue; the address is nobody's row until it is confirmed.
    assert fits() and row(engine, "a.rather.long.address.for.a.phone@example.org") is None
    page.click("text=Confirm my subscription")
    page.wait_for_selector("text=You are subscribed")
    assert row(engine, "a.rather.long.address.for.a.phone@example.org").status == "active"
    page.click("text=Manage your subscription")
    page.wait_for_selector("#timezone")
    assert fits()
    page.fill("#timezone", "America/Chicago")
    page.click("text=Save")
    page.wait_for_selector("text=Saved.")
    assert fits()
    reader = store.find(engine, "a.rather.long.address.for.a.phone@example.org")
    assert reader is not None and (reader.name, reader.timezone) == ("Kim", "America/Chicago")
    page.close()


def test_the_links_in_a_sent_issue_reach_the_reader_pages(service: str, engine: Engine,
                                                          project_dir: Path,
                                                          project: Project) -> None:
    store.add(engine, "lou@example.org")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEWSLETTER_SECRET", SECRET)
        run_send(engine, project, "outbox")
    [sent] = (project_dir / "outbox").glob(f"*/{file_name('lou@example.org')}")
    message = email.message_from_bytes(sent.read_bytes(), policy=policy.default)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    manage = re.search(r'href="([^"]+/manage\?t=[^"]+)"', html)
    assert manage and manage.group(1) in text and "%%" not in html + text
    assert "/subscribe" in html and "/subscribe" in text  # for whoever it is forwarded to
    page = httpx.get(local(manage.group(1), service))
    assert page.status_code == 200 and "l*u@example.org" in page.text
    leave = re.search(r"<([^>]+/unsubscribe\?t=[^>]+)>", message["List-Unsubscribe"])
    assert leave
    gone = httpx.post(local(leave.group(1), service), data={"List-Unsubscribe": "One-Click"})
    assert gone.status_code == 200
    assert store.find(engine, "lou@example.org").status == "unsubscribed"  # type: ignore[union-attr]


def altcha_service(project_dir: Path, engine: Engine):  # type: ignore[no-untyped-def]
    settings = project_dir / "newsletter.yaml"
    settings.write_text(settings.read_text() + "  altcha: true\n  altcha_script: "
                        "https://static.bigmedia.example/altcha.min.js\n"
                        "  altcha_difficulty: 2000\n")
    return serving(create_app(settings, service_env(engine)))


def solved(url: str) -> str:
    """What ALTCHA's widget posts: the challenge solved, as base64 JSON."""
    from altcha.v1 import solve_challenge

    asked = httpx.get(f"{url}/altcha").json()
    found = solve_challenge(asked["challenge"], asked["salt"], asked["algorithm"],
                            asked["maxNumber"])
    assert found is not None
    return base64.b64encode(json.dumps({
        "algorithm": asked["algorithm"], "challenge": asked["challenge"],
        "number": found.number, "salt": asked["salt"], "signature": asked["signature"],
    }).encode()).decode()


def test_with_altcha_a_solved_challenge_is_needed_once(project_dir: Path,
                                                       engine: Engine) -> None:
    with altcha_service(project_dir, engine) as url:
        page = httpx.get(f"{url}/subscribe")
        assert "<altcha-widget" in page.text and "altcha.min.js" in page.text
        policy_ = page.headers["content-security-policy"]
        assert "script-src https://static.bigmedia.example" in policy_
        without = subscribe(url, "mo@example.org")
        assert without.status_code == 400 and "check" in without.text
        assert not asked(engine, "mo@example.org")
        payload = solved(url)
        assert subscribe(url, "mo@example.org", altcha=payload).status_code == 200
        assert asked(engine, "mo@example.org")
        replayed = subscribe(url, "ned@example.org", altcha=payload)  # the same solution
        assert replayed.status_code == 400 and not asked(engine, "ned@example.org")
        forged = json.loads(base64.b64decode(payload))
        forged["number"] += 1
        bad = base64.b64encode(json.dumps(forged).encode()).decode()
        assert subscribe(url, "ned@example.org", altcha=bad).status_code == 400
        assert subscribe(url, "ned@example.org", altcha="not base64!").status_code == 400
        assert not asked(engine, "ned@example.org")


def test_with_altcha_email_me_my_link_is_guarded_like_subscribing(project_dir: Path,
                                                                   engine: Engine) -> None:
    store.add(engine, "ida@example.org")  # readers: a request for them would be mailed,
    store.add(engine, "bea@example.org")  # and its row kept
    with altcha_service(project_dir, engine) as url:
        form = httpx.get(f"{url}/manage")
        assert "<altcha-widget" in form.text and 'name="website"' in form.text
        without = httpx.post(f"{url}/manage/link", data={"email": "ida@example.org"})
        assert without.status_code == 400 and "check" in without.text
        assert not asked(engine, "ida@example.org")
        person = httpx.post(f"{url}/manage/link",
                            data={"email": "ida@example.org", "altcha": solved(url)})
        assert person.status_code == 200 and asked(engine, "ida@example.org")
        script = httpx.post(f"{url}/manage/link", data={
            "email": "bea@example.org", "website": "http://spam.example"})
        assert script.status_code == 200
        assert script.text.replace("bea@", "X@") == person.text.replace("ida@", "X@")
        assert not asked(engine, "bea@example.org")


def asked(engine: Engine, address: str) -> bool:
    """Whether a request for ``address`` reached the queue."""
    with engine.connect() as conn:
        return conn.execute(select(signups_table.c.id).where(
            signups_table.c.email_key == address)).first() is not None


def test_altcha_needs_its_script(project_dir: Path) -> None:
    from newsletter.content import settings
    from newsletter.errors import ProblemsFound

    path = project_dir / "newsletter.yaml"
    path.write_text(path.read_text() + "  altcha: true\n")
    with pytest.raises(ProblemsFound, match="altcha_script"):
        settings.load(path)


def test_without_altcha_there_is_no_challenge(service: str) -> None:
    assert httpx.get(f"{service}/altcha").status_code == 404
    assert "altcha" not in httpx.get(f"{service}/subscribe").text.lower()


def test_an_expired_challenge_is_refused(project_dir: Path, engine: Engine) -> None:
    from altcha.v1 import ChallengeOptions, create_challenge, solve_challenge

    from newsletter.web import challenge

    made = create_challenge(ChallengeOptions(
        hmac_key=challenge.key(KEY), max_number=1000,
        expires=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    found = solve_challenge(made)
    assert found is not None
    payload = base64.b64encode(json.dumps({
        "algorithm": made.algorithm, "challenge": made.challenge, "number": found.number,
        "salt": made.salt, "signature": made.signature}).encode()).decode()
    assert challenge.problem(engine, KEY, payload) == "Altcha payload expired"
    assert row(engine, "x@example.org") is None




class _Answering:
    """A transport that answers every notice as a relay would, with ``error``. (A stand-in
    on purpose: what is tested is the mailer's decision; how a real relay's 5xx and 4xx
    become these errors is the providers' tests', against aiosmtpd and Postfix.)"""

    def __init__(self, error: Exception) -> None:
        self.error, self.tried = error, 0

    def send_notice(self, notice: object) -> None:
        self.tried += 1
        raise self.error


@pytest.mark.parametrize(("error", "kept"), [
    (TransportRejected("550 5.1.1 no such mailbox"), False),
    (TransportUnavailable("451 4.3.0 try again later"), True)])
def test_a_refused_email_gives_up_its_place_in_the_queue_at_once(
        project_dir: Path, engine: Engine, error: Exception, kept: bool) -> None:
    # A stranger who queues addresses the relay refuses for good must not hold places in
    # the queue's bound (503 for everyone) while they are tried for two hours: a final
    # refusal is dropped at once; a relay away for a while is tried again.
    answering = _Answering(error)
    service = dataclasses.replace(create_app(project_dir / "newsletter.yaml",
                                             service_env(engine)).state.service,
                                  transport=answering)
    signups.queue(engine, "hal@refused.example", source="form test")
    assert Mailer(service).beat() == 1 and answering.tried == 1
    assert signups.waiting(engine) == (1 if kept else 0)
    with engine.connect() as conn:
        assert len(conn.execute(select(signups_table.c.id)).all()) == (1 if kept else 0)
