"""A loopback X API v2 for the collector tests, serving real payloads to the real tweepy client.

- ``GET /2/tweets/search/recent`` and ``/2/tweets/search/all``: the tweets it holds (real tweets from twarc2
  search pages, each with its page's ``includes``), newest first, ``max_results`` per page, above ``since_id``;
  it issues the ``next_token`` of each page and only accepts it again with the same query and ``since_id``
  (as the API does). Every tweet matches every query.
- ``GET / POST /2/tweets/search/stream/rules``: rules kept in memory; add (201, or 200 with ``errors`` for
  a rule without a positive term) and delete by id.
- ``GET /2/tweets/search/stream``: chunked, ``\\r\\n``-delimited lines (real stream lines), a keep-alive blank
  line when connected and every ``keepalive_every`` seconds when idle; the position is shared by connections,
  so a reconnect goes on with the first line the last connection did not deliver whole.
- A bearer token check (401 otherwise), a 400 for a query parameter the endpoint does not take, a scriptable
  fault queue per endpoint (``fail``; ``echoing(status)`` answers with a body and a header repeating the
  Authorization header and the token, as some proxies and error pages do) and a log of every request
  (``requests``), for tests to assert what was asked.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

SEARCH_LIMITS = {"recent": 100, "all": 500}
FIELDS = {"expansions", "tweet.fields", "user.fields", "media.fields", "place.fields", "poll.fields"}
PARAMETERS = {
    "search": FIELDS | {"query", "start_time", "end_time", "since_id", "until_id", "max_results", "next_token",
                        "sort_order"},
    "rules": {"ids", "dry_run", "delete_all"},
    "stream": FIELDS | {"backfill_minutes"},
}
RULES = "/2/tweets/search/stream/rules"
STREAM = "/2/tweets/search/stream"


@dataclass(frozen=True)
class StoredTweet:
    """One real tweet and the ``includes`` of the page it came from."""

    id: int
    tweet: dict
    includes: dict


@dataclass(frozen=True)
class Fault:
    """A scripted answer to the next request of one endpoint, in place of the normal one."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    truncate: bool = False  # search: the page it would have served, cut in half (not JSON)
    cut_after: int | None = None  # stream: deliver this many lines, then drop the connection mid-line
    echo: bool = False  # the body echoes the request's Authorization header (a proxy's or gateway's error page)


@dataclass(frozen=True)
class Request:
    """What the client asked."""

    method: str
    path: str
    params: dict[str, str]
    body: Any = None


@dataclass(frozen=True)
class SearchToken:
    """What a ``next_token`` continues: the query and since_id it was issued for, below the last id sent."""

    query: str
    since_id: str | None
    below_id: int


def problem(status: int, title: str, detail: str, **extra: Any) -> bytes:
    """An X API v2 problem body."""
    return orjson.dumps({"title": title, "detail": detail, "type": "about:blank", "status": status, **extra})


def rate_limited(reset_in: float) -> Fault:
    """429 with the reset time ``reset_in`` seconds from now."""
    reset = str(int(time.time() + reset_in))
    headers = (("x-rate-limit-limit", "450"), ("x-rate-limit-remaining", "0"), ("x-rate-limit-reset", reset))
    return Fault(429, problem(429, "Too Many Requests", "Too Many Requests"), headers)


def server_error(status: int = 500) -> Fault:
    """A 5xx."""
    return Fault(status, problem(status, "Internal Server Error", "Something went wrong. Try again later."))


def unauthorized() -> Fault:
    """401 as the API answers a bad bearer token."""
    return Fault(401, problem(401, "Unauthorized", "Unauthorized"))


def forbidden() -> Fault:
    """403 as the API answers an app without the access level."""
    return Fault(403, problem(
        403, "Client Forbidden", "This request must be made using an approved developer account that is "
        "enrolled in the requested endpoint.", reason="client-not-enrolled",
        required_enrollment="Appropriate Level of API Access"))


