"""A send killed (SIGKILL) in the middle, then run again: everyone gets the issue once.

The one thing that cannot be known is a request that was out when the process died. The
local SendGrid holds one request unanswered, the test kills the sender while it waits, and
checks that the next run delivers to everyone else, reports the held batch as uncertain,
and sends it only when told to with --resend-uncertain.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine

from tests.fakes.sendgrid_server import API_KEY, Answer, FakeSendGrid
from tests.helpers import add_subscribers, duplicates

NEWSLETTER = str(Path(sys.executable).with_name("newsletter"))


def _command(config: Path, *extra: str) -> list[str]:
    return [NEWSLETTER, "--config", str(config), "send", "2024-07-23", "--transport",
            "sendgrid", "--concurrency", "1", *extra]


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

        second = subprocess.run(_command(config), env=env, capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 0, second.stderr
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
