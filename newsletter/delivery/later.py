"""A send the provider delivers later: at a given time, or at the issue's send time in
each reader's own timezone. Its scheduler must reach that far; one batch id per issue,
kept in the ledger, so that ``cancel`` stops all of it."""

from __future__ import annotations

import datetime as dt

from newsletter.delivery.dates import Timing
from newsletter.delivery.providers.base import Scheduler, Transport
from newsletter.errors import ConfigError
from newsletter.store.ledger import Ledger
from newsletter.timing import LATEST_ZONE, send_instant


def when(transport: Transport, day: dt.date, send_at: dt.datetime | None,
         local_time: bool) -> tuple[dt.datetime, bool] | None:
    """(when the last reader is due, whether per reader), or None to deliver now."""
    now = dt.datetime.now(dt.UTC)
    if local_time:
        last = send_instant(day, transport.publication.send_clock, LATEST_ZONE)
        return _within_reach(transport, last, now), True
    if send_at is None or send_at <= now:
        return None
    return _within_reach(transport, send_at, now), False


def schedule(transport: Transport, ledger: Ledger, day: dt.date, last: dt.datetime,
             per_reader: bool) -> Timing:
    """Have the transport deliver later; return the timing the workers take on."""
    scheduler = _scheduler(transport)
    handle, _ = ledger.scheduled()
    if handle is None:  # one handle per issue, so `cancel` stops all of it
        handle = scheduler.new_handle()
        ledger.set_scheduled(handle, last)
    timing = Timing(handle, local_day=day) if per_reader else Timing(handle, send_at=last)
    scheduler.deliver_later(timing)
    return timing


def _within_reach(transport: Transport, send_at: dt.datetime,
                  now: dt.datetime) -> dt.datetime:
    scheduler = _scheduler(transport)
    if send_at - now > scheduler.max_ahead:
        hours = scheduler.max_ahead / dt.timedelta(hours=1)
        raise ConfigError(f"{send_at:%Y-%m-%d %H:%M %Z} is more than {hours:g} hours "
                          f"ahead; {transport.name} cannot schedule that far")
    return send_at


def _scheduler(transport: Transport) -> Scheduler:
    scheduler = transport.scheduler()
    if scheduler is None:
        raise transport.unsupported("schedule delivery for later (send_at)")
    return scheduler
