"""The providers, by name: the one module that imports a provider's package.

It answers, for the rest of the code: which providers there are (:func:`names`), which
one ``auto`` picks (:func:`auto_name`), a provider's transport (:func:`make`), its
webhook (:func:`webhooks`), its suppression source (:func:`suppression_sources`), its
stats source (:func:`stats_sources`) and its scheduler (:func:`scheduler`).

``auto`` asks each provider's own "am I set up" check, in this order: the providers that
need something set up, in the order of :data:`PROVIDERS` (SendGrid with
SENDGRID_API_KEY, then SES with SES_REGION, then SMTP with SMTP_HOST), then those that
need nothing (the outbox). AWS credentials alone never choose SES: SES_REGION must say so.
Adding a provider is a package under ``delivery/providers/`` and a line in PROVIDERS
(docs/architecture.md, "Adding a provider").

Each provider's settings are the block named after it under ``delivery:`` in
newsletter.yaml, validated by its transport's own model, with the file's line and column
in every error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from newsletter.config import Environment
from newsletter.content.schema import validate_part
from newsletter.content.settings import Publication
from newsletter.delivery.personalize import Personalizer, signing_key
from newsletter.delivery.providers import outbox, sendgrid, ses, smtp
from newsletter.delivery.providers.base import (
    Options,
    Outcome,
    Provider,
    Scheduler,
    Setup,
    StatsSource,
    SuppressionSource,
    Transport,
    Webhook,
)
from newsletter.errors import ConfigError, Problem, ProblemsFound

T = TypeVar("T")

__all__ = ["PROVIDERS", "Options", "Outcome", "Provider", "Scheduler", "Setup", "Transport",
           "Webhook", "auto_help", "auto_name", "make", "names", "options_problems", "provider",
           "scheduler", "stats_sources", "suppression_sources", "webhooks"]

PROVIDERS: dict[str, Provider] = {
    p.name: p for p in (sendgrid.PROVIDER, ses.PROVIDER, smtp.PROVIDER, outbox.PROVIDER)
}

# Settings that lived directly under ``delivery:`` before each transport had its block.
_MOVED = {"asm_group_id": "sendgrid.asm_group_id", "categories": "sendgrid.categories",
          "batch_size": "sendgrid.batch_size (and outbox.batch_size)",
          "smtp_batch_size": "smtp.batch_size"}


def names() -> tuple[str, ...]:
    """What ``--transport`` takes: ``auto`` and every provider."""
    return ("auto", *PROVIDERS)


def auto_help() -> str:
    """How ``auto`` chooses, in words, for ``--help``."""
    steps = [f"{p.name} if {p.needs} is set" for p in ordered() if not p.fallback]
    return ", ".join(steps + [f"else {p.name}" for p in ordered() if p.fallback][:1])


def ordered() -> Iterator[Provider]:
    """The providers in the order ``auto`` asks them: those that need setting up first."""
    yield from (p for p in PROVIDERS.values() if not p.fallback)
    yield from (p for p in PROVIDERS.values() if p.fallback)


def auto_name(env: Environment) -> str:
    """The first provider, in :func:`ordered`'s order, that says it is set up."""
    return next(p.name for p in ordered() if p.configured(env))


def configured(env: Environment) -> list[Provider]:
    """The providers set up in ``env`` (those that need nothing count only as a fallback,
    never as set up)."""
    return [p for p in ordered() if not p.fallback and p.configured(env)]


def provider(name: str) -> Provider:
    if name not in PROVIDERS:
        raise ConfigError(f"unknown transport {name!r}; one of: {', '.join(names())}")
    return PROVIDERS[name]


def options_for(name: str, publication: Publication) -> Options:
    """The provider's settings block, validated; ProblemsFound with positions if not."""
    model = PROVIDERS[name].transport.options_model
    block = publication.delivery.transport_blocks().get(name)
    parsed, problems = validate_part(model, publication.source, ("delivery", name), block)
    if problems or parsed is None:
        raise ProblemsFound(problems)
    return parsed


def options_problems(publication: Publication) -> list[Problem]:
    """Every problem in the providers' blocks of newsletter.yaml (for ``check``)."""
    doc = publication.source
    found: list[Problem] = []
    for key in publication.delivery.transport_blocks():
        if key not in PROVIDERS:
            hint = f"; it is now delivery.{_MOVED[key]}" if key in _MOVED else \
                f"; the transports are {', '.join(PROVIDERS)}"
            found.append(doc.problem(("delivery", key), f"unknown setting {key!r}{hint}",
                                     key=True))
    blocks = publication.delivery.transport_blocks()
    for name, known in PROVIDERS.items():
        found += validate_part(known.transport.options_model, doc, ("delivery", name),
                               blocks.get(name))[1]
    return found


def make(name: str, publication: Publication, env: Environment, *, outbox: Path,
         signs_links: bool = True) -> Transport:
    """The transport of provider ``name`` (or the one ``auto`` picks), ready to send.
    ``signs_links=False`` for work that puts no reader link anywhere (reading the
    provider's lists): then NEWSLETTER_SECRET is not asked for."""
    name = auto_name(env) if name == "auto" else name
    transport = provider(name).transport
    problems = options_problems(publication)
    if problems:
        raise ProblemsFound(problems)
    options = options_for(name, publication)
    key = signing_key(env, required=signs_links and transport.needs_secret(options))
    setup = Setup(publication, env, Personalizer(publication, key), outbox)
    return transport(setup, options)


def webhooks(env: Environment) -> dict[str, Webhook[Any]]:
    """The webhook of every provider that has one set up in ``env``, by provider name
    (the service mounts each at ``/webhooks/NAME``). A ConfigError for one set up wrong."""
    found: dict[str, Webhook[Any]] = {}
    for known in PROVIDERS.values():
        hook = known.webhook(env) if known.webhook else None
        if hook is not None:
            found[known.name] = hook
    return found


def suppression_sources(publication: Publication, env: Environment, *, outbox: Path
                        ) -> dict[str, SuppressionSource]:
    """The suppression source of every provider set up in ``env`` that has one. A
    ConfigError naming what sets one up when none is."""
    return _sources(publication, env, outbox, lambda p: p.suppressions,
                    "no provider with suppression lists is set up")


def stats_sources(publication: Publication, env: Environment, *, outbox: Path
                  ) -> dict[str, StatsSource]:
    """The stats source of every provider set up in ``env`` that has one. A ConfigError
    naming what sets one up when none is."""
    return _sources(publication, env, outbox, lambda p: p.stats,
                    "stats sync: no provider with statistics is set up")


def _sources(publication: Publication, env: Environment, outbox: Path,
             capability: Callable[[Provider], Callable[[Transport], T] | None],
             none_set_up: str) -> dict[str, T]:
    """What ``capability`` makes of each provider set up in ``env`` that has it."""
    sources: dict[str, T] = {}
    for provider in configured(env):
        source = capability(provider)
        if source is not None:
            sources[provider.name] = source(make(provider.name, publication, env,
                                                 outbox=outbox, signs_links=False))
    if not sources:
        wanted = " or ".join(p.needs for p in PROVIDERS.values() if capability(p)) \
            or "a provider that keeps them"
        raise ConfigError(f"{none_set_up}: set {wanted}")
    return sources


def scheduler(transport: Transport) -> Scheduler | None:
    """The provider's way to deliver later, or None when it has none."""
    return transport.scheduler()
