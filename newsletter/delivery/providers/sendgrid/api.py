"""SendGrid's v3 API over connections kept open between requests, and its answers turned
into our errors.

A runner far from SendGrid pays for each new HTTPS connection twice what a request costs
(TCP's and TLS's handshakes are about two round trips; a request on an open connection is
one). The official package's HTTP layer (urllib) opened a connection for every request;
here one ``httpx.Client`` keeps up to ``connections`` of them open, one for each request a
send makes at once, and is shared by the send's threads (httpx's pool is thread-safe).

An idle connection is given up after :data:`IDLE` seconds, before servers usually close
theirs (60 s and more), so a request rarely meets a connection the server is closing;
one the server closed sooner is seen as closed when it is taken from the pool and a new
one is opened in its place, before anything is sent.

What the urllib layer did, this keeps: the system's certificate store (``SSL_CERT_FILE``
and ``SSL_CERT_DIR`` included), proxies from the environment (``HTTPS_PROXY``,
``NO_PROXY``), one timeout for connecting and for each read and write.

The other requests, a few a day, go through the official package's client
(:meth:`SendGridApi.sdk`, ``sendgrid.SendGridAPIClient``): the suppression lists. Its
HTTP layer logs each request's headers at DEBUG; the key is given to it as a string that
prints as ``[redacted]`` (:class:`Hidden`), so that log line cannot show it, and the CLI
keeps that logger at WARNING.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.error import URLError
from urllib.parse import urlsplit

from newsletter.errors import ConfigError, TransportRejected, TransportUnavailable
from newsletter.redact import addresses

if TYPE_CHECKING:  # imported when a request is made: `check` and `build` never need it
    import httpx
    import python_http_client

IDLE = 5.0  # seconds an unused connection stays open
CONNECTIONS = 4  # until the send says how many requests it makes at once


class SendGridApi:
    """Requests to SendGrid with the API key, over a pool of kept-alive connections.

    Every failure comes out as TransportRejected (retrying cannot help) or
    TransportUnavailable (it may work later; ``not_sent`` when SendGrid surely did not
    take the request), and no message ever holds the key."""

    def __init__(self, api_key: str, host: str, timeout: float) -> None:
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"SENDGRID_HOST must be an http(s) address, not {host!r}")
        self.api_key, self.host, self.timeout = api_key, host, timeout
        self._connections = CONNECTIONS
        self._client: httpx.Client | None = None
        self._sdk: python_http_client.Client | None = None
        self._lock = threading.Lock()

    def connections(self, count: int) -> None:
        """Keep up to ``count`` connections: the most requests made at once. Called
        before sending: a client already made is closed, and the next request makes one
        of the new size."""
        wanted = max(1, count)
        with self._lock:
            if wanted != self._connections:
                self._connections = wanted
                self._close()

    def close(self) -> None:
        """Close every connection. A later request opens new ones."""
        with self._lock:
            self._close()

    def post(self, path: str, body: bytes) -> httpx.Response:
        """POST a body already written as JSON to ``path`` (under /v3)."""
        return self._request("POST", path, content=body)

    def get(self, path: str, params: dict[str, int] | None = None) -> httpx.Response:
        return self._request("GET", path, params=params)

    def sdk(self, request: Callable[[python_http_client.Client], Reply]) -> bytes:
        """The body of a request made with the sendgrid package's client (its ``client``
        attribute, the root of the API's paths), e.g. ``lambda c:
        c.suppression.bounces.get(query_params={...})``. Its errors come out as ours."""
        from python_http_client.exceptions import HTTPError

        try:
            return request(self._sdk_client()).body
        except HTTPError as exc:
            raise self.clean(_sendgrid_error(exc.status_code, exc.body, exc.headers)) \
                from None
        except (OSError, http.client.HTTPException) as exc:
            raise self.clean(_sdk_unreachable(exc, self.timeout)) from None

    def _sdk_client(self) -> python_http_client.Client:
        with self._lock:
            if self._sdk is None:
                from sendgrid import SendGridAPIClient

                made = SendGridAPIClient(self.api_key, host=self.host.rstrip("/")).client
                # The header its HTTP layer logs (at DEBUG) with the request: hidden there.
                made.request_headers["Authorization"] = Hidden(f"Bearer {self.api_key}")
                made.timeout = self.timeout  # it has none unless one is set
                self._sdk = made
            return self._sdk

    def _request(self, method: str, path: str, **what: Any) -> httpx.Response:
        import httpx

        try:
            response = self._open().request(method, f"/v3{path}", **what)
        except httpx.TransportError as exc:
            raise self.clean(_unreachable(exc, self.timeout)) from None
        if not response.is_success:
            raise self.clean(_sendgrid_error(response.status_code, response.content,
                                             response.headers))
        return response

    def _open(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def _new_client(self) -> httpx.Client:
        import httpx

        count = self._connections
        return httpx.Client(
            base_url=self.host,
            headers={"Authorization": f"Bearer {self.api_key}",
                     "Content-Type": "application/json", "Accept": "application/json"},
            timeout=self.timeout,
            limits=httpx.Limits(max_connections=count, max_keepalive_connections=count,
                                keepalive_expiry=IDLE),
            # As urllib: the system's store (which reads SSL_CERT_FILE), not certifi's.
            verify=ssl.create_default_context(),
            trust_env=True)  # proxies from the environment, as urllib took them

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def clean(self, error: Exception) -> Exception:
        """The same error, its text cleaned of the API key (a proxy or a fake server may
        echo the request's Authorization header back in an error body)."""
        cleaned = redact(str(error), self.api_key)
        if isinstance(error, TransportUnavailable):
            return TransportUnavailable(cleaned, retry_after=error.retry_after,
                                        not_sent=error.not_sent, status=error.status)
        if isinstance(error, TransportRejected):
            return type(error)(cleaned, status=error.status, code=error.code)
        return type(error)(cleaned)


class Reply(Protocol):
    """What the sendgrid package's client answers."""

    @property
    def body(self) -> bytes: ...


class Headers(Protocol):
    def get(self, name: str) -> str | None: ...


class Hidden(str):
    """A secret that prints as [redacted]: a library that logs or shows it (as a whole,
    or inside a dict of headers) shows that instead. Sent, it is the string itself."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'[redacted]'"

    def __str__(self) -> str:
        return "[redacted]"


def _sdk_unreachable(exc: Exception, timeout: float) -> TransportUnavailable:
    """A request of the package's client that got no answer (it reads only: what the
    flag says matters less than for a send, and is said as well as it can be)."""
    if isinstance(exc, URLError):  # urllib's wrapping: connecting or sending failed
        if isinstance(exc.reason, TimeoutError):
            return TransportUnavailable(f"cannot reach SendGrid: no connection within "
                                        f"{timeout:g} s", not_sent=True)
        return TransportUnavailable(f"cannot reach SendGrid: {exc.reason}", not_sent=True)
    if isinstance(exc, TimeoutError):  # the request went; its answer did not come
        return TransportUnavailable(f"SendGrid did not answer within {timeout:g} s",
                                    not_sent=False)
    return TransportUnavailable(f"connection to SendGrid failed: {exc!r}", not_sent=False)


def _unreachable(exc: httpx.TransportError, timeout: float) -> TransportUnavailable:
    """A request that got no answer. Before a connection was made (or taken from the
    pool), nothing was sent; after, SendGrid may have taken it."""
    import httpx

    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return TransportUnavailable(f"cannot reach SendGrid: no connection within "
                                    f"{timeout:g} s", not_sent=True)
    if isinstance(exc, httpx.TimeoutException):
        return TransportUnavailable(f"SendGrid did not answer within {timeout:g} s",
                                    not_sent=False)
    if isinstance(exc, httpx.ConnectError):
        return TransportUnavailable(f"cannot reach SendGrid: {exc}", not_sent=True)
    return TransportUnavailable(f"connection to SendGrid failed: {exc!r}", not_sent=False)


# An API key as SendGrid makes them, and what an echoed Authorization header carries.
_CREDENTIALS = re.compile(r"SG\.[\w-]{6,}\.[\w-]{6,}|(?i:bearer|basic)\s+[\w.~+/=-]{8,}")


def redact(text: str, *secrets: str) -> str:
    """``text`` with every credential it may carry replaced by [redacted]."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _CREDENTIALS.sub("[redacted]", text)


