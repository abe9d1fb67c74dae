"""The delivery commands as a person runs them: output lines and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.delivery.personalize import sign
from newsletter.delivery.providers.outbox.transport import file_name
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.helpers import run


@pytest.fixture(autouse=True)
def in_project(project_dir: Path) -> None:
    """Every command here runs in a copy of the publication (the environment is clean)."""



def test_quickstart_flow_on_embedded_defaults(project_dir: Path) -> None:
    (project_dir / "people.csv").write_text("email,name\nann@example.org,Ann\nbob@example.org,\n")
    assert run("subscribers", "import", "people.csv")[1] == \
        "Read 2 rows: 2 added, 0 reactivated, 0 already subscribed, 0 skipped.\n"
    code, out = run("send", "2024-07-23")
    assert code == 0
    assert "sent 2024-07-23 via outbox to 2 recipients" in out
    assert "messages are in " in out
    assert sorted(p.name for p in (project_dir / "outbox" / "2024-07-23").iterdir()) == \
        sorted(file_name(a) for a in ("ann@example.org", "bob@example.org"))
    assert (project_dir / "newsletter.sqlite3").is_file()
    code, out = run("send", "2024-07-23")
    assert code == 0 and "2024-07-23 was already sent (2 delivered); nothing to do" in out


def test_import_with_bad_rows_exits_1_but_keeps_good_ones(project_dir: Path) -> None:
    (project_dir / "people.csv").write_text("email\nok@example.org\nnope\n")
    code, out = run("subscribers", "import", "people.csv")
    assert code == 1
    assert out.splitlines() == [
        "people.csv:3: 'nope' is not a valid address: An email address must have an @-sign.",
        "Read 2 rows: 1 added, 0 reactivated, 0 already subscribed, 1 skipped.",
        "Error: 1 row not imported (the others were)",
    ]
    assert run("subscribers", "count")[1].startswith("active                 1\n")


def test_add_remove_list_export(project_dir: Path) -> None:
    assert run("subscribers", "add", "ann@example.org", "--name", "Ann") == \
        (0, "subscribed ann@example.org\n")
    assert run("subscribers", "add", "ANN@example.org") == \
        (1, "Error: ann@example.org is already subscribed\n")
    assert run("subscribers", "add", "bad") == \
        (1, "Error: 'bad' is not a valid address: An email address must have an @-sign.\n")
    assert run("subscribers", "remove", "ann@example.org") == \
        (0, "ann@example.org is now unsubscribed\n")
    code, out = run("subscribers", "list")
    assert code == 0 and out.split() == ["ann@example.org", "unsubscribed", "Ann"]
    code, out = run("subscribers", "export")
    assert code == 0 and out.startswith(
        "email,name,timezone,status,created_at,opted_in_at,confirmed_at,opt_in_ip,tags,"
        "consent_source\nann@example.org,Ann,,unsubscribed,")


def test_dry_run_and_status(project_dir: Path) -> None:
    run("subscribers", "add", "ann@example.org")
    code, out = run("send", "2024-07-23", "--dry-run")
    assert code == 0 and "dry run (new send) of 2024-07-23 via outbox: 1 of 1 recipients " \
        "left, in 1 batch; nothing was sent" in out
    assert run("status", "2024-07-23") == (1, "Error: 2024-07-23 has not been sent\n")
    run("send", "2024-07-23")
    code, out = run("status", "2024-07-23")
    assert out.splitlines()[:3] == ["2024-07-23 via outbox: 1 recipients, finished",
                                    "  pending             0", "  sent                1"]


def test_a_dry_run_says_its_ledger_figures_are_what_the_send_would_leave(
        project_dir: Path) -> None:
    """Nothing is in the ledger before the send: "ledger: 1 sent" under a dry run read as
    though it had gone, while `status` said it had not."""
    run("subscribers", "add", "ann@example.org")
    code, out = run("send", "2024-07-23", "--dry-run")
    assert code == 0 and out.splitlines()[-1] == (
        "the send would leave the ledger at: 0 pending, 1 sent, 0 skipped, 0 failed, "
        "0 uncertain")
    assert not any(line.startswith("ledger:") for line in out.splitlines())
    assert run("status", "2024-07-23") == (1, "Error: 2024-07-23 has not been sent\n")
    run("send", "2024-07-23")
    code, out = run("send", "2024-07-23", "--dry-run")  # already sent: the ledger as it is
    assert code == 0 and out.splitlines()[-1] == \
        "ledger: 0 pending, 1 sent, 0 skipped, 0 failed, 0 uncertain"


def test_status_lists_the_providers_reports_in_our_words(project_dir: Path) -> None:
    from newsletter.api import Newsletter
    from newsletter.store import events
    from newsletter.store.events import Detail, Event, Kind

    run("subscribers", "add", "ann@example.org")
    run("send", "2024-07-23")
    engine = Newsletter(project_dir / "newsletter.yaml").engine
    at = None
    events.record(engine, [
        Event("1", Kind.DELIVERED, "ann@example.org", "2024-07-23", at),
        Event("2", Kind.BOUNCED, "bob@example.org", "2024-07-23", at, Detail.HARD),
        Event("3", Kind.BOUNCED, "cat@example.org", "2024-07-23", at, Detail.SOFT),
        Event("4", Kind.BOUNCED, "dan@example.org", "2024-07-23", at, Detail.HARD),
        Event("5", Kind.OPENED, "ann@example.org", "2024-07-23", at, Detail.MACHINE),
        Event("6", Kind.CLICKED, "ann@example.org", "2024-07-23", at, url="https://a.example/")])
    code, out = run("status", "2024-07-23")
    assert code == 0
    reported = out.split("reported by the provider:\n")[1].splitlines()
    assert reported == ["  delivered             1", "  bounced               3 (hard 2, soft 1)",
                        "  opened                1 (machine 1)", "  clicked               1"]


def test_unsubscribe_by_token(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET", "s")
    run("subscribers", "add", "ann@example.org")
    from newsletter.store import db
    from newsletter.store import subscribers as store
    from newsletter.tokens import make

    ann = store.find(db.connect(f"sqlite:///{project_dir / 'newsletter.sqlite3'}"),
                     "ann@example.org")
    assert ann is not None
    assert run("unsubscribe", make(b"other", "unsubscribe", ann.link_key))[0] == 1
    # A link of the first kind (the address) is not this reader's: they came after it.
    assert run("unsubscribe", sign(b"s", "ann@example.org"))[0] == 1
    assert run("unsubscribe", make(b"s", "unsubscribe", ann.link_key)) == \
        (0, "ann@example.org is now unsubscribed\n")


def test_provider_refusal_is_one_line_without_the_key(project_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    run("subscribers", "add", "ann@example.org")
    with FakeSendGrid() as fake:
        monkeypatch.setenv("SENDGRID_API_KEY", "SG.secret-value")
        monkeypatch.setenv("SENDGRID_HOST", fake.url)
        monkeypatch.setenv("NEWSLETTER_SECRET", "s")
        code, out = run("send", "2024-07-23")
    assert code == 1
    assert out.splitlines()[-1].startswith("Error: SendGrid answered 400: bad or missing API key")
    assert "SG.secret-value" not in out


def test_secret_required_for_real_transports(project_dir: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.x")
    code, out = run("send", "2024-07-23", "--dry-run")
    assert code == 1 and "Error: NEWSLETTER_SECRET is not set" in out


@pytest.mark.parametrize("command", [("subscribers",), ("send",), ("status",), ("unsubscribe",),
                                     ("subscribers", "add"), ("subscribers", "import")])
def test_delivery_commands_have_help_with_examples(command: tuple[str, ...]) -> None:
    code, out = run(*command, "--help")
    assert code == 0 and "Examples:" in out



def test_a_proof_goes_to_its_own_folder(project_dir: Path) -> None:
    """A proof through the outbox is kept apart from the real send's messages, so that
    the folder of the send holds what the readers got and nothing else."""
    run("subscribers", "add", "ann@example.org")
    code, out = run("send", "2024-07-23", "--to", "me@example.org", "--to", "you@example.org")
    proofs = project_dir / "outbox" / "proofs" / "2024-07-23"
    assert code == 0 and out.splitlines()[-2:] == [
        "proof of 2024-07-23 sent to 2 addresses via outbox",
        "messages are in outbox/proofs/2024-07-23/"]
    assert sorted(p.name for p in proofs.iterdir()) == \
        sorted(file_name(a) for a in ("me@example.org", "you@example.org"))
    assert not (project_dir / "outbox" / "2024-07-23").exists()
    assert run("send", "2024-07-23", "--to", "me@example.org")[1].splitlines()[-2] == \
        "proof of 2024-07-23 sent to 1 address via outbox"
    run("send", "2024-07-23")
    assert [p.name for p in (project_dir / "outbox" / "2024-07-23").iterdir()] == \
        [file_name("ann@example.org")]
