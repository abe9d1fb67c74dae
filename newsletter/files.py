"""Writing files whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from newsletter.errors import OutputError


def write_atomic(path: Path, data: bytes) -> Path:
    """Write via a temporary file and rename, so a crash never leaves half a file."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:  # a full disk must not also leave half a file behind
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from exc
    return path
