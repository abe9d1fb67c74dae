"""Writing files whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from newsletter.errors import OutputError


def _umask() -> int:
    """The process's umask, read without changing it (os.umask sets it to read it, which
    threads writing files at that moment would see)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _umask()


def write_atomic(path: Path, data: bytes) -> Path:
    """Write via a temporary file and rename, so a crash never leaves half a file."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        os.fchmod(fd, 0o666 & ~UMASK)  # as any other file written here (mkstemp makes 0600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:  # a full disk must not also leave half a file behind
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from exc
    return path
