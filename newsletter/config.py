"""The environment, read once into one typed object that is passed down.

Every variable the tool reads is here, and nowhere else reads ``os.environ``: the CLI
makes one :class:`Environment` per command, a program using the API may make its own
(for instance from a mapping in a test). Secrets are kept out of ``repr`` so that an
Environment printed in a traceback or a log shows none of them.

Values are kept as given; each part that uses one checks it (the SMTP transport its port,
the store its URL), so a bad value for a transport nobody uses stops nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

CONFIG_ENV = "NEWSLETTER_CONFIG"
SECRET_ENV = "NEWSLETTER_SECRET"
DATABASE_ENV = "DATABASE_URL"
DEFAULT_CHROMIUM = "/usr/bin/chromium"


@dataclass(frozen=True)
class SmtpEnvironment:
    host: str = ""
    port: str = ""
    security: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""


@dataclass(frozen=True)
class Environment:
    config_file: str = ""  # NEWSLETTER_CONFIG: the settings file
    database_url: str = field(default="", repr=False)  # may hold a password
    secret: str = field(default="", repr=False)  # NEWSLETTER_SECRET: signs reader links
    sendgrid_api_key: str = field(default="", repr=False)
    sendgrid_host: str = ""  # a stand-in SendGrid (tests, a proxy); default the real one
    # SENDGRID_WEBHOOK_PUBLIC_KEY: checks the Event Webhook's signatures (base64 DER).
    sendgrid_webhook_key: str = ""
    smtp: SmtpEnvironment = SmtpEnvironment()
    chromium: str = DEFAULT_CHROMIUM  # CHROMIUM: the browser for screenshots

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Environment:
        env = os.environ if environ is None else environ

        def get(name: str) -> str:
            return env.get(name, "").strip()

        smtp = SmtpEnvironment(get("SMTP_HOST"), get("SMTP_PORT"), get("SMTP_SECURITY"),
                               get("SMTP_USERNAME"), env.get("SMTP_PASSWORD", ""),
                               get("SMTP_CA_FILE"))
        return cls(get(CONFIG_ENV), get(DATABASE_ENV), env.get(SECRET_ENV, ""),
                   get("SENDGRID_API_KEY"), get("SENDGRID_HOST"),
                   get("SENDGRID_WEBHOOK_PUBLIC_KEY"), smtp, get("CHROMIUM") or DEFAULT_CHROMIUM)
