"""The memory the webhooks' bodies may hold at once, counted in bytes that have arrived.

Why bytes and not bodies: a webhook's signature can be checked only once its body is in,
so a stranger with well-formed headers makes the service read. Counting bodies (a few
read at once) let four posts that each promise 100 bytes and send one hold every slot
for the whole read deadline, and the provider's own posts got 503 all the while. A body
here holds only what it has sent, so a trickle holds next to nothing; to fill the budget
a stranger must send it, megabytes every READ_DEADLINE, and one client address may hold
only its share, so one sender cannot fill it alone.

Why not reserve the declared Content-Length up front: a post that declares megabytes
and sends one byte would hold them, which is the same starving by another name.

Everything here runs on the event loop's one thread, so the counts need no lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from newsletter.errors import NewsletterError


class Full(NewsletterError):
    """Taking these bytes would pass the budget, or the client's share of it (answered
    503 with Retry-After: a provider retries)."""


class Budget:
    """``total`` bytes for every body being read and checked; at most ``share`` of them
    for the bodies from one client (its rate-limit bucket, clients.bucket: an IPv4 address
    or an IPv6 /64; behind a proxy that uvicorn does not trust, FORWARDED_ALLOW_IPS, every
    post comes from the proxy's address, and the share is the bound for all of them)."""

    def __init__(self, total: int, share: int) -> None:
        if not 0 < share <= total:
            raise ValueError(f"a client's share ({share}) must be 1 to {total} bytes")
        self.total, self.share = total, share
        self.used = 0
        self._by_client: dict[str, int] = {}

    def held(self, client: str) -> int:
        """Bytes held now by the bodies from one client address (``used``: by all)."""
        return self._by_client.get(client, 0)

    @contextlib.contextmanager
    def account(self, client: str) -> Iterator[Callable[[int], None]]:
        """A function that takes ``n`` more bytes for one body (Full when it cannot);
        everything it took is given back when the block ends, however it ends."""
        taken = 0

        def take(n: int) -> None:
            nonlocal taken
            if self.used + n > self.total or self.held(client) + n > self.share:
                raise Full
            self.used += n
            self._by_client[client] = self.held(client) + n
            taken += n

        try:
            yield take
        finally:
            self._give_back(client, taken)

    def _give_back(self, client: str, n: int) -> None:
        self.used -= n
        left = self.held(client) - n
        if left:
            self._by_client[client] = left
        else:  # no address stays in the table once its bodies are done
            self._by_client.pop(client, None)
