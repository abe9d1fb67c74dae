"""A send killed (SIGKILL) in the middle, then run again, from another machine: everyone
gets the issue once.

The one thing that cannot be known is a request that was out when the process died. The
local SendGrid holds one request unanswered, the test kills the sender while it waits, and
checks that a run on another host (its own UTS namespace, another host name) is refused
while the dead run's lease is fresh, takes over once it is stale, delivers to everyone
else, reports the held batch as uncertain (exit status 3), and sends it only when told to
with --resend-uncertain.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine

from tests.fakes.sendgrid_server import API_KEY, Answer, FakeSendGrid
from tests.helpers import add_subscribers, duplicates, need

NEWSLETTER = str(Path(sys.executable).with_name("newsletter"))


def _command(config: Path, *extra: str) -> list[str]:
    return [NEWSLETTER, "--config", str(config), "send", "2024-07-23", "--transport",
            "sendgrid", "--concurrency", "1", *extra]


def on_host(host: str, command: list[str]) -> list[str]:
    """``command`` run as if on another machine: a UTS namespace with its own host name."""
    need(shutil.which("unshare") is not None and os.geteuid() == 0,
         "unshare as root (another host name for a subprocess)")
    return ["unshare", "-u", "sh", "-c", f'hostname {host} && exec "$@"', "sh", *command]


def test_kill_mid_send_then_resume(engine: Engine, project_dir: Path, tmp_path: Path) -> None:
    config = project_dir / "newsletter.yaml"
    config.write_text(config.read_text() + "delivery:\n  sendgrid:\n    batch_size: 5\n")
    everyone = add_subscribers(engine, 40)
    with FakeSendGrid() as fake:
        env = {**os.environ, "SENDGRID_API_KEY": API_KEY, "SENDGRID_HOST": fake.url,
               "NEWSLETTER_SECRET": "test-secret",
               "DATABASE_URL": engine.url.render_as_string(hide_password=False)}
        fake.then(Answer(), Answer(), Answer(), Answer(hang=True))
        first = subprocess.Popen(_command(config), env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
        assert fake.arrived.wait(60), "the fourth request never arrived"
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        assert first.returncode == -signal.SIGKILL
        fake.release.set()
        assert len(fake.recipients()) == 15  # three batches made it before the kill

        # Another machine, while the lease is fresh (fifty seconds of patience: on a loaded
        # machine the dead run's start and its three requests can take seconds).
        patient = on_host("runner-b", _command(config, "--lease-timeout", "50"))
        refused = subprocess.run(patient, env=env, capture_output=True, text=True,
                                 timeout=120)
        assert refused.returncode == 1, refused.stderr
        assert re.fullmatch(r"Error: issue 2024-07-23 is being sent by another run \(\S+:"
                            rf"{first.pid}:\w+, last heard from \d+ s ago\); wait for it, or "
                            r"it is taken over once silent for 50 s \(in \d+ s\)\n",
                            refused.stderr), refused.stderr
        elsewhere = on_host("runner-b", _command(config, "--lease-timeout", "3"))
        time.sleep(3.5)  # the dead run's lease goes stale

        second = subprocess.run(elsewhere, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 3, second.stderr  # not complete: 5 are uncertain
        assert f":{first.pid}:" in second.stderr and "which had stopped renewing" in second.stderr
        assert "warning: 5 recipients were in flight when an earlier run died" in second.stderr
        assert "5 recipients are uncertain" in second.stderr
        held = {f"reader{n}@example.org" for n in range(15, 20)}
        assert set(fake.recipients()) == set(everyone) - held
        assert duplicates(fake.recipients()) == {}

        status = subprocess.run([NEWSLETTER, "--config", str(config), "status", "2024-07-23"],
                                env=env, capture_output=True, text=True, timeout=60)
        assert "  uncertain           5" in status.stdout

        third = subprocess.run(_command(config, "--resend-uncertain"), env=env,
                               capture_output=True, text=True, timeout=120)
        assert third.returncode == 0, third.stderr
        assert sorted(fake.recipients()) == sorted(everyone)
        assert duplicates(fake.recipients()) == {}


def test_status_tells_in_flight_work_as_uncertain_once_its_run_is_gone(
        engine: Engine, project_dir: Path) -> None:
    """No run after the kill: ``status`` alone says the batch that was out is uncertain,
    where it said pending while its run lived."""
    config = project_dir / "newsletter.yaml"
    config.write_text(config.read_text() + "delivery:\n  sendgrid:\n    batch_size: 5\n")
    add_subscribers(engine, 20)
    with FakeSendGrid() as fake:
        env = {**os.environ, "SENDGRID_API_KEY": API_KEY, "SENDGRID_HOST": fake.url,
               "NEWSLETTER_SECRET": "test-secret",
               "DATABASE_URL": engine.url.render_as_string(hide_password=False)}
        fake.then(Answer(), Answer(hang=True))
        sending = subprocess.Popen(_command(config), env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            assert fake.arrived.wait(60), "the second request never arrived"
            alive = _status(config, env)
            assert _count(alive, "pending") == 15 and _count(alive, "uncertain") == 0
        finally:
            sending.send_signal(signal.SIGKILL)
            sending.wait(30)
            fake.release.set()
        gone = _status(config, env)  # at once: no lease needs to go stale on this host
        assert _count(gone, "uncertain") == 5 and _count(gone, "pending") == 10
        assert _count(gone, "sent") == 5


def _status(config: Path, env: dict[str, str]) -> str:
    done = subprocess.run([NEWSLETTER, "--config", str(config), "status", "2024-07-23"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _count(status: str, state: str) -> int:
    found = re.search(rf"^  {state} +([\d,]+)$", status, re.MULTILINE)
    assert found, status
    return int(found.group(1).replace(",", ""))
