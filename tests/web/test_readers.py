"""The reader's side of the service, on a real server: subscribing with double opt-in,
confirming, the preferences page; the same answer whoever asks; the abuse limits."""

from __future__ import annotations

import base64
import datetime as dt
import email
import json
import re
import threading
from email import policy
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from newsletter import tokens
from newsletter.delivery.transports.outbox import file_name
from newsletter.project import Project
from newsletter.store import consent
from newsletter.store import subscribers as store
from newsletter.store.db import subscribers as table
from newsletter.web.app import create_app
from tests.helpers import run_send
from tests.web.conftest import service_env
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


def test_subscribe_then_confirm(service: str, engine: Engine, project_dir: Path) -> None:
    answer = subscribe(service, "ann@example.org", name="Ann", timezone="Europe/Paris")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    pending = row(engine, "ann@example.org")
    assert (pending.status, pending.name, pending.timezone) == ("pending", "Ann", "Europe/Paris")
    assert pending.consent_source == "form" and pending.requested_at is not None
    [message] = notices(project_dir)
    assert message["To"] == "Ann <ann@example.org>" and "Confirm" in message["Subject"]
    assert message["Auto-Submitted"] == "auto-generated"
    link = local(confirm_link(message), service)
    assert "ann" not in link.split("?t=")[1]  # the token names no address
    shown = httpx.get(link)  # a GET, as a mail scanner makes, changes nothing
    assert shown.status_code == 200 and "a*n@example.org" in shown.text
    assert row(engine, "ann@example.org").status == "pending"
    done = httpx.post(f"{service}/confirm", data={"t": link.split("?t=")[1]})
    assert done.status_code == 200 and "You are subscribed" in done.text
    active = row(engine, "ann@example.org")
    assert active.status == "active" and active.confirmed_at is not None
    again = httpx.post(f"{service}/confirm", data={"t": link.split("?t=")[1]})
    assert "already subscribed" in again.text  # a second press changes nothing


def test_the_answer_is_the_same_for_every_kind_of_address(service: str, engine: Engine,
                                                          project_dir: Path) -> None:
    store.add(engine, "active@example.org")
    store.add(engine, "gone@example.org")
    store.set_status(engine, "gone@example.org", "unsubscribed")
    subscribe(service, "waiting@example.org")
    before = len(notices(project_dir))
    pages = {}
    for address in ("new@example.org", "active@example.org", "gone@example.org",
                    "waiting@example.org"):
        answer = subscribe(service, address)
        assert answer.status_code == 200
        pages[address] = answer.text.replace(address, "ADDRESS")
    assert len(set(pages.values())) == 1
    sent = [m["To"] for m in notices(project_dir)[before:]]
    # The new reader and the one who left are asked to confirm; the active one is not
    # mailed, and the waiting one had an email within the hour.
    assert sorted(sent) == ["gone@example.org", "new@example.org"]
    assert row(engine, "gone@example.org").status == "unsubscribed"  # until they confirm


def test_a_reader_who_left_comes_back_only_by_confirming(service: str, engine: Engine,
                                                         project_dir: Path) -> None:
    subscribe(service, "bo@example.org")
    old_token = confirm_link(notices(project_dir)[-1]).split("?t=")[1]
    httpx.post(f"{service}/confirm", data={"t": old_token})
    reader = store.find(engine, "bo@example.org")
    assert reader is not None and reader.status == "active"
    leave = tokens.make_pair(KEY, reader.id)[0]
    httpx.post(f"{service}/unsubscribe", data={"t": leave})
    assert row(engine, "bo@example.org").status == "unsubscribed"
    # The old confirmation link does not bring them back: they withdrew.
    stale = httpx.post(f"{service}/confirm", data={"t": old_token})
    assert stale.status_code == 400 and "Nothing to confirm" in stale.text
    assert row(engine, "bo@example.org").status == "unsubscribed"
    # Asking again, later, sends a new link; that one brings them back.
    with engine.begin() as conn:  # the last confirmation email went over an hour ago
        conn.execute(table.update().where(table.c.email_key == "bo@example.org")
                     .values(confirm_sent_at=consent.now() - dt.timedelta(hours=2)))
    subscribe(service, "bo@example.org")
    assert row(engine, "bo@example.org").status == "unsubscribed"  # until they confirm
    fresh = confirm_link(notices(project_dir)[-1]).split("?t=")[1]
    assert httpx.post(f"{service}/confirm", data={"t": fresh}).status_code == 200
    assert row(engine, "bo@example.org").status == "active"


