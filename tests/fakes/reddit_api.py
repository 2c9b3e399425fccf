"""A loopback Reddit API for the collector tests, replaying real listing bodies from PRAW's Betamax cassettes.

- ``POST /api/v1/access_token``: checks the HTTP Basic client id / secret (wrong: 401, as Reddit answers) and
  the grant: ``client_credentials``, or ``password`` with the script app's username / password (wrong: 200
  ``{"error": "invalid_grant"}``, as Reddit answers); issues bearer tokens.
- ``GET /r/<name>/<listing>``: needs an issued bearer token (else 401 with ``www-authenticate``, as Reddit).
  Serves the pages given to :meth:`FakeRedditAPI.serve`, chained by ``after``. A page is replayed byte for byte
  when the request starts at it and asks for at least its size; otherwise a Listing of the requested slice of
  the same real posts is built (``limit`` honoured, at most 100; ``after`` = its last post, as Reddit sets it).
  An ``after`` it never issued gives an empty Listing; a subreddit never served answers 302 to the subreddit
  search, as Reddit does for a subreddit that does not exist.
- Faults (:meth:`FakeRedditAPI.fail`): matched by path prefix in the order scripted, each ``times`` times or
  for ever: any status, headers and body (or one echoing the client's credentials); status 0 drops the
  connection without an answer.
- ``log``: every request with its parameters, token form and answer status.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

CASSETTES = Path("api-payloads") / "praw-cassettes"
LISTING_PATH = re.compile(r"/r/([^/]+)/([a-z]+)/?")
TOKEN_PATH = "/api/v1/access_token"
INVALID_TOKEN = {"www-authenticate": 'Bearer realm="reddit", error="invalid_token"'}


def cassette_listings(shared_data: Path) -> dict[str, bytes]:
    """Every recorded GET answer that is a non-empty Listing of submissions, byte for byte, by "<test> #<n>"."""
    found: dict[str, bytes] = {}
    for path in sorted((shared_data / CASSETTES).glob("*.json")):
        interactions = json.loads(path.read_text(encoding="utf-8"))["interactions"]
        for number, interaction in enumerate(interactions):
            body = interaction["response"]["body"].get("string", "")
            if interaction["request"]["method"] == "GET" and _submissions(body):
                found[f"{path.stem} #{number}"] = body.encode("utf-8")
    return found


def _submissions(body: str) -> list[dict]:
    """The t3 children of a Listing body ([] when it is not a non-empty Listing of submissions only)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return []
    children = doc.get("data", {}).get("children") if isinstance(doc, dict) and doc.get("kind") == "Listing" else None
    return children if children and all(child.get("kind") == "t3" for child in children) else []


def chain(bodies: list[bytes]) -> list[bytes]:
    """``bodies`` as consecutive pages: each keeps its own ``after`` (its last post); the last gets null."""
    last = bodies[-1]
    after = json.loads(last)["data"]["after"]
    if after is None:
        return list(bodies)
    token = f'"after": "{after}"'.encode()
    assert last.count(token) == 1, "the recorded after token must occur once"
    return [*bodies[:-1], last.replace(token, b'"after": null')]


def subreddit_pages(listings: dict[str, bytes], subreddit: str, page_size: int = 100) -> list[bytes]:
    """The real posts of ``subreddit`` found across ``listings`` (each once, best score first), as Listing pages."""
    posts = {}
    for body in listings.values():
        for child in _submissions(body.decode("utf-8")):
            if child["data"]["subreddit"].lower() == subreddit.lower():
                posts.setdefault(child["data"]["name"], child)
    ranked = sorted(posts.values(), key=lambda child: -child["data"]["score"])
    slices = [ranked[start:start + page_size] for start in range(0, len(ranked), page_size)]
    return [_listing(part, part[-1]["data"]["name"] if index < len(slices) - 1 else None)
            for index, part in enumerate(slices)]


def _listing(children: list[dict], after: str | None) -> bytes:
    """A Listing document as Reddit shapes it."""
    data = {"after": after, "dist": len(children), "modhash": None, "geo_filter": "", "children": children,
            "before": None}
    return json.dumps({"kind": "Listing", "data": data}).encode("utf-8")


@dataclass
class Logged:
    """One request the fake answered."""

    method: str
    path: str
    params: dict[str, str]
    status: int
    form: dict[str, str] = field(default_factory=dict)
    authorization: str = ""


@dataclass
class Fault:
    """A scripted answer for requests whose path starts with ``match``."""

    match: str
    status: int
    body: bytes
    headers: dict[str, str]
    times: int | None
    echo: bool = False


class ServedListing:
    """The pages of one subreddit listing, and the posts behind them for slices."""

    def __init__(self, pages: list[bytes]) -> None:
        self.pages = pages
        self.items: list[dict] = []
        self.starts: dict[int, int] = {}  # position of a page's first post -> page index
        self.sizes: list[int] = []
        self.tokens: dict[str, int] = {}  # after token -> position of the next post
        for index, page in enumerate(pages):
            data = json.loads(page)["data"]
            self.starts[len(self.items)] = index
            self.sizes.append(len(data["children"]))
            self.items += data["children"]
            if data["after"]:
                self.tokens[data["after"]] = len(self.items)

    def answer(self, after: str | None, limit: int) -> bytes:
        """The body for a request of ``limit`` posts from ``after`` on."""
        if after is not None and after not in self.tokens:
            return _listing([], None)
        start = self.tokens[after] if after else 0
        index = self.starts.get(start)
        if index is not None and limit >= self.sizes[index]:
            return self.pages[index]
        part = self.items[start:start + limit]
        end = start + len(part)
        token = part[-1]["data"]["name"] if part and end < len(self.items) else None
        if token:
            self.tokens[token] = end
        return _listing(part, token)


