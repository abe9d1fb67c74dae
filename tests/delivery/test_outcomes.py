"""What a send says and leaves behind when things go wrong: exit status, partial batches,
signals, changed issues, unfinished issues, odd addresses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.config import Environment
from newsletter.content import settings
from newsletter.delivery.personalize import with_token
from newsletter.delivery.providers import registry as transports
from newsletter.delivery.providers.outbox.transport import file_name
from newsletter.delivery.providers.sendgrid.api import redact
from newsletter.errors import TransportRejected
from newsletter.project import Project
from newsletter.store import subscribers as store
from newsletter.store.ledger import Ledger
from tests.fakes.sendgrid_server import API_KEY, Answer, FakeSendGrid, error
from tests.helpers import GOOD_ISSUE, add_subscribers, make_transport, need, run, run_send

NEWSLETTER = str(Path(sys.executable).with_name("newsletter"))


@pytest.fixture
def cli_sendgrid(project_dir: Path, sendgrid_env: FakeSendGrid) -> FakeSendGrid:
    config = project_dir / "newsletter.yaml"
    config.write_text(config.read_text() + "delivery:\n  sendgrid:\n    batch_size: 2\n")
    for n in range(4):
        run("subscribers", "add", f"reader{n}@example.org")
    return sendgrid_env


def test_a_send_where_every_batch_failed_exits_3_with_the_providers_words(
        cli_sendgrid: FakeSendGrid) -> None:
    cli_sendgrid.then(*[error(500, "mail backend down") for _ in range(10)])
    code, out = run("send", "2024-07-23", "--max-attempts", "1")
    assert code == 3
    assert "error: batch 0: SendGrid answered 500: mail backend down" in out
    assert out.rstrip().splitlines()[-1] == (
        "Error: 2024-07-23 is not complete: 4 failed in this run, 4 pending; see `newsletter "
        "status 2024-07-23`, fix the cause, and run the same command again (failed batches "
        "and readers a server asked to try later are retried; uncertain ones only with "
        "--resend-uncertain)")
    cli_sendgrid.script.clear()
    assert run("send", "2024-07-23")[0] == 0  # the cause gone, the next run completes
    assert sorted(cli_sendgrid.recipients()) == [f"reader{n}@example.org" for n in range(4)]


def test_a_paused_send_exits_3(cli_sendgrid: FakeSendGrid) -> None:
    for n in range(4, 8):  # four batches: the third failure pauses the send
        run("subscribers", "add", f"reader{n}@example.org")
    cli_sendgrid.then(*[error(503, "busy") for _ in range(20)])
    code, out = run("send", "2024-07-23", "--max-attempts", "1", "--concurrency", "1")
    assert code == 3 and "Error: paused after" in out and "SendGrid answered 503: busy" in out


def test_a_provider_error_never_shows_the_key(cli_sendgrid: FakeSendGrid) -> None:
    cli_sendgrid.then(Answer(status=400, echo_authorization=True))
    code, out = run("send", "2024-07-23")
    assert code == 1 and API_KEY not in out and "[redacted]" in out
    status = run("status", "2024-07-23")[1]
    assert API_KEY not in status and "[redacted]" in status


def test_redact_takes_out_keys_and_authorization_values() -> None:
    text = "you sent Bearer abcdefghijkl and SG.aaaaaaaa.bbbbbbbbbb and Basic dXNlcjpwYXNz"
    assert redact(text) == "you sent [redacted] and [redacted] and [redacted]"
    assert redact("key=my-own-secret", "my-own-secret") == "key=[redacted]"


def test_plain_http_to_another_host_is_warned_about(project: Project) -> None:
    env = {"SENDGRID_API_KEY": "SG.x", "NEWSLETTER_SECRET": "s"}
    for host, warned in [("http://127.0.0.1:8025", False), ("http://localhost:1", False),
                         ("https://api.sendgrid.com", False), ("http://10.1.2.3", True),
                         ("http://mail.example", True)]:
        made = transports.make("sendgrid", project.publication,
                               Environment.from_environ({**env, "SENDGRID_HOST": host}),
                               outbox=project.outbox_dir)
        assert bool(made.warnings) is warned, host


@pytest.mark.parametrize(("base", "url"), [
    ("https://x.example/u", "https://x.example/u?t=TOKEN"),
    ("https://x.example/u?list=a", "https://x.example/u?list=a&t=TOKEN"),
    ("https://x.example/u?list=a#top", "https://x.example/u?list=a&t=TOKEN#top"),
    ("https://x.example/u#top", "https://x.example/u?t=TOKEN#top"),
])
def test_the_token_goes_in_the_query(base: str, url: str) -> None:
    assert with_token(base, "TOKEN") == url


# -- the outbox ---------------------------------------------------------------------------

def test_outbox_names_are_unique_and_fit_the_file_system(engine: Engine, project: Project,
                                                         tmp_path: Path) -> None:
    long_local = "a" * 64
    long_address = f"{long_local}@{'b' * 60}.{'c' * 60}.{'d' * 59}.example"
    assert len(long_address) <= 254
    addresses = ["o'brien@example.org", "o_brien@example.org", "o#brien@example.org",
                 "O_Brien@Example.org", "josé@exámple.org", long_address]
    for address in addresses:
        if address != "O_Brien@Example.org":
            store.add(engine, address)
    report = run_send(engine, project, transport="outbox", outbox=tmp_path)
    files = sorted(p.name for p in (tmp_path / "2024-07-23").iterdir())
    assert report.complete and len(files) == 5 and len(set(files)) == 5
    assert file_name("o_brien@example.org") in files  # named by a hash, never the address
    assert not any("@" in name or "brien" in name for name in files)
    assert all(len(name.encode()) <= 255 for name in files)
    assert file_name("o'brien@example.org") != file_name("o#brien@example.org")
    assert file_name("x@example.org") == file_name("X@Example.org")  # compared without case


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KB file system of our own: a full disk without filling the machine's."""
    need(os.geteuid() == 0 and Path("/bin/mount").exists(), "mount (root) for a tmpfs")
    where = tmp_path / "tiny"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], check=True)
    yield where
    subprocess.run(["umount", str(where)], check=True)


