"""A local stand-in for SendGrid's v3 API, strict about what it accepts.

Each POST /v3/mail/send is checked against SendGrid's official OpenAPI schema (a copy,
with its MIT licence, in tests/fakes/sendgrid_oai/) and against the rules the schema
cannot express: at most
1,000 recipients a request, each address once, text/plain before text/html, the bearer
key. Tests script its answers: 202, any error status with headers, a slow answer, a
dropped connection, or a hang until released.

GET /v3/categories/stats (``stats sync``) is checked against the operation's parameters
in SendGrid's stats schema (tsg_stats_v3.json: ``start_date`` and ``categories``
required, dates as YYYY-MM-DD, ``aggregated_by`` day, week or month, no other parameter)
and its answer against the schema's CategoryStats before it leaves, so a test can never
pass on a reply SendGrid would not give. Each accepted /mail/send adds its recipients to
``requests`` and ``processed`` of its categories, that day; tests add what SendGrid
would learn later (delivered, opens, ...) with :meth:`FakeSendGrid.count`. The schema
documents only the 200 answer: a category never used is answered 404 "category does not
exist" here, which is an assumption (stats.py takes a 404, or days without the category,
as "no statistics").
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).resolve().parent / "sendgrid_oai" / "tsg_mail_v3.json"
STATS_FILE = SCHEMA_FILE.with_name("tsg_stats_v3.json")
STATS_PATH = "/v3/categories/stats"
METRICS = ("blocks", "bounce_drops", "bounces", "clicks", "deferred", "delivered",
           "invalid_emails", "opens", "processed", "requests", "spam_report_drops",
           "spam_reports", "unique_clicks", "unique_opens", "unsubscribe_drops",
           "unsubscribes")
BODY_POINTER = "#/components/requestBodies/PostMailSend/content/application~1json/schema"
API_KEY = "SG.test-key-never-shown"


def schema_validator() -> Any:
    # No schema, no test: a fake that quietly stopped checking would pass anything.
    if not SCHEMA_FILE.is_file():
        raise FileNotFoundError(f"SendGrid's request schema is missing: {SCHEMA_FILE}")
    from jsonschema import Draft7Validator

    document = json.loads(SCHEMA_FILE.read_text())
    return Draft7Validator({**document, "$ref": BODY_POINTER})


def stats_schema() -> tuple[dict[str, Any], Any]:
    """The category stats operation's parameters (by name) and a validator of its 200
    answer, from SendGrid's own schema."""
    if not STATS_FILE.is_file():
        raise FileNotFoundError(f"SendGrid's stats schema is missing: {STATS_FILE}")
    from jsonschema import Draft7Validator

    document = json.loads(STATS_FILE.read_text())
    operation = document["paths"][STATS_PATH]["get"]
    params = {p["name"]: p for p in operation["parameters"] if "name" in p}
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    return params, Draft7Validator({**document, **answer})


@dataclass
class Answer:
    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    delay: float = 0.0
    drop: bool = False
    hang: bool = False  # wait until released, then drop the connection
    hold: bool = False  # wait until released, then answer as usual
    echo_authorization: bool = False  # a proxy's mistake: the request's key in the error
    raw: bytes | None = None  # a body sent as it is (not JSON), with raw_type
    raw_type: str = "text/html"


def error(status: int, message: str, field_name: str | None = None, **headers: str) -> Answer:
    return Answer(status, headers, {"errors": [{"message": message, "field": field_name,
                                               "help": None}]})


