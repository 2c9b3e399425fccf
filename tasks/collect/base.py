"""What every collector is: an iterator of raw API pages, each with the cursor to keep once it is committed.

A collector never writes anything. The run loop (tasks/collect/run.py) checks the limits before asking for the
next page, lands and normalizes each page through the same pipeline as `postatlas ingest`, and stores the
page's cursor in the same transaction as its posts, so an interrupted run continues exactly where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from tasks.collect.secrets import redact

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    """One response page (or stream line), untouched, and the cursor to persist after it is committed."""

    payload: bytes  # the body as the API sent it (for SDK objects: their JSON, as instaloader saves it)
    source: str  # endpoint or target, e.g. "twitter search_recent 'query'", "r/happy top"
    location: str  # e.g. "page 3", "stream line 17"
    cursor: dict  # JSON-able state: since_id / next_token / after / a frozen iterator; {} when nothing to keep
    posts: int  # posts the page holds (counted against the read budget)
    attachments: tuple[str, ...] = ()  # local image files that belong to the page (instaloader downloads)


class CollectorError(Exception):
    """A permanent fault (401, 403, suspended app, bad spec): the run fails fast with this message.

    The message is redacted (tasks/collect/secrets.py): an API's error text may echo the token."""

    def __init__(self, message: str = "") -> None:
        super().__init__(redact(str(message)))


class PlatformUnavailable(CollectorError):
    """The platform answered nothing usable (5xx, no connection) after the retries and the run read nothing:
    the run fails so that a dead API does not stay green; the cursor is kept."""


class CollectionStopped(Exception):
    """The platform asked us to stop (checkpoint, challenge, rate limit beyond the retries): a clean stop."""

    def __init__(self, reason: str, detail: str = "") -> None:
        detail = redact(detail)
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class Limits:
    """Bounds of one run: posts, seconds, and the read budget left (per run and per month)."""

    max_posts: int | None = None
    max_seconds: float | None = None
    budget_left: int | None = None  # min(per-run budget, monthly budget - read this month)
    started: float = field(default_factory=time.monotonic)
    posts_read: int = 0

    def stop_reason(self, next_page_posts: int) -> str | None:
        """Why the next page must not be requested, or None when it may."""
        if self.max_posts is not None and self.posts_read >= self.max_posts:
            return "count_limit"
        if self.max_seconds is not None and time.monotonic() - self.started >= self.max_seconds:
            return "duration_limit"
        if self.budget_left is not None and self.posts_read + next_page_posts > self.budget_left:
            return "read_budget"
        return None


class Collector(Protocol):
    """A live source. ``fmt`` names the normalizer of its payloads (twitter-v2, reddit, instaloader)."""

    platform: str
    fmt: str
    page_size: int  # the most posts one request can return (checked against the budget before each request)

    def pages(self, cursor: dict, limits: Limits) -> Iterator[Page]:
        """Pages from ``cursor`` on (the cursor the last committed page left; {} the first time)."""
        ...


def retry_transient(
    call: Callable[[], T],
    *,
    is_transient: Callable[[Exception], bool],
    wait_seconds: Callable[[Exception, int], float],
    attempts: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, retried on transient faults (429, 5xx, dropped connections) with bounded waits."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - classified by is_transient
            if not is_transient(error) or attempt == attempts:
                raise
            sleep(min(wait_seconds(error, attempt), 900.0))
    raise AssertionError("unreachable")


def backoff(attempt: int, base: float = 1.0, cap: float = 60.0) -> float:
    """Exponential backoff: 1, 2, 4, ... seconds, at most ``cap``."""
    return min(cap, base * 2 ** (attempt - 1))