def test_a_full_disk_leaves_the_rest_pending_and_no_half_files(
        engine: Engine, project: Project, tiny_disk: Path) -> None:
    add_subscribers(engine, 40)  # about 12 KB a message: the disk holds a few
    report = run_send(engine, project, transport="outbox", outbox=tiny_disk)
    written = sorted((tiny_disk / "2024-07-23").iterdir())
    status = Ledger(engine, "2024-07-23").status()
    assert not report.complete and "No space left on device" in " ".join(report.errors)
    assert [p for p in written if p.name.startswith(".")] == []  # no temporary files
    assert status.counts["sent"] == len(written) and status.counts["uncertain"] == 0
    assert status.counts["pending"] == 40 - len(written) > 0
    subprocess.run(["umount", str(tiny_disk)], check=True)  # room again (a new, empty disk)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(tiny_disk)], check=True)
    again = run_send(engine, project, transport="outbox", outbox=tiny_disk)
    assert again.complete and again.sent == 40 - len(written)  # only the rest


def test_a_folder_that_cannot_be_made_is_not_uncertain(engine: Engine, project: Project,
                                                       tmp_path: Path) -> None:
    add_subscribers(engine, 3)
    (tmp_path / "2024-07-23").write_text("a file where the folder should be")
    report = run_send(engine, project, transport="outbox", outbox=tmp_path)
    assert not report.complete
    assert Ledger(engine, "2024-07-23").status().counts == {
        "pending": 3, "sent": 0, "skipped": 0, "failed": 0, "uncertain": 0}


# -- what may be sent ---------------------------------------------------------------------

def test_a_draft_with_todo_is_never_sent(project_dir: Path) -> None:
    run("subscribers", "add", "ann@example.org")
    assert run("new", "2024-08-09")[0] == 0
    for extra in ([], ["--allow-warnings"]):
        code, out = run("send", "2024-08-09", *extra)
        assert code == 1 and "still contains the placeholder 'TODO'" in out
        assert out.endswith("Error: not sent: 0 errors, 5 warnings; a TODO left in the issue "
                            "is never sent\n") or "a TODO left in the issue is never sent" in out
    assert not (project_dir / "outbox" / "2024-08-09").exists()


def test_warnings_need_allow_warnings(project_dir: Path) -> None:
    run("subscribers", "add", "ann@example.org")
    path = project_dir / "issues" / "2024-08-01.yaml"
    path.write_text(GOOD_ISSUE.replace("preheader: The preheader\n", ""))  # a warning
    code, out = run("send", "2024-08-01")
    assert code == 1 and out.endswith(
        "Error: not sent: 1 warning; fix them, or send anyway with --allow-warnings\n")
    assert run("send", "2024-08-01", "--allow-warnings")[0] == 0


def test_a_changed_issue_is_not_resumed_without_asking(cli_sendgrid: FakeSendGrid,
                                                       project_dir: Path) -> None:
    cli_sendgrid.then(Answer(), *[error(500, "down") for _ in range(10)])
    assert run("send", "2024-07-23", "--max-attempts", "1", "--concurrency", "1")[0] == 3
    issue = project_dir / "issues" / "2024-07-23.yaml"
    first_subject = cli_sendgrid.accepted[0]["subject"]
    issue.write_text(issue.read_text().replace("subject: ", "subject: Corrected, ", 1))
    cli_sendgrid.script.clear()
    code, out = run("send", "2024-07-23")
    assert code == 1 and f"the subject changed from {first_subject!r} to " in out
    assert "2 of 4 recipients already have the earlier version" in out
    assert "--accept-changes" in out and len(cli_sendgrid.accepted) == 1
    assert run("send", "2024-07-23", "--accept-changes")[0] == 0
    assert cli_sendgrid.accepted[1]["subject"].startswith("Corrected, ")
    assert len(cli_sendgrid.recipients()) == 4


