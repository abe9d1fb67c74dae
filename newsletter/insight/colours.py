"""The figures' colours, shared by the report's charts (charts.py) and the job summary's
Mermaid chart (summary.py): each reads on white and on a dark page alike."""

from __future__ import annotations

__all__ = ["PALETTE"]

PALETTE = ("#2f7fd1", "#d9661a", "#2e9e5b", "#9a6fd6", "#d63c4f")
