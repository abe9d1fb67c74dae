"""Time zones and the instant an issue is due: one home for each, used by every part.

An issue's send time is a wall-clock time (``06:00``) in a zone. On a spring-forward day
that time may not exist (02:30 in London); it then moves forward by the gap, as zoneinfo
does, so the issue goes out as soon as it can. The message's Date header, the schedule
and per-reader delivery all take the instant from :func:`send_instant`.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The last place on Earth where a given day's send time comes (UTC-12; the sign is POSIX's).
LATEST_ZONE = ZoneInfo("Etc/GMT+12")


class UnknownZone(ValueError):
    pass


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; UnknownZone (with a message for people) if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownZone(f"unknown timezone {name!r}; use an IANA name like "
                          "'Europe/London'") from None


def send_instant(day: dt.date, clock: dt.time, where: ZoneInfo) -> dt.datetime:
    """``day`` at ``clock`` in ``where``, as an aware datetime in that zone (DST-aware)."""
    local = dt.datetime.combine(day, clock).replace(tzinfo=where)
    # Round-trip through UTC normalises a non-existent wall time to a real instant.
    return local.astimezone(dt.UTC).astimezone(where)
