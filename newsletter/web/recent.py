"""The latest issues, for the subscribe page: each one's date and lead headline, read
from the issue files themselves (their YAML only: no model, no renderer, no MJML).

The folder is read once, and again only when it changes (its modification time: a file
added, removed or replaced by a deploy); each answer then only picks the issues dated
today or earlier in the publication's timezone, as the archive publishes them.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path

from newsletter.content import yamlfile
from newsletter.content.issue import FILE_NAME
from newsletter.content.settings import Publication

MAX_ISSUE_BYTES = 1024 * 1024  # a file larger than this is not read for its headline
SHOWN = 3


@dataclass(frozen=True)
class Recent:
    day: dt.date
    headline: str
    url: str  # the issue's page in the archive


class Issues:
    def __init__(self, publication: Publication, folder: Path) -> None:
        self.publication, self.folder = publication, folder
        self._seen: float | None = None
        self._all: list[Recent] = []
        self._lock = threading.Lock()

    def latest(self, now: dt.datetime | None = None, count: int = SHOWN) -> list[Recent]:
        """The newest ``count`` issues dated today or earlier, newest first."""
        today = (now or dt.datetime.now(dt.UTC)).astimezone(self.publication.zone).date()
        return [issue for issue in self._read() if issue.day <= today][:count]

    def _read(self) -> list[Recent]:
        try:
            stamp = self.folder.stat().st_mtime
        except OSError:
            return []
        with self._lock:
            if stamp != self._seen:
                self._all, self._seen = self._scan(), stamp
            return self._all

    def _scan(self) -> list[Recent]:
        found = []
        for path in self.folder.iterdir():
            match = FILE_NAME.fullmatch(path.name)
            headline = _headline(path) if match else None
            if match and headline:
                day = dt.date.fromisoformat(match.group(1))
                found.append(Recent(day, headline, self.publication.web_url(day)))
        return sorted(found, key=lambda issue: issue.day, reverse=True)


def _headline(path: Path) -> str | None:
    """The lead's headline, or None for a file that does not give one (a broken file is
    left out here; ``newsletter check`` is where it is reported)."""
    try:
        doc = yamlfile.load(path, display=path.name, max_bytes=MAX_ISSUE_BYTES)
    except OSError:
        return None
    lead = doc.data.get("lead") if isinstance(doc.data, dict) else None
    headline = lead.get("headline") if isinstance(lead, dict) else None
    return " ".join(headline.split()) if isinstance(headline, str) and headline.strip() \
        else None