class FakeSendGrid:
    def __init__(self) -> None:
        self.validator = schema_validator()
        self.script: deque[Answer] = deque()
        self.accepted: list[dict[str, Any]] = []
        self.rejected: list[tuple[int, str]] = []
        self.attempts = 0
        self.batches: list[str] = []
        self.cancelled: list[dict[str, Any]] = []
        # Suppression lists by name ({"created", "email", ...} each), the group's list,
        # and every GET's path and query, for the suppression sync.
        self.suppressions: dict[str, list[dict[str, Any]]] = {}
        self.group_suppressions: dict[str, list[str]] = {}
        # A list's answer given as it is, whatever the query: a reply sync must refuse.
        self.odd_listings: dict[str, Answer] = {}
        self.gets: list[tuple[str, dict[str, str]]] = []
        # Category stats: (category, YYYY-MM-DD) -> metric -> count; an answer given
        # instead (a refusal, a rate limit), and every answer given, as checked.
        self.stats_params, self.stats_validator = stats_schema()
        self.category_stats: dict[tuple[str, str], dict[str, int]] = {}
        self.stats_answers: dict[str, Answer] = {}  # category -> answer given instead
        self.lock = threading.Lock()
        self.arrived = threading.Event()  # set when a hanging request has arrived
        self.release = threading.Event()
        # Connections: how many were accepted, how many are open now; a server may close
        # a connection idle for ``idle_timeout`` seconds, or answer every request with
        # ``Connection: close`` (``close_each``), as servers that keep none alive do.
        self.connections = 0
        self.open_connections = 0
        self.idle_timeout: float | None = None
        self.close_each = False
        self.server = _CountingServer(self, ("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeSendGrid:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def then(self, *answers: Answer) -> FakeSendGrid:
        self.script.extend(answers)
        return self

    def recipients(self) -> list[str]:
        """Every address of every accepted request, in order (duplicates kept)."""
        return [to["email"] for body in self.accepted for p in body["personalizations"]
                for to in p["to"]]

    def problems(self, body: dict[str, Any], headers: Any) -> list[str]:
        found = []
        if headers.get("Authorization") != f"Bearer {API_KEY}":
            found.append("bad or missing API key")
        kind = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            found.append(f"Content-Type must be application/json, not {kind or 'missing'!r}")
        found += [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in self.validator.iter_errors(body)]
        if found:
            return found  # the rules below assume the shape is right
        people = [to["email"].lower() for p in body.get("personalizations", [])
                  for kind in ("to", "cc", "bcc") for to in p.get(kind, [])]
        if len(people) > 1000:
            found.append(f"{len(people)} recipients in one request; the limit is 1000")
        if len(set(people)) != len(people):
            found.append("an address appears more than once in one request")
        types = [c.get("type") for c in body.get("content", [])]
        if "text/plain" in types and "text/html" in types and types.index("text/plain") > 0:
            found.append("text/plain must come before text/html")
        return found

    def listing(self, path: str, query: dict[str, str]) -> Answer:
        """A suppression list, filtered by time and paged as SendGrid does."""
        prefix, group = "/v3/suppression/", path.removeprefix("/v3/asm/groups/")
        if path.removeprefix(prefix) in self.odd_listings:
            return self.odd_listings[path.removeprefix(prefix)]
        if path.startswith(prefix):
            entries = self.suppressions.get(path.removeprefix(prefix), [])
            start, end = int(query.get("start_time", 0)), int(query.get("end_time", 2**40))
            limit, offset = int(query.get("limit", 500)), int(query.get("offset", 0))
            if limit > 500:
                return error(400, "limit must be 500 or less")
            chosen = [e for e in entries if start <= e["created"] <= end]
            return Answer(200, body=chosen[offset:offset + limit])  # type: ignore[arg-type]
        if group != path and group.endswith("/suppressions"):
            return Answer(200, body=self.group_suppressions.get(  # type: ignore[arg-type]
                group.removesuffix("/suppressions"), []))
        return error(404, f"no route {path}")

    def count(self, category: str, day: str, **metrics: int) -> None:
        """Add what SendGrid would have counted of ``category`` on ``day``."""
        with self.lock:
            found = self.category_stats.setdefault((category, day), dict.fromkeys(METRICS, 0))
            for name, n in metrics.items():
                assert name in METRICS, name
                found[name] += n

    def _count_send(self, body: dict[str, Any]) -> None:
        people = sum(len(p["to"]) for p in body.get("personalizations", []))
        today = time.strftime("%Y-%m-%d", time.gmtime())
        for category in body.get("categories", []):
            self.count(category, today, requests=people, processed=people)

    def category_stats_answer(self, query: dict[str, list[str]]) -> Answer:
        """GET /v3/categories/stats as the schema describes it, by day (SendGrid's
        default), or by month with a day of 1."""
        for name in ",".join(query.get("categories", [])).split(","):
            if name in self.stats_answers:
                return self.stats_answers[name]
        problems = [f"unknown parameter {name!r}" for name in query
                    if name not in self.stats_params]
        problems += [f"{name} is required" for name, p in self.stats_params.items()
                     if p.get("required") and p.get("in") == "query" and name not in query]
        problems += [f"{name} given twice" for name, values in query.items()
                     if len(values) > 1 and name != "categories"]
        if problems:
            return error(400, "; ".join(problems))
        dates = [_date(query[k][0]) for k in ("start_date", "end_date") if k in query]
        if None in dates:
            return error(400, "dates must be YYYY-MM-DD", "start_date")
        start = dates[0]
        end = dates[1] if len(dates) > 1 else dt.date.today()
        assert start is not None and end is not None
        by = query.get("aggregated_by", ["day"])[0]
        if by not in self.stats_params["aggregated_by"]["schema"].get("enum", ("day", "week",
                                                                                "month")):
            return error(400, "aggregated_by must be day, week or month", "aggregated_by")
        if end < start:
            return error(400, "end_date must be on or after start_date", "end_date")
        names = [c for value in query["categories"] for c in value.split(",")]
        if len(names) > 10:
            return error(400, "at most 10 categories", "categories")
        known = {c for c, _ in self.category_stats}
        if any(name not in known for name in names):
            return error(404, "category does not exist", "categories")
        body = self._days(names, start, end, by)
        wrong = [e.message for e in self.stats_validator.iter_errors(body)]
        assert not wrong, f"the fake's own answer breaks SendGrid's schema: {wrong}"
        return Answer(200, body=body)  # type: ignore[arg-type]

    def _days(self, names: list[str], start: dt.date, end: dt.date, by: str
              ) -> list[dict[str, Any]]:
        days: dict[str, dict[str, dict[str, int]]] = {}
        day = start
        while day <= end:
            key = (day.replace(day=1) if by == "month" else day).isoformat()
            for name in names:
                into = days.setdefault(key, {}).setdefault(name, dict.fromkeys(METRICS, 0))
                for metric, n in self.category_stats.get((name, day.isoformat()), {}).items():
                    into[metric] += n
            day += dt.timedelta(days=1)
        return [{"date": key, "stats": [{"type": "category", "name": name, "metrics": m}
                                        for name, m in found.items()]}
                for key, found in days.items()]

    def other_route(self, path: str, raw: bytes) -> Answer:
        """The scheduled-send routes: create a batch id, cancel or pause a batch."""
        if path == "/v3/mail/batch":
            batch_id = uuid.uuid4().hex
            with self.lock:
                self.batches.append(batch_id)
            return Answer(201, body={"batch_id": batch_id})
        if path == "/v3/user/scheduled_sends":
            request = json.loads(raw or b"{}")
            if request.get("batch_id") not in self.batches or \
                    request.get("status") not in ("cancel", "pause"):
                return error(400, "unknown batch_id or status")
            with self.lock:
                self.cancelled.append(request)
            return Answer(201, body=request)
        return error(404, f"no route {path}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                self.timeout = fake.idle_timeout  # a wait for the next request ends it
                super().setup()

            def do_GET(self) -> None:
                from urllib.parse import parse_qs, parse_qsl, urlsplit

                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                with fake.lock:
                    fake.gets.append((parts.path, query))
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    return self._reply(error(401, "bad or missing API key"))
                if parts.path == STATS_PATH:
                    return self._reply(fake.category_stats_answer(
                        parse_qs(parts.query, keep_blank_values=True)))
                return self._reply(fake.listing(parts.path, query))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/v3/mail/send":
                    return self._reply(fake.other_route(self.path, raw))
                with fake.lock:
                    fake.attempts += 1
                    answer = fake.script.popleft() if fake.script else Answer()
                if answer.hang or answer.hold:
                    fake.arrived.set()
                    fake.release.wait(60)
                    if answer.hang:
                        return self._close()
                if answer.echo_authorization:
                    echoed = f"bad request; you sent {self.headers.get('Authorization')}"
                    return self._reply(error(answer.status, echoed))
                if answer.drop:
                    return self._close()
                time.sleep(answer.delay)
                body = json.loads(raw)
                problems = fake.problems(body, self.headers)
                if body.get("send_at") is not None and body.get("batch_id") not in fake.batches:
                    problems.append("batch_id was not created with /v3/mail/batch")
                if problems:
                    with fake.lock:
                        fake.rejected.append((400, "; ".join(problems)))
                    return self._reply(error(400, "; ".join(problems)))
                if answer.status == 202:
                    fake._count_send(body)
                    with fake.lock:
                        fake.accepted.append(body)
                    return self._reply(Answer(202, {"X-Message-Id": uuid.uuid4().hex[:22]}))
                with fake.lock:
                    fake.rejected.append((answer.status, json.dumps(answer.body)))
                return self._reply(answer)

            def _close(self) -> None:
                self.close_connection = True
                self.connection.close()

            def _reply(self, answer: Answer) -> None:
                payload = json.dumps(answer.body).encode() if answer.body else b""
                payload = answer.raw if answer.raw is not None else payload
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                if fake.close_each:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                if payload:
                    self.send_header("Content-Type", "application/json" if answer.raw is None
                                     else answer.raw_type)
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def _date(text: str) -> dt.date | None:
    if len(text) != 10:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


class _CountingServer(ThreadingHTTPServer):
    """Counts the connections it accepts, and those still open."""

    def __init__(self, fake: FakeSendGrid, *args: Any) -> None:
        self.fake = fake
        super().__init__(*args)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self.fake.lock:
            self.fake.connections += 1
            self.fake.open_connections += 1
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.fake.lock:
                self.fake.open_connections -= 1
