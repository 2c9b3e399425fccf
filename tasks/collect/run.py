"""The collect run loop: limits checked before each request; pages landed, normalized and committed together
with the cursor of the last of them in one transaction (every 200 pages or 2 seconds, and when the run stops);
images of new posts downloaded into the media store. A crash loses at most the pages not yet committed, and
their cursor was not stored either, so a search reads them again (a stream cannot replay them)."""

from __future__ import annotations

import importlib
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import requests

from storage import collector_state, warehouse
from storage.home import Home
from storage.media_store import MediaError, download_image
from storage.records import RawRecord
from tasks.collect.base import CollectionStopped, Collector, CollectorError, Limits, Page, PlatformUnavailable
from tasks.collect.secrets import redact_bytes, scrubbed_errors
from tasks.collect.spec import CollectSpec, load_spec
from tasks.ingest import NORMALIZERS, BatchContext, HeldWriter, prepare_batch

PLATFORMS = ("twitter", "reddit", "instagram")
# Pages are committed together (with the last page's cursor) every COMMIT_PAGES pages or COMMIT_SECONDS:
# a stream delivers one tweet per page, and a transaction plus a raw file per tweet would dominate the cost.
COMMIT_PAGES = 200
COMMIT_SECONDS = 2.0
SPEC_CLASSES = {"twitter": "TwitterSpec", "reddit": "RedditSpec", "instagram": "InstagramSpec"}
# Stop reasons meaning "the platform did not answer" (5xx, no connection, the stream kept dropping) after the
# retries: a run that stopped so having read no page fails (PlatformUnavailable), so a dead API does not stay green.
OUTAGE_REASONS = frozenset({"api_unavailable", "server_error", "unreachable", "unavailable", "stream_disconnected"})


@dataclass
class CollectTotals:
    """What a collect run did, for the run record and the summary."""

    pages: int = 0
    read: int = 0
    written: int = 0
    duplicates: int = 0
    quarantined: int = 0
    images: int = 0
    image_failures: Counter = field(default_factory=Counter)
    quarantine_reasons: Counter = field(default_factory=Counter)
    stop_reason: str = "completed"
    stop_detail: str = ""

    def counts(self) -> dict[str, int]:
        """The run ledger's counters."""
        return {"read": self.read, "written": self.written, "duplicates": self.duplicates,
                "quarantined": self.quarantined, "pages": self.pages, "images": self.images}

    def breakdown(self) -> dict:
        """Details for the run ledger and the artifact: quarantine reasons, image failures, why it stopped."""
        return {"quarantine_reasons": dict(self.quarantine_reasons), "image_failures": dict(self.image_failures),
                "stop_reason": self.stop_reason, "stop_detail": self.stop_detail}


def load_platform_spec(platform: str, spec_path: str) -> tuple[object, CollectSpec]:
    """The platform's collector module and its validated spec."""
    if platform not in PLATFORMS:
        raise CollectorError(f"unknown platform {platform!r}; platforms: {', '.join(PLATFORMS)}")
    module = importlib.import_module(f"tasks.collect.{platform}")
    return module, load_spec(Path(spec_path), getattr(module, SPEC_CLASSES[platform]))


def _limits(spec: CollectSpec, read_this_month: int) -> Limits:
    """The run's limits; the budget left is the smaller of the per-run budget and what the month has left."""
    budgets = [b for b in (spec.limits.budget_per_run,
                           None if spec.limits.budget_per_month is None
                           else max(spec.limits.budget_per_month - read_this_month, 0)) if b is not None]
    return Limits(max_posts=spec.limits.max_posts, max_seconds=spec.limits.max_seconds,
                  budget_left=min(budgets) if budgets else None)


def _image_session(spec: CollectSpec) -> requests.Session:
    """A session for image downloads; with ``media_endpoint`` every image URL goes to that base instead."""
    session = requests.Session()
    session.headers["User-Agent"] = "postatlas (+https://github.com/postatlas)"
    if spec.media_endpoint:
        session.mount("https://", _RewriteAdapter(spec.media_endpoint))
        session.mount("http://", _RewriteAdapter(spec.media_endpoint))
    return session


class _RewriteAdapter(requests.adapters.HTTPAdapter):
    """Sends every request to ``base`` (keeping path and query): proxies, gateways, replay servers."""

    def __init__(self, base: str) -> None:
        super().__init__(max_retries=2)
        self.base = base.rstrip("/")

    def send(self, request, **kwargs):  # type: ignore[override]
        parts = requests.utils.urlparse(request.url)
        request.url = self.base + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, **kwargs)