def _sendgrid_error(status: int, body: bytes | None, headers: Headers | None) -> Exception:
    detail = addresses(_error_messages(body or b""))  # its words may quote an address
    message = f"SendGrid answered {status}" + (f": {detail}" if detail else "")
    if status == 429 or status >= 500:
        return TransportUnavailable(message, retry_after=_retry_after(headers),
                                    not_sent=True, status=status)
    return TransportRejected(message, status=status)


def _error_messages(body: bytes) -> str:
    try:
        errors = json.loads(body or b"{}").get("errors") or []
    except (ValueError, AttributeError):
        return ""
    if not isinstance(errors, list):
        return ""
    parts = []
    for error in [e for e in errors if isinstance(e, dict)][:3]:
        field_name = error.get("field")
        parts.append(f"{error.get('message', '?')}" + (f" ({field_name})" if field_name else ""))
    return "; ".join(parts)


def _retry_after(headers: Headers | None) -> float | None:
    """Seconds to wait, from Retry-After or SendGrid's X-RateLimit-Reset (a Unix time)."""
    if headers is None:
        return None
    value = headers.get("Retry-After")
    if value and value.strip().isdigit():
        return float(value)
    reset = headers.get("X-RateLimit-Reset")
    if reset and reset.strip().isdigit():
        return max(0.0, float(reset) - time.time())
    return None
