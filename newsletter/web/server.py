"""What ``newsletter serve`` adds to uvicorn's HTTP protocol: a deadline for a request's
headers. uvicorn waits for them for ever, so a client that opens a connection and sends
nothing, or trickles its headers a byte at a time ("slowloris"), holds a connection and a
slot of the concurrency limit for as long as it likes; enough of them and every other
client is answered 503. The body has a deadline of its own (forms.py)."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# A request line and headers are a few hundred bytes: any working client sends them in
# one packet. Ten seconds is the body's deadline too (forms.READ_DEADLINE).
HEADER_DEADLINE = 10.0


class HeadersInTime(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request has not brought
    all its headers within HEADER_DEADLINE of the connection opening, or of the request's
    first byte on a kept-alive connection (the idle time between requests is uvicorn's
    keep-alive timeout)."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(HEADER_DEADLINE, self._late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _late(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()