class CollectRun:
    """One run of one collector; pages are committed one by one, each with its cursor."""

    def __init__(self, home: Home, run_id: str, module, spec: CollectSpec, collector: Collector) -> None:
        self.home = home
        self.run_id = run_id
        self.spec = spec
        self.module = module
        self.collector = collector
        self.collection = f"{collector.platform}:{spec.name}"
        self.totals = CollectTotals()
        self.context = BatchContext(
            normalize=NORMALIZERS[collector.fmt], run_id=run_id, home=home, labels_by_id={},
            label_task=None, label_source=None, media_dirs=(),
        )
        self.images = _image_session(spec)
        self.writer = HeldWriter(home.warehouse, run_id)

    def run(self) -> CollectTotals:
        """Collect pages until the collector or a limit stops, committing pages with their cursor."""
        con = self.writer.connection()
        cursor = collector_state.load_cursor(con, self.collection)
        limits = _limits(self.spec, collector_state.posts_read_this_month(con, self.collector.platform))
        pages = self.collector.pages(cursor, limits)
        buffered: list[Page] = []
        flushed_at = time.monotonic()
        try:
            while True:
                reason = limits.stop_reason(self.collector.page_size)
                if reason:
                    self.totals.stop_reason = reason
                    break
                page = next(pages, None)
                if page is None:
                    break
                buffered.append(page)
                limits.posts_read += page.posts
                if len(buffered) >= COMMIT_PAGES or time.monotonic() - flushed_at >= COMMIT_SECONDS:
                    self._commit(buffered)
                    buffered, flushed_at = [], time.monotonic()
        except CollectionStopped as stopped:
            self.totals.stop_reason, self.totals.stop_detail = stopped.reason, stopped.detail
        finally:
            pages.close()
            try:
                if buffered:
                    self._commit(buffered)
            finally:
                self.writer.release()
        return self.totals

    def _commit(self, pages: list[Page]) -> None:
        """Land, normalize and commit ``pages`` with the last one's cursor, in one transaction."""
        now = datetime.now(UTC)
        # a page echoing a credential (an error page served with 200) is landed with the credential masked
        records = [RawRecord(page.source, page.location, redact_bytes(page.payload), self.collector.platform,
                             fetched_at=now, attachments=page.attachments) for page in pages]
        prepared = prepare_batch(records, self.context)
        tables = self._with_collection_rules(prepared.tables)
        prepared.tables.update(tables)
        cursor, posts_read = pages[-1].cursor, sum(page.posts for page in pages)

        def keep_cursor(con) -> None:
            collector_state.save_cursor(con, self.collection, self.collector.platform, cursor, self.run_id)
            collector_state.add_posts_read(con, self.collector.platform, posts_read)
            warehouse.add_run_counts(con, self.run_id, {"pages": len(pages)})

        con = self.writer.connection()
        landed = prepared.landed
        read = prepared.read - prepared.posts_found + tables["posts"].num_rows
        new = warehouse.write_batch(
            con,
            {"batch_id": prepared.batch_id, "platform": landed.platform,
             "path": warehouse.landed_batch_path(con, prepared.batch_id) or landed.relative_path,
             "records": landed.records, "run_id": self.run_id},
            prepared.tables,
            also=keep_cursor,
            counts=warehouse.BatchCounts(read, tables["posts"].num_rows, prepared.quarantined),
        )
        written = new.written
        totals = self.totals
        totals.pages += len(pages)
        totals.read += read
        totals.written += written
        totals.duplicates += tables["posts"].num_rows - written
        totals.quarantined += prepared.quarantined
        totals.quarantine_reasons.update(prepared.quarantine_reasons)
        if self.spec.download_images:
            self._download_images(con, tables["posts"]["post_id"].to_pylist())
        self.writer.release_if_held_long()

    def _with_collection_rules(self, tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
        """Apply the platform's collection criteria (e.g. Reddit's min_score) and labels (subreddit -> label)."""
        posts = tables["posts"]
        keep = getattr(self.module, "keep_post_mask", None)
        if keep is not None and posts.num_rows:
            mask = keep(posts, self.spec)
            posts = posts.filter(mask)
            ids = posts["post_id"]
            tables = {name: (t.filter(pc.is_in(t["post_id"], value_set=ids)) if name in
                             ("media", "mentions", "labels") and t.num_rows else t) for name, t in tables.items()}
            tables["posts"] = posts
        labels_of = getattr(self.module, "labels_for_posts", None)
        if labels_of is not None and posts.num_rows:
            extra = labels_of(posts, self.spec, self.run_id)
            if extra.num_rows:
                tables["labels"] = pa.concat_tables([tables["labels"], extra.cast(tables["labels"].schema)])
        return tables

    def _download_images(self, con, post_ids: list[str]) -> None:
        for post_id, position, url in collector_state.remote_images(con, post_ids):
            try:
                stored = download_image(url, self.images, self.home)
            except MediaError as error:
                self.totals.image_failures[error.reason] += 1
                continue
            except requests.RequestException as error:
                self.totals.image_failures[type(error).__name__] += 1
                continue
            collector_state.mark_image_stored(con, post_id, position, stored)
            self.totals.images += 1


def run_collect(platform: str, spec_path: str, home: Home, run_id: str) -> CollectTotals:
    """Collect from ``platform`` as ``spec_path`` says, into the warehouse at ``home``.

    An exception showing a credential (or chaining one that does) is re-raised without it and without the
    original (tasks/collect/secrets.py), so that neither tracebacks nor Prefect's stored result of the failed
    task keep it."""
    with scrubbed_errors():
        module, spec = load_platform_spec(platform, spec_path)
        home.ensure()
        work_dir = home.collect_work / f"{platform}-{spec.name}"
        work_dir.mkdir(parents=True, exist_ok=True)
        collector = module.make_collector(spec, work_dir) if platform == "instagram" else module.make_collector(spec)
        return CollectRun(home, run_id, module, spec, collector).run()


def check_outage(platform: str, totals: CollectTotals) -> None:
    """Fail (PlatformUnavailable) when the run stopped because the platform did not answer and read nothing; a
    run that read pages before the outage, or found nothing new, stays completed (``stop_reason`` says why)."""
    if totals.stop_reason in OUTAGE_REASONS and totals.pages == 0:
        raise PlatformUnavailable(
            f"{platform} did not answer ({totals.stop_reason}: {totals.stop_detail or 'no detail'}); nothing was "
            "read and the cursor is kept: the next run continues from it once the platform answers again"
        )