@pytest.mark.parametrize("spoil", ["expired", "tampered", "wrong purpose", "development key",
                                   "garbage"])
def test_bad_confirmation_links_confirm_nothing(service: str, engine: Engine, spoil: str) -> None:
    consent.request(engine, "cy@example.org")
    reader = store.find(engine, "cy@example.org")
    assert reader is not None
    today = int(__import__("time").time()) // 86400
    token = {
        "expired": tokens.make(KEY, "confirm", reader.id, day=today - 8),
        "tampered": tokens.make(KEY, "confirm", reader.id)[:-2] + "AA",
        "wrong purpose": tokens.make_pair(KEY, reader.id)[0],
        "development key": tokens.make(tokens.DEV_SECRET, "confirm", reader.id),
        "garbage": "v2.%%%.x",
    }[spoil]
    for answer in (httpx.get(f"{service}/confirm", params={"t": token}),
                   httpx.post(f"{service}/confirm", data={"t": token})):
        assert answer.status_code == 400
        assert ("expired" in answer.text) == (spoil == "expired")
        assert "Subscribe" in answer.text or "does not work" in answer.text
    assert row(engine, "cy@example.org").status == "pending"


def test_a_week_old_link_still_confirms(service: str, engine: Engine) -> None:
    today = int(__import__("time").time()) // 86400
    consent.request(engine, "dee@example.org")
    reader = store.find(engine, "dee@example.org")
    assert reader is not None
    with engine.begin() as conn:  # they asked a week ago
        conn.execute(table.update().where(table.c.id == reader.id).values(
            requested_at=consent.now() - dt.timedelta(days=7)))
    token = tokens.make(KEY, "confirm", reader.id, day=today - 7)
    assert httpx.post(f"{service}/confirm", data={"t": token}).status_code == 200
    assert row(engine, "dee@example.org").status == "active"


def test_the_hidden_field_catches_scripts(service: str, engine: Engine,
                                          project_dir: Path) -> None:
    person = subscribe(service, "real@example.org").text
    script = subscribe(service, "bot@example.org", website="http://spam.example")
    assert script.status_code == 200
    assert script.text.replace("bot@", "X@") == person.replace("real@", "X@")
    assert row(engine, "bot@example.org") is None
    assert [m["To"] for m in notices(project_dir)] == ["real@example.org"]


def test_requests_per_client_are_limited(project_dir: Path, engine: Engine) -> None:
    settings = project_dir / "newsletter.yaml"
    settings.write_text(settings.read_text() + "  requests_per_hour: 3\n")
    with serving(create_app(settings, service_env(engine))) as url:
        answers = [subscribe(url, f"r{n}@example.org").status_code for n in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    assert [row(engine, f"r{n}@example.org") is not None for n in range(5)] == \
        [True, True, True, False, False]


def test_invalid_input_is_said_and_kept(service: str, engine: Engine) -> None:
    bad = subscribe(service, "not an address", name="Zoë")
    assert bad.status_code == 400 and "does not look like an email address" in bad.text
    assert 'value="Zoë"' in bad.text  # what was typed is kept
    zone = subscribe(service, "zoe@example.org", timezone="Mars/Olympus")
    assert zone.status_code == 400 and "timezone" in zone.text
    assert row(engine, "zoe@example.org") is None
    huge = httpx.post(f"{service}/subscribe", content=b"email=" + b"a" * 100_000,
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert huge.status_code == 413


def test_a_form_on_another_site_may_post_here(service: str, engine: Engine) -> None:
    answer = httpx.post(f"{service}/subscribe", data={"email": "eve@example.org"},
                        headers={"Origin": "https://news.bigmedia.example"})
    assert answer.status_code == 200
    assert row(engine, "eve@example.org").consent_source == "form news.bigmedia.example"


def test_concurrent_requests_make_one_reader_and_one_email(engine: Engine) -> None:
    results: list[consent.Request] = []
    start = threading.Barrier(6)

    def ask() -> None:
        start.wait()
        results.append(consent.request(engine, "same@example.org"))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.subscriber_id for r in results}) == 1
    assert sum(r.send for r in results) == 1
    assert store.counts(engine)["pending"] == 1


