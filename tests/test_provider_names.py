"""Nothing outside a provider's package names it: the registry lists the providers, and
everything else speaks of "the provider", "the transport", "the webhook". A new provider
is then one package and one line, and no other file learns its name.

What is not scanned, and why:
- ``delivery/providers/registry.py``: the list of providers itself.
- ``store/migrations/versions/``: a revision reads the same for ever; 0004 was written
  for SendGrid's webhook, and 0011 maps SendGrid's old words to ours.
Words that share letters with a provider's name but mean something else are not the
provider: SMTPUTF8 (the protocol extension, RFC 6531) and ``policy.SMTP`` (the standard
library's line-ending policy); ``outbox`` as the name of the folder option (``--outbox``,
``outbox=``, ``outbox_dir``, ``outbox/``, ``root / "outbox"``), which any provider that
writes files uses.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "newsletter"
PROVIDERS = PACKAGE / "delivery" / "providers"
# A provider's name, where it means the provider (case-insensitive).
MEANS = {
    "sendgrid": re.compile(r"sendgrid", re.I),
    "smtp": re.compile(r"(?<!policy\.)smtp(?!utf8)", re.I),
    # SES as a word (SES_REGION too), its API and SDK, its maker: never inside a word
    # (uses, sessions, responses).
    "ses": re.compile(r"(?<![a-z0-9])ses(?![a-z0-9])|sesv2|boto|amazon", re.I),
    # The outbox as a provider: its name as a value, its class, or "the outbox" in words;
    # ``outbox`` the parameter and the folder (``--outbox``, ``outbox/``) is not.
    "outbox": re.compile(r"[\"']outbox[\"']|Outbox|\b(?:the|an|to) outbox\b"
                         r"|outbox (?:transport|provider)"),
}
# The default folder's name (``root / "outbox"``), where messages are written.
FOLDER = re.compile(r'/ "outbox"')


def named_outside(name: str, package: Path = PACKAGE) -> list[str]:
    """Each line of the package, outside the provider's own folder, that names it."""
    providers = package / "delivery" / "providers"
    skipped = [providers / "registry.py", package / "store" / "migrations" / "versions"]
    found = []
    for path in sorted(package.rglob("*")):
        if path.suffix not in (".py", ".j2") or not path.is_file():
            continue
        if path.is_relative_to(providers / name) or \
                any(path == skip or path.is_relative_to(skip) for skip in skipped):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            text = FOLDER.sub("", line) if name == "outbox" else line
            if MEANS[name].search(text):
                found.append(f"{path.relative_to(package.parent)}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize("name", sorted(MEANS))
def test_nothing_outside_a_providers_package_names_it(name: str) -> None:
    assert (PROVIDERS / name / "__init__.py").is_file()
    assert named_outside(name) == []


def test_the_check_finds_a_name_where_it_should_not_be(tmp_path: Path) -> None:
    fake = tmp_path / "newsletter"
    for folder in ("web", "delivery/providers/smtp", "store/migrations/versions"):
        (fake / folder).mkdir(parents=True)
    (fake / "web" / "app.py").write_text(
        'ROUTE = "/webhooks/sendgrid"\nX = "smtp"\nTRANSPORT = "outbox"\n'
        'FOLDER = root / "outbox"\nUTF8 = "SMTPUTF8"\n# sent to the outbox\n'
        'REGION = "SES_REGION"\n# sessions and responses use their uses\n')
    (fake / "delivery" / "providers" / "smtp" / "transport.py").write_text("SMTP = 1\n")
    (fake / "store" / "migrations" / "versions" / "0004.py").write_text("# SendGrid\n")

    def lines(name: str) -> list[str]:
        return [found.split(": ", 1)[1] for found in named_outside(name, fake)]

    assert lines("sendgrid") == ['ROUTE = "/webhooks/sendgrid"']
    assert lines("smtp") == ['X = "smtp"']
    assert lines("ses") == ['REGION = "SES_REGION"']
    assert lines("outbox") == ['TRANSPORT = "outbox"', "# sent to the outbox"]
