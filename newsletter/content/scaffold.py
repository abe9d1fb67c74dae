"""A new issue file that validates as it stands, with TODO marks where the words go.

``newsletter check`` warns while a TODO is left, and ``--strict`` (what CI runs on pull
requests) fails, so a half-filled issue cannot go out by accident.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from newsletter.content.issue import path_for
from newsletter.errors import OutputError

TEMPLATE = """\
# Issue for {long_date}. Replace every TODO, then run: newsletter check {path}
date: {date}
# subject: defaults to the lead headline
# preheader: the line inboxes show after the subject
lead:
  headline: TODO lead headline
  source: TODO publisher of the story
  url: https://example.com/TODO
  # image: {{src: https://example.com/picture.jpg, alt: TODO what the picture shows}}
  body: |
    TODO the story in two or three short paragraphs. *Emphasis*, **strong** and
    [links](https://example.com/) work; HTML does not.
sections:
  - title: {section_title}
    items:
      - headline: TODO first teaser headline
        source: TODO publisher
        url: https://example.com/TODO-1
        summary: TODO two lines that make the reader want the story.
      - headline: TODO second teaser headline
        source: TODO publisher
        url: https://example.com/TODO-2
        summary: TODO two lines that make the reader want the story.
"""


def create(issues_dir: Path, day: dt.date, section_title: str) -> Path:
    """Write the scaffold for ``day``; never overwrite an existing file."""
    path = path_for(issues_dir, day)
    text = TEMPLATE.format(date=day.isoformat(), long_date=day.strftime("%A %d %B %Y"),
                           path=path, section_title=json.dumps(section_title))
    issues_dir.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise OutputError(f"{path}: already exists; not overwriting it") from None
    return path
