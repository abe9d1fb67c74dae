"""SendGrid's settings: the block ``delivery.sendgrid`` of newsletter.yaml (what the
publication chooses), and its variables in the environment (the key, and where SendGrid
is).

- ``SENDGRID_API_KEY``: sets SendGrid up (``auto`` picks it first).
- ``SENDGRID_HOST``: a stand-in SendGrid (tests, a proxy); default the real one.
- ``SENDGRID_WEBHOOK_PUBLIC_KEY``: checks the Event Webhook's signatures (base64 DER);
  without it the service mounts no webhook for SendGrid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field

from newsletter.config import Environment
from newsletter.content.schema import Text
from newsletter.delivery.providers.base import Options

API_KEY = "SENDGRID_API_KEY"
HOST = "SENDGRID_HOST"
WEBHOOK_KEY = "SENDGRID_WEBHOOK_PUBLIC_KEY"


class SendGridOptions(Options):
    asm_group_id: Annotated[int, Field(ge=1)] | None = None  # an unsubscribe group
    # Our own categories; the (issue-DATE) is added. SendGrid takes ten at most.
    categories: Annotated[tuple[Text, ...], Field(max_length=9)] = ("newsletter",)


@dataclass(frozen=True)
class SendGridEnvironment:
    api_key: str = field(default="", repr=False)
    host: str = ""
    webhook_key: str = ""

    @classmethod
    def read(cls, env: Environment) -> SendGridEnvironment:
        return cls(env.get(API_KEY), env.get(HOST), env.get(WEBHOOK_KEY))


def configured(env: Environment) -> bool:
    return bool(env.get(API_KEY))
