"""The transports, by name. Adding one is a module in this folder and a line in REGISTRY.

Each transport's settings are the block named after it under ``delivery:`` in
newsletter.yaml (``delivery.sendgrid``, ``delivery.smtp``, ``delivery.outbox``),
validated by the transport's own model, with the file's line and column in every error.
"""

from __future__ import annotations

from pathlib import Path

from newsletter.config import Environment
from newsletter.content.schema import validate_part
from newsletter.content.settings import Publication
from newsletter.delivery.personalize import Personalizer, signing_key
from newsletter.delivery.transports.base import (
    Options,
    Outcome,
    Scheduler,
    Setup,
    Transport,
)
from newsletter.delivery.transports.outbox import OutboxTransport
from newsletter.delivery.transports.sendgrid import SendGridTransport
from newsletter.delivery.transports.smtp import SmtpTransport
from newsletter.errors import ConfigError, Problem, ProblemsFound

__all__ = ["NAMES", "REGISTRY", "Options", "Outcome", "Scheduler", "Setup", "Transport",
           "auto_name", "make", "options_problems"]

REGISTRY: dict[str, type[Transport]] = {
    transport.name: transport for transport in (SendGridTransport, SmtpTransport, OutboxTransport)
}
NAMES = ("auto", *REGISTRY)

# Settings that lived directly under ``delivery:`` before each transport had its block.
_MOVED = {"asm_group_id": "sendgrid.asm_group_id", "categories": "sendgrid.categories",
          "batch_size": "sendgrid.batch_size (and outbox.batch_size)",
          "smtp_batch_size": "smtp.batch_size"}


def auto_name(env: Environment) -> str:
    """SendGrid with SENDGRID_API_KEY, SMTP with SMTP_HOST, else the outbox."""
    return "sendgrid" if env.sendgrid_api_key else "smtp" if env.smtp.host else "outbox"


def options_for(name: str, publication: Publication) -> Options:
    """The transport's settings block, validated; ProblemsFound with positions if not."""
    model = REGISTRY[name].options_model
    block = publication.delivery.transport_blocks().get(name)
    parsed, problems = validate_part(model, publication.source, ("delivery", name), block)
    if problems or parsed is None:
        raise ProblemsFound(problems)
    return parsed


def options_problems(publication: Publication) -> list[Problem]:
    """Every problem in the transports' blocks of newsletter.yaml (for ``check``)."""
    doc = publication.source
    found: list[Problem] = []
    for key in publication.delivery.transport_blocks():
        if key not in REGISTRY:
            hint = f"; it is now delivery.{_MOVED[key]}" if key in _MOVED else \
                f"; the transports are {', '.join(REGISTRY)}"
            found.append(doc.problem(("delivery", key), f"unknown setting {key!r}{hint}",
                                     key=True))
    blocks = publication.delivery.transport_blocks()
    for name, transport in REGISTRY.items():
        found += validate_part(transport.options_model, doc, ("delivery", name),
                               blocks.get(name))[1]
    return found


def make(name: str, publication: Publication, env: Environment, *, outbox: Path,
         signs_links: bool = True) -> Transport:
    """The transport called ``name`` (or the one ``auto`` picks), ready to send.
    ``signs_links=False`` for work that puts no reader link anywhere (reading the
    provider's lists): then NEWSLETTER_SECRET is not asked for."""
    name = auto_name(env) if name == "auto" else name
    if name not in REGISTRY:
        raise ConfigError(f"unknown transport {name!r}; one of: {', '.join(NAMES)}")
    problems = options_problems(publication)
    if problems:
        raise ProblemsFound(problems)
    transport = REGISTRY[name]
    options = options_for(name, publication)
    key = signing_key(env, required=signs_links and transport.needs_secret(options))
    setup = Setup(publication, env, Personalizer(publication, key), outbox)
    return transport(setup, options)
