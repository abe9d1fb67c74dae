"""The latest issues, for the subscribe page and the welcome: each one's date and lead
headline, read from the issue files themselves (their YAML only: no model, no renderer,
no MJML).

The archive publishes the issues dated today or earlier in the publication's timezone,
so the newest of those are chosen by their file names first, and only they are read,
newest first, until enough give a headline (a broken file is passed over: ``newsletter
check`` is where it is reported; so is a draft, content/drafts.py, which the archive
leaves out too). What a file gave is kept under its name, modification
time (in nanoseconds) and size, so an edit in place, even within the tick of the last
read, is read again; the folder itself is listed on every call. Blocking work: call it
off the event loop.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from newsletter.content import drafts, yamlfile
from newsletter.content.issue import FILE_NAME
from newsletter.content.settings import Publication
from newsletter.safetext import one_line

MAX_ISSUE_BYTES = 1024 * 1024  # a file larger than this is not read for its headline
SHOWN = 3

Stamp = tuple[int, int]  # a file's modification time in nanoseconds, and its size


@dataclass(frozen=True)
class Recent:
    day: dt.date
    headline: str
    url: str  # the issue's page in the archive


class Issues:
    def __init__(self, publication: Publication, folder: Path) -> None:
        self.publication, self.folder = publication, folder
        # What each file read gave (its headline, or None), by name, as of its stamp.
        self._read: dict[str, tuple[Stamp, str | None]] = {}

    def latest(self, now: dt.datetime | None = None, count: int = SHOWN) -> list[Recent]:
        """The newest ``count`` issues dated today or earlier that give a headline,
        newest first."""
        today = (now or dt.datetime.now(dt.UTC)).astimezone(self.publication.zone).date()
        names = self._published(today)
        self._read = {name: kept for name, kept in self._read.items() if name in names}
        found: list[Recent] = []
        for name, day in names.items():
            headline = self._headline(name)
            if headline:
                found.append(Recent(day, headline, self.publication.web_url(day)))
                if len(found) == count:
                    break
        return found

    def _published(self, today: dt.date) -> dict[str, dt.date]:
        """The issue files dated ``today`` or earlier, by name, newest first."""
        try:
            listed = os.listdir(self.folder)
        except OSError:
            return {}
        days = {}
        for name in listed:
            match = FILE_NAME.fullmatch(name)
            day = _day(match.group(1)) if match else None
            if day is not None and day <= today:
                days[name] = day
        return dict(sorted(days.items(), key=lambda item: (item[1], item[0]), reverse=True))

    def _headline(self, name: str) -> str | None:
        path = self.folder / name
        try:
            stat = path.stat()
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        kept = self._read.get(name)
        if kept is None or kept[0] != stamp:
            kept = (stamp, _headline(path))
            self._read[name] = kept
        return kept[1]


def _day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:  # 2024-02-30
        return None


def _headline(path: Path) -> str | None:
    """The lead's headline, or None for a file that does not give one."""
    try:
        doc = yamlfile.load(path, display=path.name, max_bytes=MAX_ISSUE_BYTES)
    except OSError:
        return None
    if drafts.is_draft(doc.data):  # never sent, never archived: not for readers either
        return None
    lead = doc.data.get("lead") if isinstance(doc.data, dict) else None
    headline = lead.get("headline") if isinstance(lead, dict) else None
    # On one line, and without the invisible characters (a right-to-left override, say)
    # that would turn the rest of its line of the page around.
    return one_line(headline) or None if isinstance(headline, str) else None
