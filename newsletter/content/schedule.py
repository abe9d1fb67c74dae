"""When the issue arrives, as data for the templates to word: the readers' pages and the
welcome email both tell it through ``templates/arrives.j2``, from these values.

The values are newsletter.yaml's publishing days, send time and timezone, the ones the
send obeys, so what a reader is told cannot drift from what is done. Day names and the
list's style are the publication's locale's own (Babel's): "Monday, Wednesday, and
Friday", "Montag, Mittwoch und Freitag".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from babel import Locale
from babel.dates import format_date
from babel.lists import format_list

from newsletter.content.settings import DAYS, Publication

Every = Literal["day", "weekday", "days"]


@dataclass(frozen=True)
class Schedule:
    every: Every  # "days": then ``days`` names them
    days: str  # the publishing days listed in the locale's words
    time: str  # "06:30", the publication's own clock
    zone: str  # "Europe/Berlin"


def schedule(publication: Publication) -> Schedule:
    """The publication's schedule: ``every`` is ``day``, ``weekday`` (Monday to Friday)
    or ``days`` (any other set, which ``days`` lists)."""
    days = set(publication.publishing_days)
    every: Every = "day" if days == set(DAYS) else \
        "weekday" if days == set(DAYS[:5]) else "days"
    locale = babel_locale(publication)
    names = locale.days["format"]["wide"]
    listed = [str(names[DAYS.index(day)]) for day in DAYS if day in days]
    return Schedule(every, format_list(listed, locale=locale), publication.send_time,
                    publication.timezone)


def long_date(day: dt.date, publication: Publication) -> str:
    """"July 25, 2024", "25. Juli 2024": the publication's locale, Babel's words."""
    return format_date(day, "long", locale=babel_locale(publication))


def babel_locale(publication: Publication) -> Locale:
    return Locale.parse(publication.locale.replace("-", "_"))
