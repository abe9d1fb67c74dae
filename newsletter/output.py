"""Writing built files: each one whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from newsletter import message
from newsletter.errors import OutputError
from newsletter.render import Email
from newsletter.settings import Publication


def write_atomic(path: Path, data: bytes) -> Path:
    """Write via a temporary file and rename, so a crash never leaves half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from exc
    return path


def write_build(email: Email, publication: Publication, out_dir: Path) -> list[Path]:
    eml = message.build(email, publication).as_bytes()
    return [
        write_atomic(out_dir / "email.html", email.html.encode("utf-8")),
        write_atomic(out_dir / "email.txt", email.text.encode("utf-8")),
        write_atomic(out_dir / "email.eml", eml),
    ]