def test_a_failed_confirmation_email_can_be_asked_for_again(engine: Engine) -> None:
    first = consent.request(engine, "fay@example.org")
    assert first.send
    assert not consent.request(engine, "fay@example.org").send  # within the hour
    consent.release_send(engine, first.subscriber_id)  # it did not go
    assert consent.request(engine, "fay@example.org").send
    later = consent.now() + consent.RESEND_AFTER
    assert consent.request(engine, "fay@example.org", at=later).send


def manage_link(engine: Engine, address: str) -> str:
    reader = store.find(engine, address)
    assert reader is not None
    return tokens.make_pair(KEY, reader.id)[1]


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
    bad = httpx.post(f"{service}/manage", data={"t": token, "name": "G", "timezone": "Nowhere"})
    assert bad.status_code == 400 and "timezone" in bad.text
    assert store.find(engine, "gil@example.org").timezone == "Asia/Tokyo"  # type: ignore[union-attr]


def test_the_data_download_holds_what_is_kept(service: str, engine: Engine) -> None:
    subscribe(service, "hal@example.org", name="Hal")
    reader = store.find(engine, "hal@example.org")
    assert reader is not None
    consent.confirm(engine, reader.id)
    answer = httpx.post(f"{service}/manage/data", data={"t": manage_link(engine,
                                                                        "hal@example.org")})
    assert answer.status_code == 200 and "attachment" in answer.headers["content-disposition"]
    data = json.loads(answer.text)["subscriber"]
    assert (data["email"], data["name"], data["status"]) == ("hal@example.org", "Hal", "active")
    assert data["consent"]["source"] == "form" and data["consent"]["confirmed_at"]
    assert data["consent"]["confirmation_sent_at"]


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
    leave, manage = tokens.make_pair(KEY, reader.id)
    # A manage token does not unsubscribe, in one click or by the page's button...
    one_click = httpx.post(f"{service}/unsubscribe?t={manage}",
                           data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 400
    assert httpx.post(f"{service}/unsubscribe", data={"t": manage}).status_code == 400
    # ... an unsubscribe token opens no preferences, and a confirm token neither.
    assert httpx.get(f"{service}/manage", params={"t": leave}).status_code == 400
    confirm = tokens.make(KEY, "confirm", reader.id)
    assert httpx.post(f"{service}/manage/data", data={"t": confirm}).status_code == 400
    # The halves of the pair are not interchangeable: the manage payload with the
    # unsubscribe half (or the other way round) does not verify.
    swapped = manage.rsplit(".", 1)[0] + "." + leave.rsplit(".", 1)[1]
    assert httpx.get(f"{service}/manage", params={"t": swapped}).status_code == 400
    assert store.find(engine, "jo@example.org").status == "active"  # type: ignore[union-attr]


def test_a_page_without_a_token_says_where_the_link_is(service: str) -> None:
    answer = httpx.get(f"{service}/manage")
    assert answer.status_code == 200 and "Manage your subscription" in answer.text


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
    [message] = notices(project_dir)
    page.goto(local(confirm_link(message), service))
    assert fits() and row(engine, "a.rather.long.address.for.a.phone@example.org").status == \
        "pending"
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
        assert row(engine, "mo@example.org") is None
        payload = solved(url)
        assert subscribe(url, "mo@example.org", altcha=payload).status_code == 200
        assert row(engine, "mo@example.org").status == "pending"
        replayed = subscribe(url, "ned@example.org", altcha=payload)  # the same solution
        assert replayed.status_code == 400 and row(engine, "ned@example.org") is None
        forged = json.loads(base64.b64decode(payload))
        forged["number"] += 1
        bad = base64.b64encode(json.dumps(forged).encode()).decode()
        assert subscribe(url, "ned@example.org", altcha=bad).status_code == 400
        assert subscribe(url, "ned@example.org", altcha="not base64!").status_code == 400
        assert row(engine, "ned@example.org") is None


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


def test_when_the_confirmation_cannot_go_the_reader_may_ask_again(
        service: str, engine: Engine, project_dir: Path) -> None:
    # The outbox cannot be written (a file where its folder should be): the page says
    # to try again soon, and the hour's limit is not spent on an email that never went.
    (project_dir / "outbox").mkdir(exist_ok=True)
    (project_dir / "outbox" / "notices").write_text("in the way")
    failed = subscribe(service, "pat@example.org")
    assert failed.status_code == 503 and "try again" in failed.text
    assert row(engine, "pat@example.org").confirm_sent_at is None
    (project_dir / "outbox" / "notices").unlink()
    assert subscribe(service, "pat@example.org").status_code == 200
    assert [m["To"] for m in notices(project_dir)] == ["pat@example.org"]
