"""One run per issue: leases that expire, take-overs from any host, runs that collide."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import Engine, update

from newsletter.config import Environment
from newsletter.delivery.providers import registry as transports
from newsletter.delivery.providers.registry import Options, Outcome, Transport
from newsletter.delivery.send import SendRun
from newsletter.email.render import Email
from newsletter.errors import DeliveryError
from newsletter.project import Project
from newsletter.store import db
from newsletter.store.ledger import Content, Lease, Ledger
from newsletter.store.recipient import Recipient
from tests.helpers import FAST, add_subscribers, example_email, make_transport, need, run_send


def held_by(engine: Engine, email: Email, owner: str) -> Ledger:
    """A send begun by ``owner`` (another run, perhaps on another host) that still holds it."""
    ledger = Ledger(engine, email.date.isoformat())
    ledger.begin("outbox", 1000, Content(email.digest, email.subject), Lease(owner))
    return ledger


def test_a_live_run_elsewhere_is_refused_in_one_line(engine: Engine, project: Project) -> None:
    add_subscribers(engine, 3)
    held_by(engine, example_email(project), "runner-a:4828:abc")
    with pytest.raises(DeliveryError) as caught:
        run_send(engine, project, transport="outbox")
    assert str(caught.value).startswith("issue 2024-07-23 is being sent by another run "
                                        "(runner-a:4828:abc, last heard from ")
    assert "taken over once silent for 10 min" in str(caught.value)
    assert not (project.outbox_dir / "2024-07-23").exists()


def test_a_stale_lease_is_taken_over_from_any_host(engine: Engine, project: Project) -> None:
    everyone = add_subscribers(engine, 3)
    held_by(engine, example_email(project), "runner-a:4828:abc")  # then runner-a vanished
    time.sleep(1.1)  # the database's clock moves past the lease
    report = run_send(engine, project, transport="outbox",
                      options=dataclasses.replace(FAST, lease_timeout=1))
    assert report.taken_over_from == "runner-a:4828:abc" and report.complete
    assert len(list((project.outbox_dir / "2024-07-23").iterdir())) == len(everyone)


def test_a_dead_process_of_this_host_is_taken_over_at_once(engine: Engine,
                                                           project: Project) -> None:
    import socket
    import subprocess

    add_subscribers(engine, 2)
    finished = subprocess.Popen(["true"])
    finished.wait()  # its pid no longer runs
    owner = f"{socket.gethostname()}:{finished.pid}:dead"
    held_by(engine, example_email(project), owner)
    report = run_send(engine, project, transport="outbox")
    assert report.taken_over_from == owner and report.counts["sent"] == 2


def race(engine: Engine, project: Project, runs: int = 2) -> list[object]:
    """``runs`` sends of one issue started at the same instant; what each ended with."""
    start = threading.Barrier(runs)
    results: list[object] = [None] * runs

    def one(n: int) -> None:
        chosen = make_transport(project, "outbox")
        email = example_email(project)
        start.wait()
        try:
            results[n] = SendRun(engine, email, chosen, FAST).run()
        except Exception as exc:
            results[n] = exc

    threads = [threading.Thread(target=one, args=(n,)) for n in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.parametrize("resumed", [False, True], ids=["new", "resumed"])
def test_two_runs_at_the_same_instant_one_sends(engine: Engine, project: Project,
                                                resumed: bool) -> None:
    everyone = add_subscribers(engine, 50)
    if resumed:  # planned by a run that then stopped and let go
        held_by(engine, example_email(project), "earlier:1:a").release_lease("earlier:1:a")
    for attempt in range(3):
        results = race(engine, project)
        refused = [r for r in results if isinstance(r, DeliveryError)]
        done = [r for r in results if not isinstance(r, Exception)]
        if attempt == 0:
            assert len(refused) == 1 and len(done) == 1, results
            assert "being sent by another run" in str(refused[0]) or \
                "taken by another run just now" in str(refused[0]) or \
                "planning this send right now" in str(refused[0])
        else:  # later pairs find it done: neither sends again, and neither crashes
            assert all(r.sent == 0 if not isinstance(r, Exception) else
                       isinstance(r, DeliveryError) for r in results), results
    files = list((project.outbox_dir / "2024-07-23").iterdir())
    assert len(files) == len(everyone)
    assert Ledger(engine, "2024-07-23").status().counts["sent"] == len(everyone)


class Slow(Transport):
    """A transport that takes its time, while something else happens to the ledger."""

    name = "slow"
    during: ClassVar[list[object]] = []

    @classmethod
    def needs_secret(cls, options: Options) -> bool:
        return False

    def send(self, email: Email, recipients: Sequence[Recipient]) -> Outcome:
        for act in self.during:
            act()  # type: ignore[operator]
        time.sleep(0.5)
        return Outcome(provider_id="slow")


SLOW = transports.Provider("slow", Slow, lambda env: False, needs="SLOW")

def test_a_run_whose_lease_was_taken_stops(engine: Engine, project: Project,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(transports.PROVIDERS, "slow", SLOW)
    add_subscribers(engine, 30)

    def steal() -> None:
        with engine.begin() as conn:
            conn.execute(update(db.sends).values(owner="runner-b:99:zz"))

    monkeypatch.setattr(Slow, "during", [steal])
    slow = transports.make("slow", project.publication.model_copy(update={
        "delivery": project.publication.delivery.model_copy(update={"slow": {"batch_size": 5}})
    }), Environment.from_environ({}), outbox=project.outbox_dir)
    options = dataclasses.replace(FAST, lease_timeout=0.3)  # renewed every 0.1 s
    with pytest.raises(DeliveryError, match="another run took over issue 2024-07-23"):
        SendRun(engine, example_email(project), slow, options).run()
    status = Ledger(engine, "2024-07-23").status()
    assert status.counts["sent"] == 5 and status.counts["pending"] == 25  # stopped at once


def test_the_lease_is_renewed_while_a_run_sends(engine: Engine, project: Project,
                                                monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.setitem(transports.PROVIDERS, "slow", SLOW)
    monkeypatch.setattr(Slow, "during", [])
    add_subscribers(engine, 4)
    seen: list[object] = []

    def look() -> None:
        with engine.connect() as conn:
            seen.append(conn.execute(db.sends.select()).one().heartbeat)

    monkeypatch.setattr(Slow, "during", [look])
    slow = transports.make("slow", project.publication.model_copy(update={
        "delivery": project.publication.delivery.model_copy(update={"slow": {"batch_size": 1}})
    }), Environment.from_environ({}), outbox=tmp_path)
    SendRun(engine, example_email(project), slow,
            dataclasses.replace(FAST, lease_timeout=0.9)).run()  # renewed every 0.3 s
    assert len(set(seen)) >= 2  # the heartbeat moved while batches were out


@pytest.mark.postgres
def test_a_runner_whose_clock_is_ahead_still_sees_a_live_lease(project_dir: Path,
                                                               postgres: Engine) -> None:
    """Another runner, 20 minutes ahead (Debian's faketime, its own host name): the lease's
    age is the database server's, so the live run keeps it. (On SQLite the database's clock
    is the machine's own; a SQLite file is never shared between machines.)"""
    import os
    import shutil
    import subprocess
    import sys

    need(shutil.which("faketime") is not None and shutil.which("unshare") is not None
         and os.geteuid() == 0, "faketime and unshare (root)")
    engine = postgres
    add_subscribers(engine, 3)
    project = Project(project_dir / "newsletter.yaml")
    held_by(engine, example_email(project), "runner-a:4828:abc")
    newsletter = str(Path(sys.executable).with_name("newsletter"))
    env = {**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    later = subprocess.run(
        ["unshare", "-u", "sh", "-c", 'hostname runner-b && exec "$@"', "sh",
         "faketime", "-f", "+20m", newsletter, "send", "2024-07-23", "--transport", "outbox"],
        cwd=project_dir, env=env, capture_output=True, text=True, timeout=120)
    assert later.returncode == 1, later.stdout + later.stderr
    assert "is being sent by another run (runner-a:4828:abc, last heard from" in later.stderr
