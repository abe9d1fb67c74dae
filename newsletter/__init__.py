"""newsletter: a daily news digest from YAML files in git to every subscriber's inbox.

The public API is what ``__all__`` names; see docs/api.md. Names are loaded on first
use, so ``import newsletter`` costs nothing until one is touched (the command line's
``check`` and ``build`` stay fast, and the store loads no renderer).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from newsletter.version import __version__

if TYPE_CHECKING:
    from newsletter.api import (
        Built,
        CheckResult,
        Due,
        Newsletter,
        Override,
        Proof,
        Subscribers,
        Upcoming,
    )
    from newsletter.config import Environment
    from newsletter.delivery.send import Plan, SendOptions, SendReport
    from newsletter.delivery.stopping import Interrupt
    from newsletter.errors import (
        ConfigError,
        DeliveryError,
        IssueNotFound,
        NewsletterError,
        NotReady,
        OutputError,
        Problem,
        ProblemsFound,
        SendPaused,
        Severity,
        SubscriberError,
        TransportRejected,
        TransportUnavailable,
    )
    from newsletter.project import Rendered
    from newsletter.store.ledger import Status
    from newsletter.store.subscribers import ImportReport, Subscriber

_WHERE = {
    "newsletter.api": ("Built", "CheckResult", "Due", "Newsletter", "Override", "Proof",
                       "Subscribers", "Upcoming"),
    "newsletter.config": ("Environment",),
    "newsletter.delivery.send": ("Plan", "SendOptions", "SendReport"),
    "newsletter.delivery.stopping": ("Interrupt",),
    "newsletter.errors": ("ConfigError", "DeliveryError", "IssueNotFound", "NewsletterError",
                          "NotReady", "OutputError", "Problem", "ProblemsFound", "SendPaused",
                          "Severity", "SubscriberError", "TransportRejected",
                          "TransportUnavailable"),
    "newsletter.project": ("Rendered",),
    "newsletter.store.ledger": ("Status",),
    "newsletter.store.subscribers": ("ImportReport", "Subscriber"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [  # every name in _WHERE, and the version
    "Built",
    "CheckResult",
    "ConfigError",
    "DeliveryError",
    "Due",
    "Environment",
    "ImportReport",
    "Interrupt",
    "IssueNotFound",
    "Newsletter",
    "NewsletterError",
    "NotReady",
    "OutputError",
    "Override",
    "Plan",
    "Problem",
    "ProblemsFound",
    "Proof",
    "Rendered",
    "SendOptions",
    "SendPaused",
    "SendReport",
    "Severity",
    "Status",
    "Subscriber",
    "SubscriberError",
    "Subscribers",
    "TransportRejected",
    "TransportUnavailable",
    "Upcoming",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'newsletter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return __all__
