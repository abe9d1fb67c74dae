"""Time zones and the instant an issue is due: one home for each, used by every part.

An issue's send time is a wall-clock time (``06:00``) in a zone. On a spring-forward day
that time may not exist (02:30 in London); it then moves forward by the gap, as zoneinfo
does, so the issue goes out as soon as it can. The message's Date header, the schedule
and per-reader delivery all take the instant from :func:`send_instant`.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# The last place on Earth where a given day's send time comes (UTC-12; the sign is POSIX's).
LATEST_ZONE = ZoneInfo("Etc/GMT+12")


class UnknownZone(ValueError):
    pass


# available_timezones() already merges the tzdata package's list with the system's zone
# database and leaves out its posix/ and right/ copies and posixrules; two files it keeps
# are no zone a reader lives in: the machine's own setting and the placeholder.
_NOT_IANA = frozenset({"localtime", "Factory"})


@cache
def names() -> frozenset[str]:
    """The IANA's zone names (their links, such as ``US/Eastern``, included)."""
    return frozenset(available_timezones() - _NOT_IANA)


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; UnknownZone (with a message for people) if there is none.
    (A reader's row written before this was strict may hold another name ZoneInfo opens,
    ``localtime`` say: a send reads rows with ZoneInfo itself, so such a row still goes.)"""
    if name not in names():
        raise UnknownZone(f"unknown timezone {name[:80]!r}; use an IANA name like "
                          "'Europe/London'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownZone(f"unknown timezone {name[:80]!r}; use an IANA name like "
                          "'Europe/London'") from None


def send_instant(day: dt.date, clock: dt.time, where: ZoneInfo) -> dt.datetime:
    """``day`` at ``clock`` in ``where``, as an aware datetime in that zone (DST-aware)."""
    local = dt.datetime.combine(day, clock).replace(tzinfo=where)
    # Round-trip through UTC normalises a non-existent wall time to a real instant.
    return local.astimezone(dt.UTC).astimezone(where)
