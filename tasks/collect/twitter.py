"""X/Twitter collector: recent / full-archive search pages and the filtered stream, through tweepy (API v2).

Every page is yielded as the raw body the API sent (``return_type=requests.Response``), to be normalized by
``normalize_twitter_v2``: a search page ``{"data": [...], "includes": {...}, "meta": {...}}`` or one stream
line ``{"data": {...}, "includes": {...}, "matching_rules": [...]}``.

Search cursor (the dict stored after each committed page)::

    {"next_token": str | None, "since_id": str | None, "sweep_since_id": str | None}

- A *sweep* reads the query's results newest first, page by page, down to ``sweep_since_id`` (exclusive);
  the first sweep has no lower bound (the API's window: the last 7 days, or ``start_time``).
- ``next_token``: the API's token for the next page of the current sweep; None once the sweep is complete.
- ``since_id``: the newest tweet id seen in the current sweep (its first page's newest, as pages go newest
  first); while no tweet was seen it is the id the sweep started from, so an empty sweep loses nothing.
- ``sweep_since_id``: the lower bound the current sweep asks with; a token is only valid with the same query,
  so a resumed sweep asks with it again.
- Resuming: a cursor with a ``next_token`` continues that sweep (``next_token`` + ``since_id=sweep_since_id``);
  a cursor without one starts a new sweep with ``since_id`` = the stored ``since_id``, so the next nightly
  run reads only tweets newer than everything the last complete sweep read.
- Changing the query of a named collection keeps the old cursor: give the new query a new ``name``.

The stream keeps no cursor (``{}``): tweets sent while nobody is connected are not replayed.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import orjson
import requests
import tweepy
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from tweepy.streaming import BaseStream

from tasks.collect.base import CollectionStopped, CollectorError, Limits, Page, backoff, retry_transient
from tasks.collect.secrets import install_log_redaction, require_secret
from tasks.collect.spec import CollectSpec

T = TypeVar("T")
Sleep = Callable[[float], None]

log = logging.getLogger(__name__)

API_HOST = "https://api.twitter.com"
REQUEST_TIMEOUT = (10.0, 60.0)  # connect, read (seconds) for every request tweepy sends without one
STREAM_TIMEOUT = (10.0, 30.0)  # the stream sends a keep-alive every 20 s: 30 s of silence is a dead connection
REQUEST_ATTEMPTS = 5
MAX_RATE_LIMIT_WAIT = 900.0  # a rate limit resetting later than this stops the run (cursor kept) instead
NETWORK_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
)
EXPANSIONS = "author_id,attachments.media_keys,geo.place_id,entities.mentions.username,referenced_tweets.id"
TWEET_FIELDS = (
    "author_id,conversation_id,created_at,lang,entities,geo,public_metrics,attachments,referenced_tweets,"
    "in_reply_to_user_id,edit_history_tweet_ids,withheld,note_tweet,possibly_sensitive"
)
USER_FIELDS = "created_at,description,location,name,public_metrics,username,verified,withheld"
MEDIA_FIELDS = "url,preview_image_url,width,height,type,media_key"
PLACE_FIELDS = "full_name,geo,country_code"
FIELDS = {"expansions": EXPANSIONS, "tweet_fields": TWEET_FIELDS, "user_fields": USER_FIELDS,
          "media_fields": MEDIA_FIELDS, "place_fields": PLACE_FIELDS}
HTTP_ERRORS: dict[int, type[tweepy.HTTPException]] = {
    400: tweepy.BadRequest, 401: tweepy.Unauthorized, 403: tweepy.Forbidden, 404: tweepy.NotFound,
}


# --------------------------------------------------------------------------- spec


class TwitterRule(BaseModel):
    """One filtered-stream rule; ``tag`` comes back in each matching line's ``matching_rules``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str = Field(min_length=1, description="rule text, e.g. 'cat has:images -is:retweet'")
    tag: str | None = None


