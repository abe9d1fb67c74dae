"""Progress of a long send: a bar on a terminal, a plain line every few seconds elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Any

import click


class Progress:
    """What a send tells its caller as it goes; the CLI draws a bar or prints lines."""

    def start(self, total: int, already: int) -> None: ...

    def advance(self, recipients: int) -> None: ...

    def finish(self) -> None: ...


class TerminalProgress(Progress):
    def __init__(self) -> None:
        self.bar: Any = None

    def start(self, total: int, already: int) -> None:
        self.bar = click.progressbar(length=total, label="sending", show_eta=True,
                                     show_pos=True, file=sys.stderr)
        self.bar.__enter__()
        self.bar.update(already)

    def advance(self, recipients: int) -> None:
        if self.bar is not None:
            self.bar.update(recipients)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


class LineProgress(Progress):
    """For CI logs: one line at most every ``every`` seconds, and one at the end."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self.total = self.done = 0
        self.started = self.last = 0.0

    def start(self, total: int, already: int) -> None:
        self.total, self.done = total, already
        self.started = self.last = time.monotonic()
        click.echo(f"sending to {total - already:,} of {total:,} recipients")

    def advance(self, recipients: int) -> None:
        self.done += recipients
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._line(now)

    def finish(self) -> None:
        self._line(time.monotonic())

    def _line(self, now: float) -> None:
        share = self.done / self.total * 100 if self.total else 100.0
        click.echo(f"progress: {self.done:,}/{self.total:,} ({share:.0f}%) after "
                   f"{now - self.started:.1f} s")


def for_stream() -> Progress:
    return TerminalProgress() if sys.stderr.isatty() else LineProgress()
