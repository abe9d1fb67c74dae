"""The memory the webhooks' bodies may hold at once, counted in bytes that have arrived.

Why bytes and not bodies: a webhook's signature can be checked only once its body is in,
so a stranger with well-formed headers makes the service read. Counting bodies (a few
read at once) let four posts that each promise 100 bytes and send one hold every slot
for the whole read deadline, and the provider's own posts got 503 all the while. A body
here holds only what it has sent, so a trickle holds next to nothing.

Why not reserve the declared Content-Length up front: a post that declares megabytes
and sends one byte would hold them, which is the same starving by another name.

What is left is a stranger who sends megabytes and then stops short of the end, holding
them for the read deadline. One client address may hold only its share, so one sender
cannot fill the budget alone; and when the budget is full, a new body takes the place of
the reads that have gone on longest, once they are older than GRACE: their deadline is
brought forward to now (408, connection closed). A provider's post arrives in
milliseconds and is never the oldest; to keep the budget full against it, strangers
must send all of it anew every GRACE seconds (16 MiB a second), not every read deadline.

Everything here runs on the event loop's one thread, so the counts need no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator

from newsletter.errors import NewsletterError

# Seconds a body may be read before a newcomer can take its place when the budget is full.
GRACE = 1.0


class Full(NewsletterError):
    """Taking these bytes would pass the budget, or the client's share of it (answered
    503 with Retry-After: a provider retries)."""


class Holder:
    """One body's bytes in the budget (forms.Meter): taken as they arrive, all given back
    when its request ends; while it is read, the read's deadline, which the budget may
    bring forward to make room."""

    def __init__(self, budget: Budget, client: str, started: float) -> None:
        self.budget, self.client, self.started = budget, client, started
        self.taken = 0
        self.evicted = False
        self._deadline: asyncio.Timeout | None = None

    def take(self, n: int) -> None:
        """Count ``n`` more bytes of this body; Full when they do not fit."""
        self.budget._take(self, n)

    def reading(self, deadline: asyncio.Timeout) -> None:
        self._deadline = deadline

    def read(self) -> None:
        self._deadline = None  # in, or failed: no longer a read to cut short

    @property
    def stoppable(self) -> bool:
        return self._deadline is not None and not self.evicted

    def evict(self) -> int:
        """Stop this read now (its deadline is now: 408); the bytes it held."""
        assert self._deadline is not None
        self._deadline.reschedule(asyncio.get_running_loop().time())
        self.evicted = True
        freed, self.taken = self.taken, 0
        return freed


class Budget:
    """``total`` bytes for every body being read and checked; at most ``share`` of them
    for the bodies from one client (its rate-limit bucket, clients.bucket: an IPv4 address
    or an IPv6 /64; behind a proxy that uvicorn does not trust, FORWARDED_ALLOW_IPS, every
    post comes from the proxy's address, and the share is the bound for all of them)."""

    def __init__(self, total: int, share: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < share <= total:
            raise ValueError(f"a client's share ({share}) must be 1 to {total} bytes")
        self.total, self.share, self.clock = total, share, clock
        self.used = 0
        self._by_client: dict[str, int] = {}
        self._holders: dict[Holder, None] = {}  # in the order they began: oldest first

    def held(self, client: str) -> int:
        """Bytes held now by the bodies from one client address (``used``: by all)."""
        return self._by_client.get(client, 0)

    @contextlib.contextmanager
    def account(self, client: str) -> Iterator[Holder]:
        """One body's holder; everything it took is given back when the block ends,
        however it ends."""
        holder = Holder(self, client, self.clock())
        self._holders[holder] = None
        try:
            yield holder
        finally:
            del self._holders[holder]
            self._count(holder.client, -holder.taken)

    def _take(self, holder: Holder, n: int) -> None:
        if holder.evicted or self.held(holder.client) + n > self.share:
            raise Full
        if self.used + n > self.total:
            self._make_room(self.used + n - self.total, holder)
        self._count(holder.client, n)
        holder.taken += n

    def _make_room(self, needed: int, newcomer: Holder) -> None:
        """Stop the reads that have gone on longest, past GRACE, until ``needed`` bytes
        are free; Full, stopping none, when they would not free enough."""
        cutoff = self.clock() - GRACE
        victims, freed = [], 0
        for holder in self._holders:  # oldest first
            if freed >= needed or holder.started > cutoff:
                break
            if holder is not newcomer and holder.stoppable and holder.taken:
                victims.append(holder)
                freed += holder.taken
        if freed < needed:
            raise Full
        for holder in victims:
            self._count(holder.client, -holder.evict())

    def _count(self, client: str, n: int) -> None:
        self.used += n
        left = self.held(client) + n
        if left:
            self._by_client[client] = left
        else:  # no address stays in the table once its bodies are done
            self._by_client.pop(client, None)