class TwitterSpec(CollectSpec):
    """What to collect from the X API v2: a search query, or the filtered stream with its rules."""

    platform: Literal["twitter"]
    mode: Literal["search_recent", "search_all", "stream"]
    query: str | None = Field(default=None, description="search query (search modes)")
    rules: list[TwitterRule] = Field(default_factory=list, description="stream rules, synced before reading")
    max_results: int = Field(default=100, ge=10, le=500, description="tweets per page: 10-100 recent, 10-500 all")
    start_time: AwareDatetime | None = Field(default=None, description="oldest tweet time (search modes)")
    end_time: AwareDatetime | None = Field(default=None, description="newest tweet time (search modes)")
    reconnect_attempts: int = Field(default=5, ge=0, le=100,
                                    description="stream reconnects in a row without a line, then stop")

    @model_validator(mode="after")
    def _check_mode_fields(self) -> TwitterSpec:
        """Fields the mode needs or does not take; each message starts with the field it is about."""
        problems = _stream_problems(self) if self.mode == "stream" else _search_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _search_problems(spec: TwitterSpec) -> list[str]:
    """What a search spec lacks or has too much of."""
    problems: list[str] = []
    if not (spec.query or "").strip():
        problems.append(f"query: required when mode is {spec.mode!r}")
    if spec.rules:
        problems.append(f"rules: only for mode 'stream' (mode is {spec.mode!r}; use query)")
    if spec.mode == "search_recent" and spec.max_results > 100:
        problems.append(f"max_results: search_recent returns at most 100 per page, got {spec.max_results}")
    if spec.start_time and spec.end_time and spec.start_time >= spec.end_time:
        problems.append("end_time: must be after start_time")
    return problems


def _stream_problems(spec: TwitterSpec) -> list[str]:
    """What a stream spec lacks or has too much of."""
    problems: list[str] = []
    if not spec.rules:
        problems.append("rules: mode 'stream' needs at least one rule ({value, tag})")
    values = [rule.value for rule in spec.rules]
    problems += [f"rules: value {value!r} appears more than once" for value in sorted(set(values))
                 if values.count(value) > 1]
    if spec.query is not None:
        problems.append("query: only for the search modes; the stream reads what its rules match")
    if spec.start_time or spec.end_time:
        problems.append("start_time/end_time: only for the search modes; the stream is live")
    return problems


# --------------------------------------------------------------------------- transport


class _ApiAdapter(requests.adapters.HTTPAdapter):
    """Sends ``https://api.twitter.com`` requests to ``base`` when set, with a timeout when tweepy gives none."""

    def __init__(self, base: str | None) -> None:
        super().__init__()
        self.base = base.rstrip("/") if base else None

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Rewrite the host, keep path and query."""
        if self.base and request.url and request.url.startswith(API_HOST):
            request.url = self.base + request.url[len(API_HOST):]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = REQUEST_TIMEOUT
        return super().send(request, **kwargs)


class _PreparedStream(BaseStream):
    """Takes the place of tweepy's blocking read loop: keeps the request ``filter()`` built instead."""

    prepared: tuple[str, str, dict[str, Any]] | None = None

    def _connect(self, method: str, url: str, params: dict[str, Any] | None = None, **_: Any) -> None:
        """Record the request (method, url, params); the collector reads the stream itself."""
        self.prepared = (method, url, params or {})


class StreamClient(tweepy.StreamingClient, _PreparedStream):
    """tweepy's StreamingClient; ``filter()`` builds the request (URL, params, auth header) and returns."""

    def filter_request(self) -> tuple[str, str, dict[str, Any]]:
        """The filtered-stream request as tweepy builds it, with every field the normalizer reads."""
        self.filter(**FIELDS)
        assert self.prepared is not None
        return self.prepared


def _mount(client: tweepy.Client | StreamClient, endpoint: str | None) -> None:
    """Route the client's API requests through the adapter (endpoint override, default timeout)."""
    client.session.mount(API_HOST, _ApiAdapter(endpoint))


# --------------------------------------------------------------------------- faults


class _MalformedPage(Exception):
    """A 200 response whose body is not a JSON object (raised before tweepy's paginator parses it)."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__("response body is not a JSON object")
        self.response = response


def _json_object(body: bytes) -> dict | None:
    """The body as a dict, or None when it is not a JSON object."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _raise_http_error(response: requests.Response) -> None:
    """Raise what tweepy's client raises for this status (the stream is opened outside the client)."""
    status = response.status_code
    if status == 429:
        reset = response.headers.get("x-rate-limit-reset", "")
        raise tweepy.TooManyRequests(response, reset_time=int(reset) if reset.isdigit() else None)
    if status >= 500:
        raise tweepy.TwitterServerError(response)
    raise HTTP_ERRORS.get(status, tweepy.HTTPException)(response)