class FakeRedditAPI:
    """A threaded HTTP server on 127.0.0.1 (a free port) speaking enough of Reddit's API for praw."""

    def __init__(self, client_id: str = "fake-client-id", client_secret: str = "fake-client-secret",
                 username: str | None = None, password: str | None = None) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.username, self.password = username, password
        self.log: list[Logged] = []
        self._listings: dict[tuple[str, str], ServedListing] = {}
        self._faults: list[Fault] = []
        self._tokens: set[str] = set()
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        """Base URL for praw's oauth_url and reddit_url."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeRedditAPI:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def serve(self, subreddit: str, listing: str, pages: list[bytes]) -> None:
        """Serve ``pages`` (chained by their ``after``) as /r/<subreddit>/<listing>, replacing earlier ones."""
        with self._lock:
            self._listings[(subreddit.lower(), listing)] = ServedListing(pages)

    def fail(self, match: str, status: int, *, body: bytes = b"", headers: dict[str, str] | None = None,
             times: int | None = 1, echo: bool = False) -> None:
        """Answer the next ``times`` requests (None: all) whose path starts with ``match`` with this instead;
        ``echo``: the body (Reddit's ``{"message", "error", "reason"}``) and a header repeat what the client sent
        to authenticate (the Authorization header, decoded Basic credentials, the password grant's form)."""
        with self._lock:
            self._faults.append(Fault(match, status, body, dict(headers or {}), times, echo))

    def listing_requests(self) -> list[Logged]:
        """The GET requests, in order."""
        return [entry for entry in self.log if entry.method == "GET"]

    def token_requests(self) -> list[Logged]:
        """The token requests, in order."""
        return [entry for entry in self.log if entry.path == TOKEN_PATH]

    def handle(self, request: Logged) -> tuple[bytes, dict[str, str]]:
        """Answer ``request`` (its status is filled in) and log it: the body and the extra headers."""
        fault = self._fault_for(request.path)
        headers: dict[str, str] = {}
        if fault is not None:
            request.status, body, headers = fault.status, fault.body, fault.headers
            if fault.echo:
                body, headers = _echo(request), {**headers, "x-echo-authorization": request.authorization}
        elif request.method == "POST" and request.path == TOKEN_PATH:
            request.status, body = self._token(request.authorization, request.form)
        elif request.method == "GET":
            request.status, body, headers = self._listing_answer(request.path, request.params, request.authorization)
        else:
            request.status, body = 404, b'{"message": "Not Found", "error": 404}'
        with self._lock:
            self.log.append(request)
        return body, headers

    def _fault_for(self, path: str) -> Fault | None:
        """The scripted fault answering ``path`` now, if any (consumed)."""
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.match) and fault.times != 0:
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _token(self, authorization: str, form: dict[str, str]) -> tuple[int, bytes]:
        """Answer a token request like Reddit."""
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if authorization != f"Basic {expected}":
            return 401, b'{"message": "Unauthorized", "error": 401}'
        grant = form.get("grant_type")
        login_ok = (form.get("username"), form.get("password")) == (self.username, self.password)
        if grant not in ("client_credentials", "password") or (grant == "password" and not login_ok):
            return 200, b'{"error": "invalid_grant"}'
        with self._lock:
            token = f"fake-token-{next(self._numbers)}"
            self._tokens.add(token)
        return 200, json.dumps({"access_token": token, "token_type": "bearer", "expires_in": 86400,
                                "scope": "*"}).encode()

    def _listing_answer(self, path: str, params: dict[str, str], authorization: str) -> tuple[int, bytes, dict]:
        """Answer a listing request like Reddit."""
        with self._lock:
            if authorization.removeprefix("bearer ") not in self._tokens:
                return 401, b'{"message": "Unauthorized", "error": 401}', INVALID_TOKEN
            found = LISTING_PATH.fullmatch(path)
            served = self._listings.get((found.group(1).lower(), found.group(2))) if found else None
            if served is None:
                name = found.group(1) if found else path
                return 302, b"", {"location": f"https://www.reddit.com/subreddits/search.json?q={name}"}
            return 200, served.answer(params.get("after"), min(int(params.get("limit", 25)), 100)), {}


def _echo(request: Logged) -> bytes:
    """A Reddit error body repeating the request's credentials."""
    sent = request.authorization
    decoded = ""
    if sent.startswith("Basic "):
        decoded = base64.b64decode(sent.removeprefix("Basic ")).decode()
    echoed = f"upstream refused Authorization: {sent} ({decoded}) form={request.form}"
    return json.dumps({"message": echoed, "error": 403, "reason": echoed}).encode()


def _handler(api: FakeRedditAPI) -> type[BaseHTTPRequestHandler]:
    """The request handler class bound to ``api``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, *_: object) -> None:
            """Quiet."""

        def _answer(self, method: str) -> None:
            """Parse the request, let ``api`` answer it, write the answer (status 0: drop the connection)."""
            parts = urlsplit(self.path)
            content = self.rfile.read(int(self.headers.get("content-length") or 0))
            request = Logged(method, parts.path, dict(parse_qsl(parts.query)), 0,
                             dict(parse_qsl(content.decode())) if method == "POST" else {},
                             self.headers.get("authorization", ""))
            body, headers = api.handle(request)
            if request.status == 0:
                self.close_connection = True
                return
            self.send_response(request.status)
            headers = {"content-type": "application/json; charset=UTF-8", **headers}
            self.send_header("content-length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler
