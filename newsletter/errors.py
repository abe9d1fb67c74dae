"""The one exception tree of the package.

    NewsletterError            anything the tool reports to a person
    ├── ProblemsFound          a file failed validation; carries every Problem found
    │   └── NotReady           the file is valid, but its email has errors (lint)
    ├── ConfigError            a setting or environment variable is missing or wrong
    ├── NaiveDatetime          a datetime without its timezone handed to the store (a bug
    │                          in the caller: the store keeps UTC and will not guess)
    ├── IssueNotFound          no issue file for the date or path asked for
    │   └── NotADate           text meant as a day that is none (2024-13-01, 'tomorow'):
    │                          a usage error at the command line (exit status 2)
    ├── OutputError            a file we were asked to write could not be written
    ├── FetchError             a page we were asked to read could not be read: no answer
    │                          in time, an error status, an internal address, not a page
    ├── SubscriberError        a bad address, an unknown subscriber, a bad import file
    │   ├── BadTimezone        a timezone that does not exist
    │   ├── BadLink            a link's token that is not ours, or not for this use
    │   │   └── LinkExpired    ours and for this use, but older than it may be
    │   └── StatusRefused      a change of status the reader's rules do not allow
    │                          (store/status.py says why)
    └── DeliveryError          a send that could not go on
        ├── TransportRejected  the provider refused the request itself (400, 401, 403, 413):
        │                      retrying cannot help, so the send stops at once
        ├── TransportUnavailable  429, 5xx, timeouts, dropped connections: retried with
        │                      backoff, and the send pauses when they keep coming
        ├── BatchNotSent       a batch failed before anything of it left (a message that
        │                      cannot be written): released, and the send stops
        ├── SenderUnhealthy    the recent sends' complaint or hard-bounce rate is above
        │                      the limit: the send did not begin (exit status 4)
        ├── BatchMoveRefused   a change of a batch's state that store/batch_state.py's
        │                      table does not allow (a bug, or another run took the batch)
        └── SendPaused         too many errors in one run, or stopped by a signal;
                               running again resumes (carries the run's report)

The CLI turns each of these into one line (or one line per Problem) and exit code 1
(NotADate: 2, as for any other bad argument).
Configuration errors stay apart from anything retryable so retry logic added later can
never swallow a bad setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One finding in one file, printed as ``FILE:LINE:COL: field.path: message``."""

    file: str
    line: int
    column: int
    path: str
    message: str
    severity: Severity = Severity.ERROR
    code: str = ""  # a finding that other code acts on by kind ("placeholder")

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        label = "" if self.severity is Severity.ERROR else "warning: "
        field = f"{self.path}: " if self.path else ""
        return f"{where}: {label}{field}{self.message}"


def errors_in(problems: Sequence[Problem]) -> list[Problem]:
    """The errors among ``problems`` (the rest are warnings)."""
    return [p for p in problems if p.severity is Severity.ERROR]


class NewsletterError(Exception):
    """Base of every error this package raises on purpose."""


class ProblemsFound(NewsletterError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[type[ProblemsFound], tuple[list[Problem]]]:
        # Made again from its problems (not its message) when it crosses to another
        # process: a send renders its email in a process of its own.
        return type(self), (self.problems,)


class NotReady(ProblemsFound):
    """An issue that parses, but whose email must not go out as it is (too large, say).
    Carries every finding, warnings included, so they can be shown together."""


class ConfigError(NewsletterError):
    pass


class NaiveDatetime(NewsletterError):
    pass


class IssueNotFound(NewsletterError):
    pass


class NotADate(IssueNotFound):
    """Text given for an issue's day that names no day: an impossible date, or a word
    that is neither a day's nor a path. Under IssueNotFound, which is what callers that
    asked for an issue by a bad date were given before."""


class OutputError(NewsletterError):
    pass


class FetchError(NewsletterError):
    pass


class SubscriberError(NewsletterError):
    pass


class BadTimezone(SubscriberError):
    pass


class BadLink(SubscriberError):
    pass


class LinkExpired(BadLink):
    pass


class StatusRefused(SubscriberError):
    pass


class DeliveryError(NewsletterError):
    pass


class TransportRejected(DeliveryError):
    """The provider refused for good. ``status`` (its HTTP status) and ``code`` (its own
    name for the error), when it answered with them, are what callers decide on: the
    message is for people, and its words may change."""

    def __init__(self, message: str, *, status: int | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class TransportUnavailable(DeliveryError):
    """Worth trying again. ``not_sent`` says the provider surely did not take the request
    (it answered with an error, or could not be reached); when False (a timeout, a dropped
    connection) it may have been accepted, and the ledger must treat it as uncertain.
    ``status`` is the provider's HTTP status when it answered (429: its rate limit), for
    callers to decide on instead of the message's words."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 not_sent: bool = True, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.not_sent = not_sent
        self.status = status

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the keyword fields when the error crosses from a worker process.
        return (_unavailable, (str(self), self.retry_after, self.not_sent, self.status))


def _unavailable(message: str, retry_after: float | None, not_sent: bool,
                 status: int | None = None) -> TransportUnavailable:
    return TransportUnavailable(message, retry_after=retry_after, not_sent=not_sent,
                                status=status)


class BatchNotSent(DeliveryError):
    pass


class RefusedAfterNoAnswer(TransportRejected):
    """A refusal of a batch whose earlier try got no answer: the provider may have taken
    that try, so the batch is uncertain, never pending; the send stops as for any
    refusal."""


class SenderUnhealthy(DeliveryError):
    """The recent sends' complaint or hard-bounce rate is above the limit: the send did
    not begin (exit status 4 at the command line)."""


class BatchMoveRefused(DeliveryError):
    pass


class SendPaused(DeliveryError):
    def __init__(self, message: str, *, report: object = None) -> None:
        super().__init__(message)
        self.report = report  # the SendReport of the run that paused