def echoing(status: int) -> Fault:
    """An error answer whose body echoes the Authorization header and the bearer token, as some proxies,
    gateways and error pages do."""
    return Fault(status, b"", echo=True)


def malformed_page() -> Fault:
    """200 with the page it would have served cut in half."""
    return Fault(truncate=True)


def stream_cut(after_lines: int) -> Fault:
    """A stream connection that dies in the middle of line ``after_lines + 1``."""
    return Fault(cut_after=after_lines)


def tweets_of_pages(path: Path) -> list[StoredTweet]:
    """Every tweet of a JSONL file of search pages (twarc2 output), each with its page's includes."""
    tweets = []
    for line in path.read_bytes().splitlines():
        page = orjson.loads(line)
        includes = page.get("includes") or {}
        tweets += [StoredTweet(int(t["id"]), t, includes) for t in page.get("data") or ()]
    return tweets


def stream_lines(path: Path) -> list[bytes]:
    """The lines of a saved stream as the API sent them: twarc's ``__twarc`` key dropped, broken lines kept."""
    lines = []
    for line in path.read_bytes().splitlines():
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            lines.append(line)
            continue
        doc.pop("__twarc", None)
        lines.append(orjson.dumps(doc))
    return lines


def merge_includes(parts: Iterable[dict]) -> dict[str, list]:
    """One ``includes`` from several, each object once (by id or media key)."""
    merged: dict[str, dict[str, dict]] = {}
    for includes in {id(part): part for part in parts}.values():
        for kind, items in includes.items():
            bucket = merged.setdefault(kind, {})
            for item in items:
                bucket.setdefault(str(item.get("id") or item.get("media_key")), item)
    return {kind: list(bucket.values()) for kind, bucket in merged.items()}


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the FakeTwitterAPI that owns the server."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        """Answer a GET."""
        self.server.api.handle(self)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


class _Server(ThreadingHTTPServer):
    """The HTTP server, with a reference to its fake."""

    daemon_threads = True

    def __init__(self, api: FakeTwitterAPI) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api


@dataclass
class FakeTwitterAPI:
    """The fake API; use as a context manager, point the client at ``url``."""

    token: str
    tweets: list[StoredTweet] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    rules: dict[str, dict] = field(default_factory=dict)
    keepalive_every: float = 0.05
    requests: list[Request] = field(default_factory=list)
    stream_position: int = 0
    open_streams: int = 0
    stream_connections: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._faults: dict[str, deque[Fault]] = {"search": deque(), "rules": deque(), "stream": deque()}
        self._tokens: dict[str, SearchToken] = {}
        self._ids = itertools.count(1)
        self.add_tweets(self.tweets)
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        """Base URL to put in a spec's ``endpoint``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeTwitterAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    # ----------------------------------------------------------------------- scripting

    def add_tweets(self, tweets: Iterable[StoredTweet]) -> None:
        """Publish tweets (each id once), kept newest first."""
        with self._lock:
            by_id = {t.id: t for t in [*tweets, *self.tweets]}
            self.tweets = sorted(by_id.values(), key=lambda t: t.id, reverse=True)

    def fail(self, endpoint: str, *faults: Fault) -> None:
        """Answer the next requests to ``endpoint`` ("search", "rules", "stream") with ``faults``, in order."""
        with self._lock:
            self._faults[endpoint].extend(faults)

    def asked(self, path_part: str) -> list[Request]:
        """The logged requests whose path contains ``path_part``."""
        return [r for r in self.requests if path_part in r.path]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Whether ``condition`` became true within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    # ----------------------------------------------------------------------- dispatch

    def handle(self, handler: _Handler) -> None:
        """Log, check the token, play a scripted fault or answer the endpoint."""
        parts = urlsplit(handler.path)
        params = dict(parse_qsl(parts.query))
        length = int(handler.headers.get("Content-Length") or 0)
        body = orjson.loads(handler.rfile.read(length)) if length else None
        with self._lock:
            self.requests.append(Request(handler.command, parts.path, params, body))
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(handler, unauthorized())
        endpoint = self._endpoint(handler.command, parts.path)
        if endpoint is None:
            return self._send(handler, Fault(404, problem(404, "Not Found Error", f"no route {parts.path}")))
        unknown = sorted(set(params) - PARAMETERS[endpoint])
        if unknown:
            return self._send(handler, Fault(400, problem(
                400, "Invalid Request", f"The query parameter [{unknown[0]}] is not one of "
                f"[{','.join(sorted(PARAMETERS[endpoint]))}]")))
        fault = self._next_fault(endpoint)
        if fault and fault.echo:
            return self._send(handler, self._echo(fault, handler))
        if fault and fault.status != 200:
            return self._send(handler, fault)
        if endpoint == "stream":
            return self._stream(handler, fault)
        if endpoint == "rules":
            return self._send(handler, self._rules(handler.command, body))
        answer = self._search(parts.path.rsplit("/", 1)[-1], params)
        if fault and fault.truncate:
            answer = Fault(answer.status, answer.body[: len(answer.body) // 2])
        self._send(handler, answer)

    @staticmethod
    def _endpoint(method: str, path: str) -> str | None:
        """Which scripted endpoint a request is for."""
        if path == RULES:
            return "rules"
        if method == "GET" and path == STREAM:
            return "stream"
        if method == "GET" and path.rsplit("/", 1)[-1] in SEARCH_LIMITS and path.startswith("/2/tweets/search/"):
            return "search"
        return None

    def _echo(self, fault: Fault, handler: _Handler) -> Fault:
        """``fault`` with a problem body (and a header) that repeat what the client sent to authenticate."""
        sent = handler.headers.get("Authorization", "")
        body = problem(fault.status, "Upstream Error", f"upstream refused the request with headers "
                       f"{{'Authorization': '{sent}'}} (token={sent.removeprefix('Bearer ')})")
        return Fault(fault.status, body, (("x-echo-authorization", sent),))

    def _next_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            queue = self._faults[endpoint]
            return queue.popleft() if queue else None

    @staticmethod
    def _send(handler: _Handler, answer: Fault) -> None:
        """Write a whole (non-streamed) response."""
        handler.send_response(answer.status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers:
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(answer.body)

    # ----------------------------------------------------------------------- search

    def _search(self, kind: str, params: dict[str, str]) -> Fault:
        """One page of the held tweets, as the search endpoint answers."""
        query, since_id, token = params.get("query", ""), params.get("since_id"), params.get("next_token")
        max_results = int(params.get("max_results", "10"))
        if not query or not 10 <= max_results <= SEARCH_LIMITS[kind]:
            return Fault(400, problem(400, "Invalid Request", "One or more parameters to your request was invalid."))
        with self._lock:
            below = self._below(token, query, since_id)
            if isinstance(below, Fault):
                return below
            matching = [t for t in self.tweets if t.id < below and (since_id is None or t.id > int(since_id))]
            page, rest = matching[:max_results], matching[max_results:]
            next_token = self._issue(SearchToken(query, since_id, page[-1].id)) if rest else None
        return Fault(200, orjson.dumps(self._page(page, next_token)))

    def _below(self, token: str | None, query: str, since_id: str | None) -> int | Fault:
        """The id a page continues below (a 400 for a token not issued for this query and since_id)."""
        if token is None:
            return 2**63
        issued = self._tokens.get(token)
        if issued is None or (issued.query, issued.since_id) != (query, since_id):
            return Fault(400, problem(400, "Invalid Request", "The `next_token` query parameter value "
                                      f"[{token}] is not valid with this query"))
        return issued.below_id

    def _issue(self, token: SearchToken) -> str:
        value = f"b26v89c19zqg8o3f{next(self._ids):08d}"
        self._tokens[value] = token
        return value

    @staticmethod
    def _page(tweets: list[StoredTweet], next_token: str | None) -> dict:
        """A search response page."""
        meta: dict[str, Any] = {"result_count": len(tweets)}
        if tweets:
            meta |= {"newest_id": str(tweets[0].id), "oldest_id": str(tweets[-1].id)}
        if next_token:
            meta["next_token"] = next_token
        if not tweets:
            return {"meta": meta}
        return {"data": [t.tweet for t in tweets], "includes": merge_includes(t.includes for t in tweets),
                "meta": meta}

    # ----------------------------------------------------------------------- rules

    def _rules(self, method: str, body: Any) -> Fault:
        """List, add or delete stream rules."""
        sent = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        with self._lock:
            if method == "GET":
                rules = list(self.rules.values())
                return Fault(200, orjson.dumps({**({"data": rules} if rules else {}),
                                                "meta": {"sent": sent, "result_count": len(rules)}}))
            if body and "add" in body:
                return self._add_rules(body["add"], sent)
            ids = [str(i) for i in ((body or {}).get("delete") or {}).get("ids") or ()]
            deleted = [i for i in ids if self.rules.pop(i, None)]
            return Fault(200, orjson.dumps({"meta": {"sent": sent, "summary": {
                "deleted": len(deleted), "not_deleted": len(ids) - len(deleted)}}}))

    def _add_rules(self, rules: list[dict], sent: str) -> Fault:
        """Create the valid rules; report the invalid and duplicate ones in ``errors``."""
        created, errors, invalid = [], [], 0
        for rule in rules:
            value = rule.get("value") or ""
            duplicate = next((r["id"] for r in self.rules.values() if r["value"] == value), None)
            if all(term.startswith("-") for term in value.split()):
                invalid += 1
                errors.append({"value": value, "details": ["Rules must contain a non-negation term (at position 1)"],
                               "title": "UnprocessableEntity",
                               "type": "https://api.twitter.com/2/problems/invalid-rules"})
            elif duplicate:
                errors.append({"value": value, "id": duplicate, "title": "DuplicateRule",
                               "type": "https://api.twitter.com/2/problems/duplicate-rules"})
            else:
                new = {"id": str(1_600_000_000_000_000_000 + next(self._ids)), "value": value}
                self.rules[new["id"]] = new | ({"tag": rule["tag"]} if rule.get("tag") else {})
                created.append(self.rules[new["id"]])
        summary = {"created": len(created), "not_created": len(rules) - len(created),
                   "valid": len(rules) - invalid, "invalid": invalid}
        doc = {**({"data": created} if created else {}), "meta": {"sent": sent, "summary": summary},
               **({"errors": errors} if errors else {})}
        return Fault(201 if created else 200, orjson.dumps(doc))

    # ----------------------------------------------------------------------- stream

    def _stream(self, handler: _Handler, fault: Fault | None) -> None:
        """Send lines from the shared position on, keep-alives when idle, until the client or the server goes."""
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.close_connection = True
        with self._lock:
            self.open_streams += 1
            self.stream_connections += 1
        try:
            self._chunk(handler, b"\r\n")
            self._stream_lines(handler, fault.cut_after if fault else None)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up
        finally:
            with self._lock:
                self.open_streams -= 1

    def _stream_lines(self, handler: _Handler, cut_after: int | None) -> None:
        """The line loop of one connection."""
        sent = 0
        while not self._stopping.is_set():
            with self._lock:
                line = self.lines[self.stream_position] if self.stream_position < len(self.lines) else None
            if line is None:
                time.sleep(self.keepalive_every)
                self._chunk(handler, b"\r\n")
                continue
            if sent == cut_after:
                self._chunk(handler, line[: len(line) // 2])
                handler.connection.shutdown(socket.SHUT_RDWR)
                return
            self._chunk(handler, line + b"\r\n")
            sent += 1
            with self._lock:
                self.stream_position += 1

    @staticmethod
    def _chunk(handler: _Handler, data: bytes) -> None:
        """One chunk of a chunked response."""
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        handler.wfile.flush()
