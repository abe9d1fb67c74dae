"""Which issue is due, and when: the publication's timezone, send time and publishing days.

All arithmetic is done on aware datetimes in the publication's zone, so the send time
stays at local HH:MM across daylight-saving changes (a 06:00 send is 05:00 UTC in summer
London and 06:00 UTC in winter).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from newsletter.content.settings import DAYS, Publication
from newsletter.timing import send_instant


@dataclass(frozen=True)
class Timing:
    """When the provider should deliver a scheduled send (see ``Scheduler.deliver_later``)."""

    handle: str  # the provider's handle for the scheduled send (Scheduler.new_handle)
    send_at: dt.datetime | None = None  # one moment for everyone
    local_day: dt.date | None = None  # or: each reader's own send time on this day


def send_time_on(publication: Publication, day: dt.date) -> dt.datetime:
    """``day`` at the send time, in the publication's zone."""
    return send_instant(day, publication.send_clock, publication.zone)


def is_publishing_day(publication: Publication, day: dt.date) -> bool:
    return DAYS[day.weekday()] in publication.publishing_days


def due(publication: Publication, now: dt.datetime) -> tuple[dt.date, bool, dt.datetime]:
    """(today's local date, whether an issue is due now, today's send time)."""
    local = now.astimezone(publication.zone)
    at = send_time_on(publication, local.date())
    return local.date(), is_publishing_day(publication, local.date()) and now >= at, at


def upcoming(publication: Publication, now: dt.datetime, days: int) -> list[dt.datetime]:
    """The next ``days`` calendar days' send times that fall on publishing days."""
    start = now.astimezone(publication.zone).date()
    out = []
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        if is_publishing_day(publication, day):
            out.append(send_time_on(publication, day))
    return out
