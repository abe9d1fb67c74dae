"""Amazon SES: one raw message a reader through SES API v2's SendEmail (``boto3``).

Each reader's message is the one every transport of whole messages writes
(``personal_message`` of providers/base.py: their own unsubscribe and manage links,
greeting and List-Unsubscribe headers, the text part before the HTML), sent as Raw
content. SendBulkEmail was the other way: up to 50
readers a request, but only through a template stored in SES and filled by SES's
Handlebars, so the message would no longer be the one we write and test; SES counts its
sending rate per recipient either way, so a bulk request would save requests, not time
(docs/providers/ses.md has the figures).

Every message names the publication's configuration set (where SES sends its events)
and carries two tags, ``issue`` and ``subscriber``, which come back on every event.
SES cannot deliver later: no scheduler, and the send says so when asked.

What SES answers, per reader:

- TooManyRequests / Throttling / LimitExceeded, any 5xx, a refused connection: for
  later (an answer means SES did not take it); no answer (a read timeout, a connection
  lost mid-request): SES may have taken it, and the send treats it as such.
- MessageRejected, BadRequest: about this reader (in the sandbox, an unverified
  recipient), refused for good with SES's words, once SES has taken a message of this
  send. Before that, the same words are taken to be about the account or the message
  (an unverified sender, content SES refuses), which no reader would escape: the send
  stops at once, nothing marked.
- Anything else (a suspended account, a configuration set that does not exist, bad
  credentials): the send stops at once with SES's words.

botocore's own retries are off: it retries a read timeout, which could send a message
twice behind the ledger's back. The send's retries know what is uncertain.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from newsletter import redact
from newsletter.delivery.providers.base import (
    MessageError,
    Options,
    Outcome,
    Personal,
    Setup,
    Transport,
)
from newsletter.delivery.providers.ses.settings import REGION, SesEnvironment, SesOptions
from newsletter.email.addresses import for_wire
from newsletter.email.message import Notice
from newsletter.email.render import Email
from newsletter.errors import ConfigError, TransportRejected, TransportUnavailable
from newsletter.store.recipient import Recipient

# SES's answers by code (the error's ``Code``): what sending again would change.
LATER = frozenset({"TooManyRequestsException", "Throttling", "ThrottlingException",
                   "LimitExceededException", "RequestLimitExceeded", "ServiceUnavailable",
                   "InternalFailure"})
ABOUT_THE_READER = frozenset({"MessageRejected", "BadRequestException",
                              "InvalidParameterValue"})
# A tag's name and value: ASCII letters, digits, _ and -, at most 256 (SES's rule).
_NOT_TAG = re.compile(r"[^A-Za-z0-9_-]")


class Refusal(Exception):
    """SES refused this one reader's message for good (its words, redacted)."""


