"""Writing a built issue: email.html, email.txt and email.eml, each whole or not at all."""

from __future__ import annotations

from pathlib import Path

from newsletter.content.settings import Publication
from newsletter.email import message
from newsletter.email.render import Email
from newsletter.files import write_atomic


def write_build(email: Email, publication: Publication, out_dir: Path) -> list[Path]:
    eml = message.build(email, publication).as_bytes()
    return [
        write_atomic(out_dir / "email.html", email.html.encode("utf-8")),
        write_atomic(out_dir / "email.txt", email.text.encode("utf-8")),
        write_atomic(out_dir / "email.eml", eml),
    ]