# -- signals ------------------------------------------------------------------------------

def test_sigterm_settles_what_is_in_flight_and_stops(engine: Engine, project_dir: Path) -> None:
    config = project_dir / "newsletter.yaml"
    config.write_text(config.read_text() + "delivery:\n  sendgrid:\n    batch_size: 5\n")
    add_subscribers(engine, 20)
    with FakeSendGrid() as fake:
        env = {**os.environ, "SENDGRID_API_KEY": API_KEY, "SENDGRID_HOST": fake.url,
               "NEWSLETTER_SECRET": "s",
               "DATABASE_URL": engine.url.render_as_string(hide_password=False)}
        fake.then(Answer(), Answer(hold=True))
        command = [NEWSLETTER, "--config", str(config), "send", "2024-07-23",
                   "--transport", "sendgrid", "--concurrency", "1"]
        sending = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        assert fake.arrived.wait(60), "the second request never arrived"
        sending.send_signal(signal.SIGTERM)
        fake.release.set()  # the request in flight is answered: it must be settled
        out, _ = sending.communicate(timeout=60)
        assert sending.returncode == 3, out
        assert "stopped by SIGTERM: the requests in flight were settled" in out
        assert "Traceback" not in out
        status = Ledger(engine, "2024-07-23").status()
        assert status.counts == {"pending": 10, "sent": 10, "skipped": 0, "failed": 0,
                                 "uncertain": 0}
        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stderr
        assert len(fake.recipients()) == 20 and len(set(fake.recipients())) == 20


# -- addresses and names ------------------------------------------------------------------

def test_names_with_line_breaks_are_cleaned_on_import(engine: Engine, tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text('email,name\nann@example.org,"Ann\nSmith"\nbob@example.org,'
                      '"Bob\x1b[31m\u2028Red"\n', encoding="utf-8")
    report = store.import_csv(engine, people)
    assert report.added == 2 and report.problems == []
    assert {s.email: s.name for s in store.listing(engine)} == {
        "ann@example.org": "Ann Smith", "bob@example.org": "Bob [31m Red"}
    assert store.add(engine, "cy@example.org", name="Cy\r\nBcc: x@y").name == "Cy Bcc: x@y"


def test_international_addresses_in_the_outbox(engine: Engine, project: Project,
                                               tmp_path: Path) -> None:
    import email
    from email import policy

    for address in ("josé@exámple.org", "ann@bücher.example"):
        store.add(engine, address, name="Zoë")
    assert run_send(engine, project, transport="outbox", outbox=tmp_path).complete
    tos = set()
    for path in (tmp_path / "2024-07-23").iterdir():
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        tos.add(str(message["To"]))
    assert tos == {"Zoë <josé@xn--exmple-qta.org>", "Zoë <ann@xn--bcher-kva.example>"}


def test_an_international_from_address_builds_and_sends(engine: Engine, project_dir: Path,
                                                        tmp_path: Path) -> None:
    config = project_dir / "newsletter.yaml"
    config.write_text(config.read_text().replace("address: brief@bigmedia.example",
                                                 "address: brief@bücher.example"))
    assert settings.load(config).sender.address == "brief@bücher.example"
    code, out = run("build", "2024-07-23", "--out", str(tmp_path / "built"))
    assert code == 0, out
    eml = (tmp_path / "built" / "email.eml").read_bytes()
    assert b"<brief@xn--bcher-kva.example>" in eml and b"@xn--bcher-kva.example>" in eml
    project = Project(config)
    store.add(engine, "ann@example.org")
    assert run_send(engine, project, transport="outbox", outbox=tmp_path).complete


def test_sendgrid_carries_international_addresses(engine: Engine, project: Project,
                                                  sendgrid_env: FakeSendGrid) -> None:
    store.add(engine, "josé@exámple.org")
    report = run_send(engine, project)
    assert report.complete and sendgrid_env.recipients() == ["josé@exámple.org"]


def test_a_rejected_request_releases_the_batch(engine: Engine, project: Project,
                                              sendgrid_env: FakeSendGrid) -> None:
    add_subscribers(engine, 2)
    sendgrid_env.then(error(400, "bad"))
    with pytest.raises(TransportRejected):
        run_send(engine, project)
    assert Ledger(engine, "2024-07-23").status().counts["uncertain"] == 0
    assert make_transport(project).scheduler() is not None


def test_an_issue_edited_after_its_send_finished_is_not_an_error(cli_sendgrid: FakeSendGrid,
                                                                 project_dir: Path) -> None:
    # The hourly scheduled run goes on after the send, and editors fix typos for the archive.
    assert run("send", "2024-07-23")[0] == 0
    issue = project_dir / "issues" / "2024-07-23.yaml"
    issue.write_text(issue.read_text().replace("subject: ", "subject: Corrected, ", 1))
    code, out = run("send", "2024-07-23")
    assert code == 0 and "2024-07-23 was already sent (4 delivered); nothing to do" in out
    assert len(cli_sendgrid.recipients()) == 4