def _rate_limit_wait(error: tweepy.TooManyRequests) -> float | None:
    """Seconds until the rate limit resets (plus one), or None without a reset header."""
    if error.reset_time is None:
        return None
    return max(error.reset_time - time.time(), 0.0) + 1.0


def _is_transient(error: Exception) -> bool:
    """429 resetting soon enough, 5xx and network faults are worth a retry."""
    if isinstance(error, tweepy.TooManyRequests):
        wait = _rate_limit_wait(error)
        return wait is None or wait <= MAX_RATE_LIMIT_WAIT
    return isinstance(error, (tweepy.TwitterServerError, *NETWORK_ERRORS))


def _wait_seconds(error: Exception, attempt: int) -> float:
    """Until the rate-limit reset for a 429 with the header, else exponential backoff."""
    wait = _rate_limit_wait(error) if isinstance(error, tweepy.TooManyRequests) else None
    wait = backoff(attempt) if wait is None else wait
    log.warning("X API: %s; retrying in %.0f s (attempt %d)", _describe(error), wait, attempt)
    return wait


def _describe(error: Exception) -> str:
    """One line: the status and the API's own messages, or the network error."""
    if isinstance(error, tweepy.HTTPException):
        messages = "; ".join(str(m) for m in error.api_messages) or error.response.reason
        return f"{error.response.status_code} {messages}"
    return f"{type(error).__name__}: {error}"


def _final_error(error: Exception, attempts: int) -> CollectorError | CollectionStopped:
    """What a fault that is not (or no longer) retried becomes: a clean stop or an operator-facing error."""
    if isinstance(error, tweepy.TooManyRequests):
        reset = datetime.fromtimestamp(error.reset_time, UTC) if error.reset_time else None
        return CollectionStopped("rate_limited", _describe(error) + (f"; resets at {reset:%H:%M} UTC" if reset else ""))
    if isinstance(error, (tweepy.Unauthorized, tweepy.Forbidden)):
        return CollectorError(
            f"the X API refused the request ({_describe(error)}): check the bearer token "
            "($POSTATLAS_TWITTER_BEARER_TOKEN or the Prefect Secret block 'postatlas-twitter-bearer-token') "
            "and your app's access level (search_all and the filtered stream need a paid tier)"
        )
    if isinstance(error, tweepy.HTTPException) and not isinstance(error, tweepy.TwitterServerError):
        return CollectorError(f"the X API rejected the request ({_describe(error)}): check the spec")
    return CollectionStopped("api_unavailable", f"{_describe(error)} after {attempts} attempts")


# --------------------------------------------------------------------------- search cursor


@dataclass(frozen=True)
class Sweep:
    """Where a search stands (see the module docstring for the cursor it is stored as)."""

    next_token: str | None
    since_id: str | None
    sweep_since_id: str | None

    @classmethod
    def from_cursor(cls, cursor: dict) -> Sweep:
        """Continue the stored sweep when it has a next_token, else start a new one from its since_id."""
        if cursor.get("next_token"):
            return cls(cursor["next_token"], cursor.get("since_id"), cursor.get("sweep_since_id"))
        return cls(None, cursor.get("since_id"), cursor.get("since_id"))

    def after(self, doc: dict) -> Sweep:
        """The state once the page ``doc`` is committed."""
        meta = doc.get("meta") or {}
        data = doc.get("data") if isinstance(doc.get("data"), list) else []
        ids = [self.since_id, meta.get("newest_id"), *(t.get("id") for t in data if isinstance(t, dict))]
        numeric = [str(i) for i in ids if str(i).isdigit()]
        newest = max(numeric, key=int) if numeric else None
        return Sweep(meta.get("next_token") or None, newest, self.sweep_since_id)

    def cursor(self) -> dict:
        """The JSON-able cursor."""
        return {"next_token": self.next_token, "since_id": self.since_id, "sweep_since_id": self.sweep_since_id}


def _page_posts(doc: dict) -> int:
    """Tweets in a page's (or a stream line's) ``data``."""
    data = doc.get("data")
    return len(data) if isinstance(data, list) else int(isinstance(data, dict))


# --------------------------------------------------------------------------- collector