class SesTransport(Transport):
    """One raw message a reader through SES API v2, over kept-alive connections."""

    name = "ses"
    options_model = SesOptions

    def __init__(self, setup: Setup, options: Options) -> None:
        assert isinstance(options, SesOptions)
        super().__init__(setup, options)
        variables = SesEnvironment.read(setup.env)
        if not variables.region:
            raise ConfigError(f"{REGION} is not set")
        if not options.configuration_set:
            raise ConfigError("delivery.ses.configuration_set is not set in newsletter.yaml: "
                              "every message names it, and it is where SES sends its events")
        self.configuration_set = options.configuration_set
        self.from_arn = options.from_arn
        self.variables = variables
        self.client = make_client(variables, options.timeout)
        self.sender = for_wire(self.publication.sender.address).address
        self.warnings = _endpoint_warnings(variables.endpoint_url)
        self._taken = threading.Event()  # SES has taken a message from this transport

    def send(self, email: Email, recipients: Sequence[Recipient]) -> Outcome:
        outcome = Outcome()
        for position, recipient in enumerate(recipients):
            try:
                message_id = self._one(email, recipient)
            except Refusal as exc:
                outcome.refused[recipient.id] = str(exc)
                continue
            except (TransportUnavailable, TransportRejected) as exc:
                if position == 0:
                    raise
                _stopped(outcome, recipients[position:], exc)
                return outcome
            outcome.provider_id = outcome.provider_id or message_id
        return outcome

    def send_notice(self, notice: Notice) -> None:
        message = self.notice_message(notice)
        if message.utf8:
            raise TransportRejected(_NO_SMTPUTF8)
        try:
            self._deliver(message, [_tag("kind", notice.kind)])
        except Refusal as exc:
            raise TransportRejected(str(exc)) from None

    def _one(self, email: Email, recipient: Recipient) -> str:
        """Send one reader's message; its SES message id. Refusal when SES (or we) cannot
        send it to this reader."""
        try:
            message = self.personal_message(email, recipient)
        except MessageError as exc:
            raise Refusal(redact.addresses(str(exc))) from None
        if message.utf8:
            raise Refusal(_NO_SMTPUTF8)
        tags = [_tag("issue", email.date.isoformat()), _tag("subscriber", str(recipient.id))]
        return self._deliver(message, tags)

    def _deliver(self, message: Personal, tags: list[dict[str, str]]) -> str:
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [message.envelope_to]},
            "Content": {"Raw": {"Data": message.raw}},
            "ConfigurationSetName": self.configuration_set,
            "EmailTags": tags,
        }
        if self.from_arn:
            request["FromEmailAddressIdentityArn"] = self.from_arn
        response = self.call(lambda: self.client.send_email(**request))
        self._taken.set()
        return str(response.get("MessageId") or "")

    def call(self, request: Callable[[], Any]) -> Any:
        """Make one API request, turning every failure into our transport errors (or a
        Refusal of one reader), with SES's words kept and cleaned."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return request()
        except ClientError as exc:
            raise self._answered(exc) from None
        except BotoCoreError as exc:
            raise self._unanswered(exc) from None

    def _answered(self, exc: Any) -> Exception:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "")) or "unknown"
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        words = self._clean(f"SES answered {status} {code}: {error.get('Message', '')}")
        if code in LATER or status >= 500:
            return TransportUnavailable(words, retry_after=1.0, not_sent=True,
                                        status=status or None)
        if code in ABOUT_THE_READER and self._taken.is_set():
            return Refusal(words)
        if code in ABOUT_THE_READER:
            return TransportRejected(f"{words} (the first message of this send: taken to be "
                                     "about the sender, the account or the message)",
                                     status=status or None, code=code)
        return TransportRejected(words, status=status or None, code=code)

    def _unanswered(self, exc: Exception) -> Exception:
        from botocore.exceptions import (
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        words = self._clean(str(exc))
        if isinstance(exc, NoCredentialsError):
            return TransportRejected(f"no AWS credentials: {words}")
        if isinstance(exc, ConnectTimeoutError | EndpointConnectionError) and \
                not isinstance(exc, ReadTimeoutError):
            return TransportUnavailable(f"cannot reach SES: {words}", not_sent=True)
        # A read timeout or a connection lost mid-request: SES may have taken it.
        return TransportUnavailable(f"no answer from SES: {words}", not_sent=False)

    def _clean(self, text: str) -> str:
        """SES's words without addresses (it quotes identities) or our credentials (an
        answer to a bad signature quotes the credential scope)."""
        for secret in (self.variables.access_key_id, self.variables.secret_access_key,
                       self.variables.session_token):
            if secret:
                text = text.replace(secret, "[redacted]")
        return redact.addresses(" ".join(text.split()))[:500]

    def close(self) -> None:
        self.client.close()


_NO_SMTPUTF8 = ("SES takes only ASCII before the @ of an address (it does not offer "
                "SMTPUTF8): this reader cannot be sent to through SES")


def make_client(variables: SesEnvironment, timeout: float) -> Any:
    """An SES v2 client for the region, with the credentials of the environment (or
    boto3's own chain when none are given), no retries of its own, and timeouts."""
    try:  # imported here: only this provider needs it, from its own extra
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError
    except ImportError:
        raise ConfigError("the SES provider needs boto3: pip install 'newsletter[ses]'"
                          ) from None

    keys = {"aws_access_key_id": variables.access_key_id or None,
            "aws_secret_access_key": variables.secret_access_key or None,
            "aws_session_token": variables.session_token or None}
    if bool(keys["aws_access_key_id"]) != bool(keys["aws_secret_access_key"]):
        raise ConfigError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: "
                          "one is set without the other")
    profile = None if keys["aws_access_key_id"] else (variables.profile or None)
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                    connect_timeout=timeout, read_timeout=timeout, max_pool_connections=32)
    try:
        session = boto3.session.Session(**keys, profile_name=profile,
                                        region_name=variables.region)
        if session.get_credentials() is None:
            raise ConfigError("no AWS credentials: set AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with a role")
        return session.client("sesv2", endpoint_url=variables.endpoint_url or None,
                              config=config)
    except (BotoCoreError, ValueError) as exc:
        raise ConfigError(f"cannot set up SES: {exc}") from None


def _tag(name: str, value: str) -> dict[str, str]:
    return {"Name": name, "Value": _NOT_TAG.sub("-", value)[:256] or "-"}


def _stopped(outcome: Outcome, rest: Sequence[Recipient], exc: Exception) -> None:
    """A batch stopped part-way: those before ``rest`` went. The first of ``rest`` may
    have gone too when SES did not answer; it goes again later, with a note that says
    so (the send's rule for a request without an answer). The others surely did not."""
    words = str(exc)
    if isinstance(exc, TransportUnavailable) and not exc.not_sent:
        outcome.deferred[rest[0].id] = (f"{words}; SES may have taken it, and it goes again "
                                        "later: this reader may get it twice")
        rest = rest[1:]
    outcome.not_sent.update({recipient.id: words for recipient in rest})


def _endpoint_warnings(url: str) -> list[str]:
    """A plain-http endpoint carries every message in the clear: fine on this machine."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "http" and host not in ("localhost", "::1") and \
            not host.startswith("127."):
        return [f"SES_ENDPOINT_URL {url} is plain http to another machine: every message "
                "travels unencrypted (use https)"]
    return []
