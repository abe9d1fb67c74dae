"""SMTP's settings: the block ``delivery.smtp`` of newsletter.yaml (the transport's
``SmtpOptions``) and its variables in the environment: ``SMTP_HOST`` (which sets SMTP
up), ``SMTP_PORT``, ``SMTP_SECURITY`` (starttls, tls or none), ``SMTP_USERNAME``,
``SMTP_PASSWORD``, ``SMTP_CA_FILE``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from newsletter.config import Environment

HOST = "SMTP_HOST"


@dataclass(frozen=True)
class SmtpEnvironment:
    host: str = ""
    port: str = ""
    security: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""

    @classmethod
    def read(cls, env: Environment) -> SmtpEnvironment:
        # The password as given: blanks at its ends may be part of it.
        return cls(env.get(HOST), env.get("SMTP_PORT"), env.get("SMTP_SECURITY"),
                   env.get("SMTP_USERNAME"), env.variables.get("SMTP_PASSWORD", ""),
                   env.get("SMTP_CA_FILE"))


def configured(env: Environment) -> bool:
    return bool(env.get(HOST))
