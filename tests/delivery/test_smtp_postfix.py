"""The SMTP provider against a real MTA: Debian's Postfix on a loopback port.

Each test starts a Postfix instance of its own (its own configuration, queue and Maildir
in a temporary folder; ``postfix -c DIR start``, stopped after) that takes mail only from
127.0.0.1 on 127.0.0.1, requires STARTTLS (a trustme certificate), offers SMTPUTF8, and
delivers ``@example.org`` to one Maildir the test reads; anything else gets an error, and
no mail leaves the machine (``default_transport = error``, no relay host). Skipped when
Postfix is not installed or the tests do not run as root; failing instead in CI.
"""

from __future__ import annotations

import dataclasses
import email
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from newsletter.delivery.send import SendReport
from newsletter.errors import SendPaused, TransportRejected
from newsletter.project import Project
from newsletter.store import db
from newsletter.store import subscribers as store
from newsletter.store.ledger import Ledger
from tests.helpers import FAST, add_subscribers, need, run_send

trustme = pytest.importorskip("trustme")
POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
NOBODY = 65534  # the Maildir's owner: Postfix's virtual delivery agent writes as this uid


class Postfix:
    """One Postfix instance in ``root``: configuration, queue, data, Maildir, log."""

    def __init__(self, root: Path, port: int, cert: Path, key: Path) -> None:
        self.root, self.port = root, port
        self.etc, self.maildir = root / "etc", root / "mail" / "inbox"
        self.recipients = self.etc / "recipients"  # check_recipient_access: what to refuse
        for folder in ("etc", "queue", "data", "mail"):
            (root / folder).mkdir()
        shutil.chown(root / "data", "postfix")
        os.chown(root / "mail", NOBODY, NOBODY)
        (self.etc / "mailboxes").write_text("/./ inbox/\n")  # everyone: one Maildir
        self.recipients.write_text("")
        (self.etc / "main.cf").write_text(_MAIN_CF.format(root=root, cert=cert, key=key))
        (self.etc / "master.cf").write_text(_MASTER_CF.format(port=port))

    def command(self, *args: str) -> None:
        done = subprocess.run([POSTFIX, "-c", str(self.etc), *args], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, f"postfix {' '.join(args)}: {done.stderr}\n{self.log()}"

    def start(self) -> None:
        self.command("start")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError(f"Postfix did not listen on {self.port}:\n{self.log()}")

    def stop(self) -> None:
        self.command("stop")

    def set(self, **settings: str) -> None:
        """Change main.cf (``postconf -e``) and have the daemons read it again."""
        subprocess.run(["postconf", "-c", str(self.etc), "-e",
                        *(f"{k}={v}" for k, v in settings.items())], check=True)
        self.command("reload")

    def refuse(self, lines: str) -> None:
        """The recipient access map (``address  4NN/5NN words``), read afresh."""
        self.recipients.write_text(lines)
        self.command("reload")

    def log(self) -> str:
        path = self.root / "maillog"
        return "\n".join(path.read_text().splitlines()[-20:]) if path.exists() else ""

    def delivered(self, count: int | None = None, timeout: float = 30) -> list[EmailMessage]:
        """What is in the Maildir: once ``count`` messages are there (and, for None, once
        the queue is empty), parsed as UTF-8 messages (RFC 6532)."""
        deadline = time.monotonic() + timeout
        while True:
            files = sorted((self.maildir / "new").glob("*")) if self.maildir.exists() else []
            queued = any(p.is_file() for folder in _QUEUES
                         for p in (self.root / "queue" / folder).rglob("*"))
            if (len(files) >= count) if count is not None else not queued:
                break
            assert time.monotonic() < deadline, f"{len(files)} delivered:\n{self.log()}"
            time.sleep(0.05)
        return [email.message_from_string(p.read_bytes().decode("utf-8"),
                                          policy=policy.default)  # type: ignore[misc]
                for p in files]


_QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")
_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
myhostname = mx.test.invalid
mydestination =
relayhost =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
default_transport = error:no mail leaves this test
relay_transport = error:no mail leaves this test
local_transport = error:no local delivery here
alias_maps =
alias_database =
virtual_mailbox_domains = example.org
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = regexp:{root}/etc/mailboxes
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
smtputf8_enable = yes
smtpd_tls_security_level = encrypt
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_received_header = yes
smtpd_recipient_restrictions = check_recipient_access texthash:{root}/etc/recipients,
    permit_mynetworks, reject_unauth_destination
"""

_MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def postfix(monkeypatch: pytest.MonkeyPatch) -> Iterator[Postfix]:
    need(Path(POSTFIX).exists() and shutil.which("postconf") is not None,
         "Postfix (Debian's postfix package)")
    need(os.geteuid() == 0, "root (Postfix starts as root)")
    # Not under pytest's tmp_path: its base is private to root, and Postfix's daemons run
    # as the postfix user (and deliver as nobody) inside this folder.
    root = Path(tempfile.mkdtemp(prefix="newsletter-postfix-", dir="/tmp"))
    root.chmod(0o755)
    ca = trustme.CA()
    (root / "tls").mkdir()
    cert, key, ca_file = root / "tls" / "cert.pem", root / "tls" / "key.pem", root / "ca.pem"
    issued = ca.issue_cert("127.0.0.1", "localhost")
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    server = Postfix(root, _free_port(), cert, key)
    server.start()
    for name, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(server.port),
                        "SMTP_SECURITY": "starttls", "SMTP_CA_FILE": str(ca_file),
                        "NEWSLETTER_SECRET": "test-secret"}.items():
        monkeypatch.setenv(name, value)
    try:
        yield server
    finally:
        with_server = subprocess.run([POSTFIX, "-c", str(server.etc), "status"],
                                     capture_output=True)
        if with_server.returncode == 0:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _to(messages: list[EmailMessage]) -> list[str]:
    """Whom each delivered message was for (the envelope, as Postfix records it)."""
    return [str(m["Delivered-To"]) for m in messages]


def test_starttls_smtputf8_and_names_through_postfix(engine: Engine, project: Project,
                                                     postfix: Postfix) -> None:
    store.add(engine, "josé@example.org", name="Zoë, Ünal")
    store.add(engine, "hans@example.org", name='Müller, Hans "Hänschen"')
    store.add(engine, "ann@example.org", name="Ann (editor) <boss@example.org>")
    report = run_send(engine, project, transport="smtp")
    assert report.complete and report.counts["sent"] == 3
    messages = postfix.delivered(3)
    assert sorted(_to(messages)) == ["ann@example.org", "hans@example.org",
                                     "josé@example.org"]
    names = {m["Delivered-To"]: [(a.display_name, a.addr_spec) for a in m["To"].addresses]
             for m in messages}
    assert names == {"josé@example.org": [("Zoë, Ünal", "josé@example.org")],
                     "hans@example.org": [('Müller, Hans "Hänschen"', "hans@example.org")],
                     "ann@example.org": [("Ann (editor) <boss@example.org>",
                                          "ann@example.org")]}
    # Postfix notes the TLS session in its Received header: STARTTLS was used.
    assert all("using TLS" in str(m.get_all("Received")) for m in messages)


def test_a_greylisted_reader_is_held_then_sent_by_the_next_run(
        engine: Engine, project: Project, postfix: Postfix) -> None:
    everyone = add_subscribers(engine, 4)
    postfix.refuse("reader1@example.org 450 4.2.0 Greylisted, try again later\n")
    held = dataclasses.replace(FAST, retry_deferred_after=0.01)
    first = run_send(engine, project, transport="smtp", options=held)
    assert first.counts["pending"] == 1 and first.counts["failed"] == 0
    assert first.deferred == 1 and not first.complete
    [(_, why)] = Ledger(engine, "2024-07-23").errors()
    assert "450 4.2.0 <[address]>: Recipient address rejected: Greylisted" in why
    assert "@" not in why
    assert sorted(_to(postfix.delivered(3))) == sorted(set(everyone) - {everyone[1]})

    postfix.refuse("")  # the greylisting time is over
    second = run_send(engine, project, transport="smtp", options=held)
    assert second.complete and second.counts["sent"] == 4
    assert sorted(_to(postfix.delivered(4))) == sorted(everyone)  # each once


def test_a_final_refusal_through_postfix(engine: Engine, project: Project,
                                         postfix: Postfix) -> None:
    add_subscribers(engine, 3)
    postfix.refuse("reader2@example.org 550 5.1.1 No such mailbox\n")
    report = run_send(engine, project, transport="smtp")
    assert report.counts["failed"] == 1 and report.counts["pending"] == 0
    assert report.errors == ["550 5.1.1 <[address]>: Recipient address rejected: No such "
                             "mailbox (refused for good: sending again will not reach them)"]


def test_a_size_refusal_stops_the_send_and_keeps_everyone(engine: Engine, project: Project,
                                                          postfix: Postfix) -> None:
    everyone = add_subscribers(engine, 3)
    postfix.set(message_size_limit="4000")  # the issue is larger
    with pytest.raises(TransportRejected, match="SMTP 552 5.3.4 Message size exceeds "
                                                 "fixed limit"):
        run_send(engine, project, transport="smtp")
    assert Ledger(engine, "2024-07-23").status().counts["pending"] == 3
    assert postfix.delivered() == []

    postfix.set(message_size_limit="10240000")
    assert run_send(engine, project, transport="smtp").complete
    assert sorted(_to(postfix.delivered(3))) == sorted(everyone)


def test_an_outage_mid_send_then_a_rerun_delivers_each_once(
        engine: Engine, project: Project, postfix: Postfix) -> None:
    everyone = add_subscribers(engine, 30)
    slow = dataclasses.replace(FAST, rate=15.0, max_attempts=2)  # two seconds of sending
    outcome: list[BaseException | SendReport] = []

    def send() -> None:
        try:
            outcome.append(run_send(engine, project, transport="smtp", options=slow))
        except BaseException as exc:
            outcome.append(exc)

    sending = threading.Thread(target=send)
    sending.start()
    postfix.delivered(5)
    postfix.stop()  # the outage: the server goes away mid-send
    sending.join(120)
    [first] = outcome
    assert isinstance(first, SendPaused), first  # three batches found no server
    before = Ledger(engine, "2024-07-23").status().counts
    assert before["pending"] > 0

    postfix.start()
    again = run_send(engine, project, transport="smtp")
    counts = again.counts
    assert counts["pending"] == 0 and counts["failed"] == 0
    assert counts["sent"] + counts["uncertain"] == len(everyone)
    delivered = _to(postfix.delivered())
    assert {a: n for a, n in Counter(delivered).items() if n > 1} == {}  # none twice
    # Only a message whose answer the outage swallowed can be uncertain: it is reported,
    # never sent again unasked. Everyone else is in the Maildir, once.
    uncertain = _uncertain(engine)
    assert len(uncertain) == counts["uncertain"]
    assert set(everyone) - uncertain <= set(delivered) <= set(everyone)


def _uncertain(engine: Engine) -> set[str]:
    """The addresses on the lists of the send's uncertain batches."""
    with engine.connect() as conn:
        ids = [sid for readers in conn.execute(select(db.batches.c.readers).where(
            db.batches.c.issue == "2024-07-23", db.batches.c.state == "uncertain")).scalars()
            for sid in readers or ()]
        return set(conn.execute(select(db.subscribers.c.email).where(
            db.subscribers.c.id.in_(ids))).scalars())
