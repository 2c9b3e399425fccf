"""Reddit collector: subreddit listings (top / hot / new) read through praw's own authenticated session.

A spec, e.g. paper 003 (the top 1,000 posts of four subreddits with at least 100 upvotes, labelled)::

    platform: reddit
    name: paper-003
    user_agent: "python:postatlas:1.0 (by /u/your_username)"
    listing: top
    time_filter: all
    limit: 1000
    min_score: 100
    label_task: emotion
    subreddits:
      - {name: happy, label: happy}
      - {name: creepy, label: creepy}
      - {name: rage, label: rage}
      - {name: gore, label: gore}

Credentials: application-only OAuth (client_credentials grant) with the secrets ``reddit-client-id`` and
``reddit-client-secret``; a script app also sets ``reddit-username`` and ``reddit-password`` (both or neither)
and gets the password grant. They go to praw only: never logged, never in an error message.

Raw payloads: each page is requested with praw's ``Reddit.request`` (prawcore's session: token, rate limiter,
prawcore's own retries, status -> exception mapping), and its body is kept byte for byte from the ``requests``
response that session received: a response hook on the ``requests.Session`` given to praw through
``requestor_kwargs`` (public praw and requests API) keeps the last GET. Re-serializing prawcore's parsed JSON with
orjson would change escapes, spacing and number formats, and a body that is not JSON has no parse to re-serialize.

Cursor (JSON, saved with each committed page)::

    {"subreddit": "happy", "after": "t3_abc", "read": 200, "page": 2, "done": ["rage"],
     "newest": {"rage": "t3_xyz"}, "stop_at": "t3_old"}

- ``subreddit`` / ``after`` / ``read`` / ``page``: the subreddit in progress (lower-cased), the ``after`` token of
  its next page, the posts and pages read in it so far (``read`` enforces ``limit`` across an interruption).
  All None / 0 between subreddits.
- ``done``: subreddits finished in this sweep (skipped on resume). A subreddit is finished after ``limit``
  posts, when ``after`` is None (or repeats, or a page is empty), or when its page is not a JSON Listing.
- A sweep goes through ``subreddits`` in spec order. The page that finishes the last one leaves all names in
  ``done``; the next run then starts a new sweep from the first page of each subreddit (nightly runs).
- ``newest`` (listing "new" only): the first post of the last sweep's first page per subreddit. A new sweep
  keeps it as ``stop_at`` and stops the subreddit at the first page holding that post (the page is yielded
  whole: its older posts are duplicates the run loop counts as such). If that post was deleted meanwhile the
  sweep goes on to ``limit``.

Contract with the run loop: pages are yielded untouched, every post included. The run loop (tasks/collect/run.py
calls the hooks ``keep_post_mask`` and ``labels_for_posts`` of this module on each page's normalized posts)

- drops the posts scoring below ``spec.min_score`` (``keep_post_mask``; on a raw page,
  ``posts_below_min_score(page.payload, spec.min_score)`` lists the same posts' fullnames, their ``native_id``);
  posts without a score are kept;
- labels each kept post whose subreddit (``community``, lower-cased) is a key of ``spec_labels(spec)`` with that
  label, under the task ``spec.label_task``, source ``spec:<spec name>`` (``labels_for_posts``);
- downloads the images the normalizer found (galleries, i.redd.it, previews): nothing here.

The run loop checks the limits before each page; the collector only asks Reddit for no more posts than
``max_posts`` still allows.

Faults: 429 (retry-after, else x-ratelimit-reset, else backoff), 5xx and dropped connections are retried with
``retry_transient`` (on top of prawcore's own two retries of 5xx / connection errors and its token refresh on
401); beyond the retries they stop the run cleanly (CollectionStopped "rate_limited" / "server_error" /
"unreachable"), the cursor keeping the page to fetch next. Rejected credentials (401 on the token request, an
OAuth error), an invalid token after a refresh, 403 (private / quarantined subreddit, missing scope), 404
(banned) and a redirect (no such subreddit) raise CollectorError naming the subreddit. A body that is not JSON
is yielded as it came (the normalizer quarantines it).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
import praw
import prawcore
import pyarrow as pa
import pyarrow.compute as pc
import requests
from prawcore.const import ACCESS_TOKEN_PATH
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from storage.schema import LABELS
from tasks.collect.base import CollectionStopped, CollectorError, Limits, Page, backoff, retry_transient
from tasks.collect.secrets import register_basic_auth, require_secret, secret
from tasks.collect.spec import CollectSpec

SUBREDDIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{1,20}")
USER_AGENT = re.compile(r"\S+:\S+:\S+ \(by /?u/[A-Za-z0-9_-]+\)")
ATTEMPTS = 5
PAGE_SIZE = 100


class SubredditSpec(BaseModel):
    """One subreddit to sweep, and the label its posts get (None: no label)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    label: str | None = None

    @field_validator("name")
    @classmethod
    def _bare_name(cls, value: str) -> str:
        """The name without a leading "r/" or "/r/"; letters, digits and _ only."""
        name = value.strip().removeprefix("/").removeprefix("r/")
        if not SUBREDDIT_NAME.fullmatch(name):
            raise ValueError(f"{value!r} is not a subreddit name (2-21 letters, digits or _, e.g. 'happy')")
        return name

    @field_validator("label")
    @classmethod
    def _non_empty_label(cls, value: str | None) -> str | None:
        """A label, when given, is not blank."""
        if value is not None and not value.strip():
            raise ValueError("label must not be blank (leave it out for no label)")
        return value


