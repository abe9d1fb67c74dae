"""The environment, read once into one typed object that is passed down.

Every variable the tool reads is here, and nowhere else reads ``os.environ``: the CLI
makes one :class:`Environment` per command, a program using the API may make its own
(for instance from a mapping in a test). Secrets are kept out of ``repr`` so that an
Environment printed in a traceback or a log shows none of them.

Each provider reads its own variables (its key, its host, ...) from
:attr:`Environment.variables`, in its own package (delivery/providers/NAME/settings.py):
nothing here names a provider. Values are kept as given; each part that uses one checks
it (a transport its port, the store its URL), so a bad value for a transport nobody
uses stops nothing.
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
class Environment:
    config_file: str = ""  # NEWSLETTER_CONFIG: the settings file
    database_url: str = field(default="", repr=False)  # may hold a password
    secret: str = field(default="", repr=False)  # NEWSLETTER_SECRET: signs reader links
    chromium: str = DEFAULT_CHROMIUM  # CHROMIUM: the browser for screenshots
    # Every variable, for the providers to read their own from (secrets among them).
    variables: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Environment:
        env = os.environ if environ is None else environ
        variables = dict(env)  # a plain dict: a send's worker processes get it pickled
        return cls(get(variables, CONFIG_ENV), get(variables, DATABASE_ENV),
                   env.get(SECRET_ENV, ""), get(variables, "CHROMIUM") or DEFAULT_CHROMIUM,
                   variables)

    def get(self, name: str) -> str:
        """A variable, stripped of surrounding blanks ("" when unset)."""
        return get(self.variables, name)


def get(variables: Mapping[str, str], name: str) -> str:
    return variables.get(name, "").strip()
