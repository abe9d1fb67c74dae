"""What ``newsletter serve`` adds to uvicorn's HTTP protocol: deadlines for a request's
headers and for its body. uvicorn waits for either for ever, so a client that opens a
connection and sends nothing, trickles its headers a byte at a time ("slowloris"), or
declares a body and never finishes it, holds a connection and a slot of the concurrency
limit for as long as it likes; enough of them and every other client is answered 503.

The body has two other guards, in the application and so under any server: a route that
reads one does so within forms.READ_DEADLINE (else 408), and the answer to a request whose
body was not read to its end closes the connection (forms.UnreadBodyCloses). The body
deadline here is the backstop behind both, for what they do not foresee."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# A request line and headers are a few hundred bytes: any working client sends them in
# one packet. Ten seconds is the body's deadline in a route too (forms.READ_DEADLINE).
HEADER_DEADLINE = 10.0
# From the end of the headers to the end of the body, whatever the route does. Past the
# route's own deadline, so that its 408 is the answer a slow client gets.
BODY_DEADLINE = 15.0


class RequestInTime(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request has not brought
    all its headers within HEADER_DEADLINE of the connection opening, or of the request's
    first byte on a kept-alive connection (the idle time between requests is uvicorn's
    keep-alive timeout), or all its body within BODY_DEADLINE of its headers."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(HEADER_DEADLINE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(HEADER_DEADLINE)

    def on_headers_complete(self) -> None:
        # httptools calls on_message_complete at once after this when there is no body.
        self._arm(BODY_DEADLINE)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _late(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()