class RedditSpec(CollectSpec):
    """Which subreddit listings to sweep, how far, and the labels their posts get."""

    platform: Literal["reddit"]
    user_agent: str = Field(description="Reddit's rule: '<platform>:<app id>:<version> (by /u/<username>)'")
    subreddits: list[SubredditSpec] = Field(min_length=1)
    listing: Literal["top", "hot", "new"] = "top"
    time_filter: Literal["all", "year", "month", "week", "day", "hour"] = "all"
    limit: int = Field(default=1000, ge=1, le=1000, description="posts per subreddit and sweep")
    min_score: int = Field(default=0, description="the run loop drops posts with a lower score")
    label_task: str | None = Field(default=None, validate_default=True, description="post_labels task of labels")

    @field_validator("user_agent")
    @classmethod
    def _reddit_user_agent(cls, value: str) -> str:
        """Reddit throttles or bans clients whose user agent does not follow its rule."""
        if not USER_AGENT.fullmatch(value.strip()):
            raise ValueError(
                "must follow Reddit's rule '<platform>:<app id>:<version> (by /u/<username>)', "
                f"e.g. 'python:postatlas:1.0 (by /u/your_username)'; got {value!r}"
            )
        return value.strip()

    @field_validator("subreddits")
    @classmethod
    def _distinct(cls, value: list[SubredditSpec]) -> list[SubredditSpec]:
        """Each subreddit once (names are case-insensitive)."""
        seen: set[str] = set()
        for sub in value:
            if sub.name.lower() in seen:
                raise ValueError(f"r/{sub.name} is listed twice")
            seen.add(sub.name.lower())
        return value

    @field_validator("time_filter")
    @classmethod
    def _only_for_top(cls, value: str, info: ValidationInfo) -> str:
        """A time filter other than "all" only means something for the top listing."""
        listing = info.data.get("listing", "top")
        if value != "all" and listing != "top":
            raise ValueError(f"applies to listing 'top' only, not {listing!r}")
        return value

    @field_validator("label_task")
    @classmethod
    def _task_of_labels(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Labels need a task to be stored under, and a task needs labels."""
        subreddits = info.data.get("subreddits")
        if subreddits is None:
            return value
        labelled = any(sub.label is not None for sub in subreddits)
        if labelled and not value:
            raise ValueError("required when subreddits have labels (e.g. 'emotion')")
        if value and not labelled:
            raise ValueError(f"is {value!r} but no subreddit has a label")
        return value


def spec_labels(spec: RedditSpec) -> dict[str, str]:
    """Subreddit name (lower-cased) -> label, for the labelled subreddits."""
    return {sub.name.lower(): sub.label for sub in spec.subreddits if sub.label is not None}


def posts_below_min_score(listing_json: bytes | str, min_score: int) -> list[str]:
    """Fullnames of the posts of a Listing page scoring below ``min_score`` (posts without a score are kept)."""
    try:
        doc = orjson.loads(listing_json)
    except orjson.JSONDecodeError:
        return []
    return [
        _fullname(thing)
        for thing in _things(doc)
        if _is_number(thing["data"].get("score")) and thing["data"]["score"] < min_score
    ]


def keep_post_mask(posts: pa.Table, spec: RedditSpec) -> pa.ChunkedArray:
    """Run-loop hook: which normalized posts to keep (score at least ``min_score``, or no score)."""
    return pc.fill_null(pc.greater_equal(posts["score"], spec.min_score), True)


def labels_for_posts(posts: pa.Table, spec: RedditSpec, run_id: str) -> pa.Table:
    """Run-loop hook: post_labels rows of the posts from labelled subreddits."""
    labels = spec_labels(spec)
    rows = [
        {"post_id": post_id, "task": spec.label_task, "label": labels[community.lower()],
         "source": f"spec:{spec.name}", "run_id": run_id}
        for post_id, community in zip(posts["post_id"].to_pylist(), posts["community"].to_pylist(), strict=True)
        if community and community.lower() in labels
    ]
    return pa.Table.from_pylist(rows, schema=LABELS)


def _things(doc: Any) -> list[dict]:
    """The ``{"kind", "data": {...}}`` children of a Listing document ([] for anything else)."""
    data = doc.get("data") if isinstance(doc, dict) and doc.get("kind") == "Listing" else None
    children = data.get("children") if isinstance(data, dict) else None
    if not isinstance(children, list):
        return []
    return [child for child in children if isinstance(child, dict) and isinstance(child.get("data"), dict)]


def _fullname(thing: dict) -> str:
    """A thing's fullname (``t3_<id>``)."""
    return str(thing["data"].get("name") or f"{thing.get('kind')}_{thing['data'].get('id')}")


def _is_number(value: Any) -> bool:
    """Whether ``value`` is an int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _after(doc: Any) -> str | None:
    """The ``after`` token of a Listing document, or None."""
    data = doc.get("data") if isinstance(doc, dict) else None
    after = data.get("after") if isinstance(data, dict) else None
    return after if isinstance(after, str) and after else None


@dataclass
class SweepState:
    """Where a sweep stands; ``as_cursor`` is what each page keeps."""

    subreddit: str | None = None
    after: str | None = None
    read: int = 0
    page: int = 0
    done: list[str] = field(default_factory=list)
    newest: dict[str, str] = field(default_factory=dict)
    stop_at: str | None = None

    @classmethod
    def from_cursor(cls, cursor: dict, keys: list[str]) -> SweepState:
        """The state a cursor left for subreddits ``keys``; a new sweep when the last one finished."""
        done = [key for key in cursor.get("done") or [] if key in keys]
        state = cls(done=done, newest=dict(cursor.get("newest") or {}))
        if set(done) >= set(keys):
            state.done = []
        elif cursor.get("subreddit") in keys and cursor["subreddit"] not in done and cursor.get("after"):
            state.subreddit, state.after = cursor["subreddit"], cursor["after"]
            state.read, state.page, state.stop_at = cursor.get("read", 0), cursor.get("page", 0), cursor.get("stop_at")
        return state

    def start(self, key: str, stop_at: str | None) -> None:
        """Begin subreddit ``key`` from its first page."""
        self.subreddit, self.after, self.read, self.page, self.stop_at = key, None, 0, 0, stop_at

    def finish(self, key: str) -> None:
        """Mark subreddit ``key`` done."""
        self.done = [*self.done, key]
        self.subreddit, self.after, self.read, self.page, self.stop_at = None, None, 0, 0, None

    def as_cursor(self) -> dict:
        """The JSON-able cursor."""
        return {
            "subreddit": self.subreddit, "after": self.after, "read": self.read, "page": self.page,
            "done": list(self.done), "newest": dict(self.newest), "stop_at": self.stop_at,
        }


class LastGet:
    """A ``requests`` response hook keeping the last GET response the session received."""

    def __init__(self) -> None:
        self.response: requests.Response | None = None

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        """Keep ``response`` when it answers a GET."""
        if response.request.method == "GET":
            self.response = response
        return response

    def body_of(self, path: str) -> bytes:
        """The body of the last GET, which must have been for ``path``."""
        response = self.response
        if response is None or not urlsplit(response.url).path.endswith(path):
            raise RuntimeError(f"the last GET response is not for {path}: {response and response.url}")
        return response.content


class RedditCollector:
    """Pages of subreddit listings, one subreddit after the other, resumable from any committed page."""

    platform = "reddit"
    fmt = "reddit"
    page_size = PAGE_SIZE

    def __init__(
        self, spec: RedditSpec, reddit: praw.Reddit, last_get: LastGet, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.spec = spec
        self._reddit = reddit
        self._last_get = last_get
        self._sleep = sleep

    def pages(self, cursor: dict, limits: Limits) -> Iterator[Page]:
        """Pages from ``cursor`` on, to the end of the sweep."""
        state = SweepState.from_cursor(cursor, [sub.name.lower() for sub in self.spec.subreddits])
        for sub in self.spec.subreddits:
            key = sub.name.lower()
            if key in state.done:
                continue
            if state.subreddit != key:
                state.start(key, state.newest.get(key) if self.spec.listing == "new" else None)
            yield from self._subreddit_pages(sub.name, state, limits)

    def _subreddit_pages(self, name: str, state: SweepState, limits: Limits) -> Iterator[Page]:
        """The pages of one subreddit from ``state`` on, until it is finished."""
        key = name.lower()
        while True:
            payload, doc = self._fetch(name, state.after, self._request_size(state.read, limits))
            names = [_fullname(thing) for thing in _things(doc)]
            after = _after(doc)
            state.page += 1
            state.read += len(names)
            location = f"page {state.page}"
            if self.spec.listing == "new" and state.page == 1 and names:
                state.newest[key] = names[0]
            finished = (
                not names or after is None or after == state.after or state.read >= self.spec.limit
                or state.stop_at in names
            )
            if finished:
                state.finish(key)
            else:
                state.after = after
            yield Page(payload=payload, source=f"r/{name} {self.spec.listing}", location=location,
                       cursor=state.as_cursor(), posts=len(names))
            if finished:
                return

    def _request_size(self, read: int, limits: Limits) -> int:
        """Posts to ask for: a full page, or what is left of ``limit`` / ``max_posts``."""
        size = min(PAGE_SIZE, self.spec.limit - read)
        if limits.max_posts is not None:
            size = min(size, limits.max_posts - limits.posts_read)
        return max(size, 1)

    def _fetch(self, name: str, after: str | None, size: int) -> tuple[bytes, Any]:
        """The body of one listing page as Reddit sent it, and its parse (None when it is not JSON)."""
        path = f"r/{name}/{self.spec.listing}"
        params: dict[str, str | int] = {"limit": size, "raw_json": 1}
        if self.spec.listing == "top":
            params["t"] = self.spec.time_filter
        if after:
            params["after"] = after
        try:
            doc = retry_transient(
                lambda: self._reddit.request(method="GET", path=path, params=params),
                is_transient=_is_transient, wait_seconds=_wait_seconds, attempts=ATTEMPTS, sleep=self._sleep,
            )
        except prawcore.BadJSON as error:
            return error.response.content, None
        except prawcore.PrawcoreException as error:
            raise _failure(error, name) from error
        return self._last_get.body_of(path), doc


def _is_transient(error: Exception) -> bool:
    """429, 5xx and dropped connections are worth retrying."""
    status = _status(error) if isinstance(error, prawcore.ResponseException) else 0
    return isinstance(error, prawcore.RequestException) or status == 429 or status >= 500


def _status(error: prawcore.ResponseException) -> int:
    """The HTTP status of a failed response."""
    return error.response.status_code


def _wait_seconds(error: Exception, attempt: int) -> float:
    """Seconds before retry ``attempt``: retry-after, else (429) x-ratelimit-reset, else backoff."""
    if isinstance(error, prawcore.ResponseException):
        headers = error.response.headers
        hints = [headers.get("retry-after")] + ([headers.get("x-ratelimit-reset")] if _status(error) == 429 else [])
        for hint in hints:
            seconds = _seconds(hint)
            if seconds is not None:
                return seconds
    return backoff(attempt)


def _seconds(value: str | None) -> float | None:
    """A header's number of seconds, or None when absent or not a number."""
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def _failure(error: prawcore.PrawcoreException, name: str) -> Exception:
    """What ``error`` means for the run: a clean stop (transient beyond the retries) or a CollectorError."""
    where = f"r/{name}"
    if isinstance(error, prawcore.RequestException):
        return CollectionStopped("unreachable", f"{where}: no answer from Reddit after {ATTEMPTS} attempts "
                                                f"({type(error.original_exception).__name__})")
    if isinstance(error, prawcore.OAuthException):
        return CollectorError(f"{where}: Reddit refused the app's token request ({error}): check the secrets "
                              "reddit-client-id / reddit-client-secret (and reddit-username / reddit-password)")
    if not isinstance(error, prawcore.ResponseException):
        return CollectorError(f"{where}: {type(error).__name__}: {error}")
    status, reason = _status(error), _reason(error.response)
    if status == 429:
        return CollectionStopped("rate_limited", f"{where}: Reddit still answered 429 after {ATTEMPTS} attempts")
    if status >= 500:
        return CollectionStopped("server_error", f"{where}: Reddit answered HTTP {status} after {ATTEMPTS} attempts")
    if urlsplit(error.response.url).path.endswith(ACCESS_TOKEN_PATH):
        return CollectorError(f"{where}: Reddit rejected the app's credentials (HTTP {status} on the token request): "
                              "check the secrets reddit-client-id / reddit-client-secret, and that Reddit approved "
                              "the app for API access")
    if isinstance(error, prawcore.InvalidToken):
        return CollectorError(f"{where}: Reddit rejected a freshly issued access token (HTTP 401): check that the "
                              "app is approved for API access")
    if isinstance(error, prawcore.InsufficientScope):
        return CollectorError(f"{where}: the app's token lacks the scope to read this subreddit (HTTP {status})")
    if isinstance(error, prawcore.Forbidden):
        return CollectorError(f"{where} cannot be read (HTTP 403{reason}): it is private, quarantined or banned, "
                              "or this app may not read it; remove it from subreddits or get access")
    if isinstance(error, prawcore.NotFound):
        return CollectorError(f"{where} was not found (HTTP 404{reason}): it is banned or gone; remove it from "
                              "subreddits")
    if isinstance(error, prawcore.Redirect):
        return CollectorError(f"{where} does not exist (Reddit redirected to {error.path}): check the name in "
                              "subreddits")
    return CollectorError(f"{where}: Reddit answered HTTP {status}{reason}")


def _reason(response: requests.Response) -> str:
    """", <reason>" from a Reddit error body ({"reason": "private", ...}), or ""."""
    try:
        reason = response.json().get("reason")
    except (ValueError, AttributeError):
        return ""
    return f", {reason}" if isinstance(reason, str) and reason else ""


def make_collector(spec: RedditSpec, *, sleep: Callable[[float], None] = time.sleep) -> RedditCollector:
    """A collector with praw logged in as the app (or the script app's user) from the secrets."""
    client_id = require_secret("reddit-client-id", "Reddit app client id")
    client_secret = require_secret("reddit-client-secret", "Reddit app client secret")
    register_basic_auth(client_id, client_secret)  # the token request's Authorization header, as a server may echo it
    login = {"username": secret("reddit-username"), "password": secret("reddit-password")}
    if any(login.values()) and not all(login.values()):
        missing = next(key for key, value in login.items() if not value)
        raise CollectorError(f"a Reddit script app needs both reddit-username and reddit-password; {missing} is "
                             "missing (or remove the other for application-only access)")
    session = requests.Session()
    last_get = LastGet()
    session.hooks["response"].append(last_get)
    urls = {"oauth_url": spec.endpoint.rstrip("/"), "reddit_url": spec.endpoint.rstrip("/")} if spec.endpoint else {}
    reddit = praw.Reddit(
        client_id=client_id,
        client_secret=client_secret,
        user_agent=spec.user_agent,
        check_for_updates=False,
        check_for_async=False,
        requestor_kwargs={"session": session},
        **urls,
        **({key: value for key, value in login.items() if value}),
    )
    return RedditCollector(spec, reddit, last_get, sleep=sleep)
