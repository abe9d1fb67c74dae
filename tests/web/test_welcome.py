"""The welcome email: sent once to each reader who confirms, whatever repeats (a double
click, a second instance of the service, a restart, a mailer that died mid-send), by
real services over the test databases, sending through the outbox."""

from __future__ import annotations

import datetime as dt
import email
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from newsletter.store import signups, welcomes
from newsletter.store import subscribers as store
from newsletter.web.app import create_app
from newsletter.web.mailer import Mailer
from tests.helpers import asked_and_confirmed
from tests.web.conftest import service_env
from tests.web.server import SECRET, serving
from tests.web.test_readers import confirm_link, notices, subscribe, wait_for

WELCOME = """\
subject: Welcome to BIG Media
preheader: What arrives, and when
body: |
  Each issue opens with one story, then a **short wrap** of the rest.
"""


@pytest.fixture
def welcome_file(project_dir: Path) -> Path:
    path = project_dir / "welcome.yaml"
    path.write_text(WELCOME)
    return path


def welcomes_in(project_dir: Path) -> list[email.message.EmailMessage]:
    return [m for m in notices(project_dir) if str(m["Message-ID"]).startswith("<welcome.")]


@pytest.fixture
def two_services(project_dir: Path, engine: Engine, welcome_file: Path) -> Iterator[list[str]]:
    """Two instances of the service over one database, each with its own mailer."""
    with ExitStack() as stack:
        yield [stack.enter_context(serving(create_app(project_dir / "newsletter.yaml",
                                                      service_env(engine))))
               for _ in range(2)]


def test_one_welcome_whatever_repeats(two_services: list[str], engine: Engine,
                                      project_dir: Path) -> None:
    first, second = two_services
    subscribe(first, "ann@example.org")
    [asked] = wait_for(lambda: notices(project_dir))
    token = confirm_link(asked).split("?t=")[1]
    # A double click on one instance, and the same link on the other at the same time.
    clicks = [threading.Thread(target=httpx.post, args=(f"{base}/confirm",),
                               kwargs={"data": {"t": token}})
              for base in (first, first, second)]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    [welcome] = wait_for(lambda: welcomes_in(project_dir))
    reader = store.find(engine, "ann@example.org")
    assert reader is not None
    wait_for(lambda: welcomes.state(engine, reader.id) == "sent")
    # A restart: a new instance over the same database finds nothing left to send.
    with serving(create_app(project_dir / "newsletter.yaml", service_env(engine))):
        beats = Mailer(create_app(project_dir / "newsletter.yaml",
                                         service_env(engine)).state.service).beat()
    assert beats == 0 and len(welcomes_in(project_dir)) == 1
    assert welcome["To"] == "ann@example.org" and welcome["Subject"] == "Welcome to BIG Media"
    # Their own link to leave, which works for them.
    text = welcome.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    leave = next(line for line in text.splitlines() if "/unsubscribe?t=" in line)
    found = store.find_by_link(engine, SECRET.encode(), leave.split("?t=")[1])
    assert found is not None and found.email == "ann@example.org"
    assert "every day at 06:00 (Europe/London time)" in text
    assert "https://news.bigmedia.example/2024-07-25/" in text  # the latest issue


@pytest.fixture
def mailer(project_dir: Path, engine: Engine, welcome_file: Path) -> Mailer:
    return Mailer(create_app(project_dir / "newsletter.yaml", service_env(engine)).state.service)


def test_confirming_again_after_leaving_welcomes_no_more(mailer: Mailer, engine: Engine,
                                                          project_dir: Path) -> None:
    reader = asked_and_confirmed_welcomed(engine, "bo@example.org")
    assert mailer.beat() == 1 and welcomes.state(engine, reader) == "sent"
    store.set_status(engine, "bo@example.org", "unsubscribed")
    asked_and_confirmed_welcomed(engine, "bo@example.org")
    assert mailer.beat() == 0 and len(welcomes_in(project_dir)) == 1


def asked_and_confirmed_welcomed(engine: Engine, address: str) -> int:
    signups.queue(engine, address, source="form test")
    signup = signups.claim(engine)
    assert signup is not None
    signups.mailed(engine, signup)
    return signups.confirm(engine, signup, welcome=True).id


def test_a_mailer_that_died_mid_send_leaves_it_uncertain(mailer: Mailer, engine: Engine,
                                                         project_dir: Path) -> None:
    reader = asked_and_confirmed_welcomed(engine, "cy@example.org")
    claimed_at = store.now()
    assert welcomes.claim(engine, claimed_at) == reader  # ...and the process died here
    later = claimed_at + welcomes.LEASE + dt.timedelta(seconds=1)
    assert welcomes.claim(engine, later) is None
    assert welcomes.state(engine, reader) == "uncertain"
    assert mailer.beat() == 0 and welcomes_in(project_dir) == []


def test_concurrent_mailers_claim_each_welcome_once(engine: Engine) -> None:
    readers = {asked_and_confirmed_welcomed(engine, f"r{n}@example.org") for n in range(12)}
    taken: list[int] = []

    def mailer() -> None:
        while (found := welcomes.claim(engine, store.now())) is not None:
            taken.append(found)

    threads = [threading.Thread(target=mailer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted(readers)


def test_a_reader_who_left_before_it_went_is_skipped(mailer: Mailer, engine: Engine,
                                                     project_dir: Path) -> None:
    reader = asked_and_confirmed_welcomed(engine, "di@example.org")
    store.set_status(engine, "di@example.org", "unsubscribed")
    assert mailer.beat() == 1 and welcomes.state(engine, reader) == "skipped"
    assert welcomes_in(project_dir) == []


def test_erasing_a_reader_erases_their_welcome(mailer: Mailer, engine: Engine) -> None:
    reader = asked_and_confirmed_welcomed(engine, "ed@example.org")
    mailer.beat()
    store.forget(engine, "ed@example.org")
    assert welcomes.state(engine, reader) is None


def test_without_the_file_or_with_a_todo_no_welcome(project_dir: Path, engine: Engine,
                                                    welcome_file: Path) -> None:
    welcome_file.write_text(WELCOME.replace("Each issue", "TODO each issue"))
    app = create_app(project_dir / "newsletter.yaml", service_env(engine))
    assert app.state.service.welcomer is None
    welcome_file.unlink()
    assert create_app(project_dir / "newsletter.yaml",
                      service_env(engine)).state.service.welcomer is None
    reader = asked_and_confirmed(engine, "fi@example.org")  # confirming, as the service does
    assert welcomes.state(engine, reader.id) is None


def test_an_invalid_file_stops_the_service(project_dir: Path, engine: Engine,
                                           welcome_file: Path) -> None:
    from newsletter.errors import ProblemsFound

    welcome_file.write_text("subject: Hi\nbody: Text\nsubjet: typo\n")
    with pytest.raises(ProblemsFound) as found:
        create_app(project_dir / "newsletter.yaml", service_env(engine))
    assert [str(p) for p in found.value.problems] == [
        f"{welcome_file}:3:1: subjet: unknown key 'subjet' (did you mean 'subject'?)"]
