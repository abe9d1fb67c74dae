"""The lease on an issue: one run sends it at a time.

A run holds the lease (``sends.owner``, ``sends.heartbeat``) and renews it while it runs
(delivery/lease.py beats for it); a lease not renewed for a while (10 minutes by default,
by the database's clock, so runners' clocks do not matter) is stale, and the next run,
from any host, takes it over. A run of this host that is gone is known at once.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select, update

from newsletter.errors import DeliveryError
from newsletter.store.db import db_now, sends


@dataclass(frozen=True)
class Lease:
    owner: str  # this run: "host:pid:nonce"
    stale_after: dt.timedelta = dt.timedelta(minutes=10)
    accept_changes: bool = False  # resume with content other than the send began with


def run_owner() -> str:
    """This run's name in a lease: the host, the process, and a nonce (pids repeat)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def gone(holder: str, seen: dt.datetime | None, now: dt.datetime, lease: Lease) -> bool:
    """Whether the run ``holder`` has stopped. A process of this host is asked directly (a
    clock that jumped cannot fool that); a run elsewhere is gone when its lease is stale."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return seen is None or now - seen >= lease.stale_after


def acquire(engine: Engine, issue: str, lease: Lease) -> str | None:
    """Take the issue for this run; return the run it was taken over from, if any.

    The lease is free, ours, stale, or held by a process of this host that is gone. The
    take-over is a compare-and-set on the holder, so of two runs that try at once exactly
    one wins. DeliveryError names a live holder.
    """
    with engine.begin() as conn:
        now = db_now(conn)
        holder = _free_holder(conn, issue, lease, now)
        taken = conn.execute(update(sends).where(
            sends.c.issue == issue,
            sends.c.owner.is_(None) if holder is None else sends.c.owner == holder)
            .values(owner=lease.owner, heartbeat=now)).rowcount
    if not taken:
        raise DeliveryError(f"issue {issue} was taken by another run just now; "
                            "wait for it, or run again later")
    return holder if holder and holder != lease.owner else None


def could_acquire(engine: Engine, issue: str, lease: Lease) -> str | None:
    """What :func:`acquire` would do now, changing nothing (a dry run): the run it would
    take over from, or the DeliveryError it would raise for a live holder."""
    with engine.connect() as conn:
        holder = _free_holder(conn, issue, lease, db_now(conn))
    return holder if holder and holder != lease.owner else None


def _free_holder(conn: Connection, issue: str, lease: Lease, now: dt.datetime) -> str | None:
    """The issue's holder (None: nobody) when this run may take the lease from it;
    DeliveryError when it is planned by no one or held by a run that lives."""
    row = conn.execute(select(sends.c.owner, sends.c.heartbeat)
                       .where(sends.c.issue == issue)).first()
    if row is None:
        raise DeliveryError(f"issue {issue} has not been planned")
    holder, seen = row.owner, row.heartbeat
    if holder and holder != lease.owner and not gone(holder, seen, now, lease):
        raise DeliveryError(_held_message(issue, holder, seen, now, lease))
    return holder  # type: ignore[no-any-return]


def renew(engine: Engine, issue: str, owner: str) -> bool:
    """Say this run is alive; False if the lease was taken over meanwhile."""
    with engine.begin() as conn:
        return bool(conn.execute(update(sends).where(sends.c.issue == issue,
                                                     sends.c.owner == owner)
                                 .values(heartbeat=db_now(conn))).rowcount)


def release(engine: Engine, issue: str, owner: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(sends).where(sends.c.issue == issue, sends.c.owner == owner)
                     .values(owner=None))


def _held_message(issue: str, holder: str, seen: dt.datetime | None, now: dt.datetime,
                  lease: Lease) -> str:
    ago = int((now - seen).total_seconds()) if seen else 0
    left = int(lease.stale_after.total_seconds()) - ago
    return (f"issue {issue} is being sent by another run ({holder}, last heard from {ago} s "
            f"ago); wait for it, or it is taken over once silent for "
            f"{_duration(lease.stale_after)} (in {max(left, 0)} s)")


def _duration(span: dt.timedelta) -> str:
    seconds = int(span.total_seconds())
    return f"{seconds // 60} min" if seconds % 60 == 0 and seconds >= 60 else f"{seconds} s"
