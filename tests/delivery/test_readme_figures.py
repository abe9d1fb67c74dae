"""The docs' figures about delivery are the code's: each is read from its constant or
default here and looked for in the words of the page that states it (docs/delivery.md,
docs/commands.md, docs/operators.md, docs/providers/sendgrid.md; white space made single),
so changing one without the other fails."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import Engine

from newsletter.delivery.providers.base import Options
from newsletter.delivery.providers.outbox.transport import OutboxTransport
from newsletter.delivery.providers.sendgrid.transport import SendGridOptions, SendGridTransport
from newsletter.delivery.providers.smtp.transport import SmtpOptions
from newsletter.delivery.send import MAX_FAILED_BATCHES, RENEW_EVERY, SendOptions, SendReport
from newsletter.errors import SendPaused
from newsletter.project import Project
from tests.fakes.sendgrid_server import FakeSendGrid, error
from tests.helpers import FAST, REPO, add_subscribers, run_send, with_delivery

WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def _words(page: str) -> str:
    return " ".join((REPO / "docs" / page).read_text().split())


DELIVERY = _words("delivery.md")
COMMANDS = _words("commands.md")
OPERATORS = _words("operators.md")
SENDGRID = _words("providers/sendgrid.md")
SMTP = _words("providers/smtp.md")
OUTBOX = _words("providers/outbox.md")
DEFAULTS = SendOptions()


def _largest_batch() -> int:
    [limit] = [m.le for m in SendGridOptions.model_fields["batch_size"].metadata
               if getattr(m, "le", None) is not None]
    return int(limit)


FIGURES = [
    (DELIVERY, f"up to {_largest_batch():,} recipients a request through SendGrid"),
    (DELIVERY, f"After {WORDS[MAX_FAILED_BATCHES]} batches fail all their attempts the "
               "send pauses"),
    (DELIVERY, f"at most {DEFAULTS.max_attempts} attempts a batch (`--max-attempts`)"),
    (DELIVERY, f"at most {DEFAULTS.retry_cap / 60:g} minutes between two"),
    (DELIVERY, f"tried again in the same run after {DEFAULTS.retry_deferred_after:g} "
               "seconds, else by the next run"),
    (DELIVERY, f"renews it every {RENEW_EVERY:g} seconds or so"),
    (DELIVERY, f"A lease not renewed for {DEFAULTS.lease_timeout / 60:g} minutes "
               "(`--lease-timeout SECONDS`)"),
    (COMMANDS, f"`--concurrency N` requests at once (default {DEFAULTS.concurrency})"),
    (COMMANDS, f"`--max-attempts N` per batch (default {DEFAULTS.max_attempts})"),
    (COMMANDS, f"at most {SendGridTransport.max_ahead.total_seconds() / 3600:g} hours ahead"),
    (SENDGRID, f"at most {SendGridTransport.max_ahead.total_seconds() / 3600:g} hours ahead"),
    (SENDGRID, f"| `delivery.sendgrid.batch_size` | recipients a request carries, at most "
               f"{_largest_batch():,} | `{SendGridOptions().batch_size}` |"),
    (SENDGRID, f"| `delivery.sendgrid.timeout` | seconds to wait for an answer | "
               f"`{Options().timeout:g}` |"),
    (SMTP, f"| `delivery.smtp.batch_size` | messages a batch (the ledger records each batch) "
           f"| `{SmtpOptions().batch_size}` |"),
    (SMTP, f"| `delivery.smtp.timeout` | seconds to wait for the server | "
           f"`{Options().timeout:g}` |"),
    (OUTBOX, f"`delivery.outbox.batch_size` (files a batch, default "
             f"`{OutboxTransport.options_model().batch_size}`)"),
    (OPERATORS, "| `delivery.TRANSPORT.batch_size` | recipients a request carries: `sendgrid` (at "
             f"most {_largest_batch():,}), `smtp` (messages a batch), `outbox` | "
             f"`{SendGridOptions().batch_size}`, `{SmtpOptions().batch_size}`, "
             f"`{OutboxTransport.options_model().batch_size}` |"),
    (OPERATORS, "| `delivery.TRANSPORT.timeout` | seconds to wait for a provider's answer "
             f"(`sendgrid`, `smtp`) | `{Options().timeout:g}` |"),
]


@pytest.mark.parametrize(("text", "figure"), FIGURES, ids=[f for _, f in FIGURES])
def test_the_docs_say_what_the_code_does(text: str, figure: str) -> None:
    assert figure in text


def test_a_send_pauses_after_exactly_that_many_failed_batches_at_any_concurrency(
        engine: Engine, project: Project, sendgrid_env: FakeSendGrid) -> None:
    """The README said three and a send with four requests at once paused after six: the
    batches in flight went on retrying after the third had failed, and counted."""
    add_subscribers(engine, 20)
    sendgrid_env.then(*[error(503, "busy") for _ in range(200)])
    options = dataclasses.replace(FAST, concurrency=4, max_attempts=3)
    publication = with_delivery(project.publication, sendgrid={"batch_size": 1})
    with pytest.raises(SendPaused, match=f"^paused after {MAX_FAILED_BATCHES} failed "
                                         "batches") as paused:
        run_send(engine, project, options=options, publication=publication)
    report = paused.value.report
    assert isinstance(report, SendReport)
    assert report.counts["pending"] == 20 and report.counts["uncertain"] == 0
    assert report.failed == MAX_FAILED_BATCHES
    assert sendgrid_env.attempts < 20 * 3  # most batches never started