@dataclass(frozen=True)
class RuleChanges:
    """What syncing the stream rules changed (both empty when the API already had the spec's rules)."""

    added: tuple[TwitterRule, ...]
    deleted: tuple[TwitterRule, ...]


class TwitterCollector:
    """Search pages or stream lines of the X API v2 as raw Pages (see the module docstring for cursors)."""

    platform = "twitter"
    fmt = "twitter-v2"

    def __init__(self, spec: TwitterSpec, client: tweepy.Client | StreamClient, *, sleep: Sleep = time.sleep) -> None:
        self.spec = spec
        self.client = client
        self.sleep = sleep
        stream = spec.mode == "stream"
        self.page_size = 1 if stream else spec.max_results
        self.source = f"twitter stream {spec.name!r}" if stream else f"twitter {spec.mode} {spec.query!r}"

    def pages(self, cursor: dict, limits: Limits) -> Iterator[Page]:
        """Search pages from ``cursor`` on, or stream lines until ``limits`` stop it or the generator is closed."""
        if isinstance(self.client, StreamClient):
            return self._stream_pages(self.client, limits)
        return self._search_pages(self.client, cursor)

    def _call(self, call: Callable[[], T]) -> T:
        """``call()`` with transient faults retried; the final fault as CollectorError / CollectionStopped."""
        try:
            return retry_transient(call, is_transient=_is_transient, wait_seconds=_wait_seconds,
                                   attempts=REQUEST_ATTEMPTS, sleep=self.sleep)
        except (tweepy.HTTPException, *NETWORK_ERRORS) as error:
            raise _final_error(error, REQUEST_ATTEMPTS) from error

    # ----------------------------------------------------------------------- search

    def _search_pages(self, client: tweepy.Client, cursor: dict) -> Iterator[Page]:
        """One Page per response, each with the cursor to keep after it; a malformed page ends the run."""
        sweep = Sweep.from_cursor(cursor)
        responses = iter(self._paginator(client, sweep))
        number = 0
        while True:
            try:
                response = self._call(lambda: next(responses, None))
            except _MalformedPage as bad:
                yield Page(bad.response.content, self.source, f"page {number + 1}", sweep.cursor(), posts=0)
                raise CollectionStopped(
                    "malformed_page", f"page {number + 1} is not JSON; the cursor still points at it"
                ) from None
            if response is None:
                return
            number += 1
            doc = orjson.loads(response.content)
            sweep = sweep.after(doc)
            yield Page(response.content, self.source, f"page {number}", sweep.cursor(), posts=_page_posts(doc))

    def _paginator(self, client: tweepy.Client, sweep: Sweep) -> tweepy.Paginator:
        """tweepy's Paginator over the search method, continuing ``sweep``."""
        method = client.search_all_tweets if self.spec.mode == "search_all" else client.search_recent_tweets
        return tweepy.Paginator(
            _checked(method), query=self.spec.query, max_results=self.spec.max_results,
            since_id=sweep.sweep_since_id, pagination_token=sweep.next_token,
            start_time=self.spec.start_time, end_time=self.spec.end_time, **FIELDS,
        )

    # ----------------------------------------------------------------------- stream

    def sync_rules(self) -> RuleChanges:
        """Make the stream's rules exactly the spec's: delete the others, add the missing; idempotent."""
        stream = self.client
        if not isinstance(stream, StreamClient):
            raise TypeError(f"stream rules are for mode 'stream', not {self.spec.mode!r}")
        existing = self._call(lambda: _rules_of(stream.get_rules()))
        wanted = set(self.spec.rules)
        stale = {rule_id: rule for rule_id, rule in existing.items() if rule not in wanted}
        missing = [rule for rule in self.spec.rules if rule not in existing.values()]
        if stale:
            self._call(lambda: _check_rules(stream.delete_rules(list(stale)), "delete"))
        if missing:
            added = [tweepy.StreamRule(value=rule.value, tag=rule.tag) for rule in missing]
            self._call(lambda: _check_rules(stream.add_rules(added), "add"))
        changes = RuleChanges(added=tuple(missing), deleted=tuple(stale.values()))
        log.info("stream rules of %r: %d added %s, %d deleted %s", self.spec.name, len(changes.added),
                 [r.value for r in changes.added], len(changes.deleted), [r.value for r in changes.deleted])
        return changes

    def _stream_pages(self, stream: StreamClient, limits: Limits) -> Iterator[Page]:
        """Stream lines as Pages; reconnects with backoff; ends when limits say stop or when closed."""
        self.sync_rules()
        request = stream.filter_request()
        line = 0
        drops = 0
        while limits.stop_reason(self.page_size) is None:
            try:
                with self._open_stream(stream, request) as response:
                    for raw in response.iter_lines(chunk_size=512):
                        if raw:
                            line, drops = line + 1, 0
                            yield self._stream_page(raw, line)
                        elif limits.stop_reason(self.page_size):
                            return
                error: Exception = requests.ConnectionError("the server ended the stream")
            except (tweepy.TooManyRequests, tweepy.TwitterServerError, *NETWORK_ERRORS) as dropped:
                error = dropped
            drops += 1
            self._before_reconnect(error, drops)

    def _open_stream(self, stream: StreamClient, request: tuple[str, str, dict[str, Any]]) -> requests.Response:
        """Connect to the filtered stream; a non-200 answer raises tweepy's error for it."""
        method, url, params = request
        response = stream.session.request(method, url, params=params, stream=True, timeout=STREAM_TIMEOUT)
        if response.status_code != 200:
            with response:
                try:
                    _raise_http_error(response)
                except tweepy.HTTPException as error:
                    if not _is_transient(error):
                        raise _final_error(error, 1) from error
                    raise
        return response

    def _before_reconnect(self, error: Exception, drops: int) -> None:
        """Wait before reconnecting, or stop once ``reconnect_attempts`` reconnects in a row brought no line."""
        if drops > self.spec.reconnect_attempts:
            if isinstance(error, tweepy.HTTPException):
                raise _final_error(error, drops) from error
            raise CollectionStopped("stream_disconnected",
                                    f"{drops} connections in a row ended before a line: {_describe(error)}")
        self.sleep(_wait_seconds(error, drops))

    def _stream_page(self, raw: bytes, line: int) -> Page:
        """A stream line as a Page; a line that is not JSON counts no post (the normalizer quarantines it)."""
        doc = _json_object(raw)
        return Page(raw, self.source, f"stream line {line}", {}, posts=_page_posts(doc) if doc else 0)


