"""Sends begun although the sender's health said stop: who said so, why, and the figures
of the moment (``send --override-health REASON``), kept for the report and the record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select

from newsletter.safetext import one_line
from newsletter.store.db import health_overrides

__all__ = ["Overridden", "listing", "record"]


@dataclass(frozen=True)
class Overridden:
    issue: str
    at: dt.datetime
    by: str
    reason: str
    figures: str


def record(engine: Engine, issue: str, by: str, reason: str, figures: Sequence[str]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(health_overrides).values(
            issue=issue, at=dt.datetime.now(dt.UTC), by=one_line(by)[:200] or "unknown",
            reason=one_line(reason), figures="; ".join(figures)))


def listing(engine: Engine) -> list[Overridden]:
    """Every override, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(health_overrides).order_by(health_overrides.c.at)).all()
    return [Overridden(r.issue, r.at, r.by, r.reason, r.figures) for r in rows]