def _checked(method: Callable[..., requests.Response]) -> Callable[..., requests.Response]:
    """``method`` raising _MalformedPage on a body that is not a JSON object.

    ``functools.wraps`` keeps the method's name, by which tweepy's Paginator sends ``next_token`` (search)
    instead of ``pagination_token``.
    """

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> requests.Response:
        response = method(*args, **kwargs)
        if _json_object(response.content) is None:
            raise _MalformedPage(response)
        return response

    return call


def _rules_of(response: requests.Response) -> dict[str, TwitterRule]:
    """The stream's current rules by id."""
    doc = _json_object(response.content) or {}
    return {str(r["id"]): TwitterRule(value=r["value"], tag=r.get("tag")) for r in doc.get("data") or ()}


def _check_rules(response: requests.Response, action: str) -> None:
    """Raise CollectorError when the API refused some rules (it answers 2xx with ``errors``)."""
    errors = (_json_object(response.content) or {}).get("errors") or []
    if errors:
        details = "; ".join(
            f"{e.get('value') or e.get('id')!r}: {e.get('title')} {' '.join(e.get('details') or ())}".strip()
            for e in errors
        )
        raise CollectorError(f"the X API refused to {action} stream rules: {details}; fix the spec's rules")


def make_collector(spec: TwitterSpec, *, sleep: Sleep = time.sleep) -> TwitterCollector:
    """A collector for ``spec``, with the bearer token from the environment or a Prefect Secret block."""
    token = require_secret("twitter-bearer-token", "the X API bearer token")
    install_log_redaction()  # tweepy logs the request headers at DEBUG: masked like every record
    client: tweepy.Client | StreamClient
    if spec.mode == "stream":
        client = StreamClient(token, return_type=requests.Response, wait_on_rate_limit=False)
    else:
        client = tweepy.Client(bearer_token=token, return_type=requests.Response, wait_on_rate_limit=False)
    _mount(client, spec.endpoint)
    return TwitterCollector(spec, client, sleep=sleep)
