"""Ingest: raw records -> landed raw batches -> normalized, validated rows -> one warehouse transaction per batch.

Counts add up for every run: read = written + duplicates + quarantined, where ``read`` counts the posts
found in the records plus the records that yielded no usable post, plus the problems the readers reported
(storage.readers.ReadProblem): a damaged file or a cut-short end of one (scope ``file``) and a table row that
could not be parsed (scope ``record``) each count one read and one quarantined. Files under a given folder
that the format does not read are not quarantined: they are counted in ``skipped_files`` and listed.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from tqdm import tqdm

from storage import raw_zone, schema, warehouse
from storage.encoding import corpus_encoding
from storage.home import Home
from storage.media_store import MediaError, find_local_copy, store_image
from storage.readers import ReadProblem, iter_records, read_id_labels
from storage.records import Parsed, RawRecord
from tasks.collect.secrets import redact
from tasks.filters import FastDetector, top_languages
from tasks.locks import warehouse_writer
from tasks.normalize.instagram import normalize_instaloader
from tasks.normalize.mvsa import make_mvsa_normalizer
from tasks.normalize.pan import normalize_pan_author
from tasks.normalize.reddit import normalize_reddit
from tasks.normalize.table import TABLE_FIELDS, make_table_normalizer, parse_mapping
from tasks.normalize.twitter import normalize_twitter_v1, normalize_twitter_v2
from tasks.processes import init_worker

FORMATS = ("twitter-v2", "twitter-v1", "reddit", "instaloader", "mvsa", "table", "pan-authors")
BATCH_RECORDS = 20_000
WRITER_HOLD_SECONDS = float(os.environ.get("POSTATLAS_WRITER_HOLD", "5"))
BATCH_BYTES = 8 * 1024 * 1024  # a v2 page holds 100 tweets: batches are bounded by payload size too
MAX_TEXT_CHARS = 100_000
EXCERPT_CHARS = 2_000
# Scopes of quarantine rows: 'record' and 'post' count as quarantined posts, 'file' (a damaged file or its
# cut-short end, reported by the reader) as one quarantined unit; 'field' and 'media' rows describe a part
# dropped from a post that was kept.
WHOLE_SCOPES = ("record", "post", "file")
SKIPPED_LISTED = 100  # skipped files named in the run ledger (all are counted)


@dataclass(frozen=True)
class IngestOptions:
    """What `postatlas ingest` was asked to do (plain values, so Prefect can hash them)."""

    fmt: str
    paths: tuple[str, ...]
    platform: str | None = None
    labels_csv: str | None = None
    label_task: str | None = None
    field_map: tuple[str, ...] = ()
    label_map: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    media_dirs: tuple[str, ...] = ()
    batch_records: int = BATCH_RECORDS


@dataclass
class IngestTotals:
    """Counters of one ingest, with breakdowns for the summary and the run ledger."""

    read: int = 0
    written: int = 0
    duplicates: int = 0
    quarantined: int = 0
    deletions: int = 0
    new_users: int = 0  # distinct users first seen by this run (inserted into `users`), not rows per batch
    labels: int = 0
    user_labels: int = 0
    media_stored: int = 0
    records: int = 0
    by_platform: Counter = field(default_factory=Counter)
    written_by_platform: Counter = field(default_factory=Counter)
    quarantine_reasons: Counter = field(default_factory=Counter)
    skipped_files: list[str] = field(default_factory=list)  # "path (why)": files of a folder not read

    def counts(self) -> dict[str, int]:
        """The run ledger's counters: read = written + duplicates + quarantined."""
        return {
            "read": self.read,
            "written": self.written,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "deletions": self.deletions,
        }

    def breakdown(self) -> dict:
        """Details for the run ledger and the artifact."""
        return {
            "records": self.records,
            "new_users": self.new_users,
            "labels": self.labels,
            "user_labels": self.user_labels,
            "media_stored": self.media_stored,
            "read_by_platform": dict(self.by_platform),
            "written_by_platform": dict(self.written_by_platform),
            "quarantine_reasons": dict(self.quarantine_reasons),
            "skipped_files": len(self.skipped_files),
            "skipped": self.skipped_files[:SKIPPED_LISTED],
        }


class IngestError(ValueError):
    """A fatal problem with the command itself (bad format, bad mapping, unreadable path)."""


NORMALIZERS: dict[str, Callable[[RawRecord], Parsed]] = {
    "twitter-v2": normalize_twitter_v2,
    "twitter-v1": normalize_twitter_v1,
    "reddit": normalize_reddit,
    "instaloader": normalize_instaloader,
    "pan-authors": normalize_pan_author,
}


def build_normalizer(options: IngestOptions, records_for_encoding: Callable[[], Iterable[RawRecord]]):
    """The normalizer for ``options.fmt`` (validates format-specific options)."""
    fmt = options.fmt
    if fmt in NORMALIZERS:
        return NORMALIZERS[fmt]
    if fmt == "mvsa":
        return make_mvsa_normalizer(corpus_encoding(r.payload for r in records_for_encoding()))
    if fmt == "table":
        if not options.platform:
            raise IngestError("the table format needs --platform NAME")
        try:
            fields = parse_mapping(list(options.field_map), TABLE_FIELDS)
            labels = parse_mapping(list(options.label_map))
            return make_table_normalizer(options.platform, fields, labels)
        except ValueError as error:
            raise IngestError(str(error)) from error
    raise IngestError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")


def _excerpt(payload: bytes) -> str:
    """The start of ``payload`` for a quarantine row, secrets masked before it is cut (a cut one would not match)."""
    text = payload[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    return redact(text)[:EXCERPT_CHARS]


def _detail(text: str) -> str:
    """A quarantine row's detail, secrets masked before it is cut (an error page may echo a credential)."""
    return redact(text[: EXCERPT_CHARS * 4])[:EXCERPT_CHARS]


def _valid_coordinates(lat: object, lon: object) -> bool:
    try:
        lat_f, lon_f = float(lat), float(lon)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return math.isfinite(lat_f) and math.isfinite(lon_f) and -90 <= lat_f <= 90 and -180 <= lon_f <= 180


def validate(parsed: Parsed) -> Parsed:
    """Reject posts with no id or huge text; drop impossible coordinates (the post stays)."""
    kept = []
    for post in parsed.posts:
        post_id = post.get("post_id")
        if not post_id or not post.get("native_id"):
            parsed.quarantine.append({"reason": "missing_id", "detail": "post without an id", "scope": "post"})
            continue
        text = post.get("text") or ""
        if len(text) > MAX_TEXT_CHARS:
            parsed.quarantine.append(
                {"reason": "field_too_large", "detail": f"text of {len(text)} characters > {MAX_TEXT_CHARS}",
                 "scope": "post", "post_id": post_id}
            )
            continue
        lat, lon = post.get("lat"), post.get("lon")
        if lat is not None or lon is not None:
            if _valid_coordinates(lat, lon):  # numbers given as text ("41.39") become floats
                post["lat"], post["lon"] = float(lat), float(lon)  # type: ignore[arg-type]
            else:  # out of range, NaN, infinite, not a number, or one of the two missing
                parsed.quarantine.append(
                    {"reason": "impossible_coordinates", "detail": f"lat={lat!r} lon={lon!r}; post kept without them",
                     "scope": "field", "post_id": post_id}
                )
                post["lat"] = post["lon"] = None
        kept.append(post)
    kept_ids = {post["post_id"] for post in kept}
    parsed.posts = kept
    parsed.media = [m for m in parsed.media if m.get("post_id") in kept_ids]
    parsed.mentions = [m for m in parsed.mentions if m.get("post_id") in kept_ids]
    parsed.labels = [lab for lab in parsed.labels if lab.get("post_id") in kept_ids]
    return parsed


@dataclass(frozen=True)
class BatchContext:
    """Everything a worker needs to prepare batches (inherited by forked workers, never pickled)."""

    normalize: Callable[[RawRecord], Parsed]
    run_id: str
    home: Home
    labels_by_id: dict[str, str]
    label_task: str | None
    label_source: str | None
    media_dirs: tuple[Path, ...]


@dataclass
class PreparedBatch:
    """One batch landed raw and turned into Arrow tables, with its counters; ready to commit."""

    batch_id: str
    landed: raw_zone.LandedBatch
    tables: dict[str, pa.Table]
    read: int
    posts_found: int
    quarantined: int
    media_stored: int
    by_platform: Counter
    quarantine_reasons: Counter


@dataclass
class _Rows(Parsed):
    """Rows of one batch being assembled, with its counters."""

    read: int = 0
    quarantined: int = 0
    media_stored: int = 0
    by_platform: Counter = field(default_factory=Counter)
    quarantine_reasons: Counter = field(default_factory=Counter)


def _batches(records: Iterator[RawRecord], max_records: int, max_bytes: int = BATCH_BYTES) -> Iterator[list[RawRecord]]:
    """Consecutive batches of at most ``max_records`` records and about ``max_bytes`` of payload."""
    chunk: list[RawRecord] = []
    size = 0
    for record in records:
        chunk.append(record)
        size += len(record.payload)
        if len(chunk) >= max_records or size >= max_bytes:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def prepare_batch(chunk: list[RawRecord], ctx: BatchContext) -> PreparedBatch:
    """Land ``chunk`` raw, normalize and validate it, store its images, and build its Arrow tables."""
    batch_id = raw_zone.batch_id_of(chunk)
    landed = raw_zone.land(chunk, ctx.home, batch_id)
    rows = _Rows()
    for index, record in enumerate(chunk):
        _add_record(rows, record, index, batch_id, ctx.normalize(record), ctx)
    now = datetime.now(UTC)
    media = [_import_media(item, rows, ctx) for item in rows.media]
    for row in rows.quarantine:
        row["quarantined_at"] = now
    for post in rows.posts:
        post["ingested_at"] = now
    tables = {
        "posts": with_languages(_first_per_key(schema.rows_to_table(rows.posts, schema.POSTS), ("post_id",))),
        "users": _first_per_key(schema.rows_to_table(rows.users, schema.USERS), ("user_id",)),
        "media": _first_per_key(schema.rows_to_table(media, schema.MEDIA), ("post_id", "position")),
        "mentions": _first_per_key(schema.rows_to_table(rows.mentions, schema.MENTIONS), ("post_id", "dst_username")),
        "labels": _first_per_key(schema.rows_to_table(rows.labels, schema.LABELS), ("post_id", "task", "source")),
        "user_labels": _first_per_key(schema.rows_to_table(rows.user_labels, schema.USER_LABELS),
                                      ("user_id", "task", "source")),
        "deletions": _first_per_key(schema.rows_to_table(rows.deletions, schema.DELETIONS), ("target_id",)),
        "quarantine": _first_per_key(schema.rows_to_table(rows.quarantine, schema.QUARANTINE),
                                     ("source", "location", "reason")),
    }
    return PreparedBatch(batch_id, landed, tables, rows.read, len(rows.posts), rows.quarantined, rows.media_stored,
                         rows.by_platform, rows.quarantine_reasons)


def with_languages(posts: pa.Table) -> pa.Table:
    """Posts with ``lang`` / ``lang_confidence`` from the fast detector, so curate finds them cached."""
    if not posts.num_rows:
        return posts
    lang, confidence = top_languages(posts["text"], _fast_detector())
    posts = posts.set_column(posts.schema.get_field_index("lang"), "lang", pa.array(lang, pa.string()))
    posts = posts.set_column(posts.schema.get_field_index("lang_confidence"), "lang_confidence",
                             pa.array(confidence, pa.float64()))
    detector = pa.array([FastDetector.name] * posts.num_rows, pa.string())
    return posts.set_column(posts.schema.get_field_index("lang_detector"), "lang_detector", detector)


@lru_cache(maxsize=1)
def _fast_detector() -> FastDetector:
    return FastDetector()


def _first_per_key(table: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """The first row of each key, in input order (a batch may repeat a post, e.g. a tweet on two pages)."""
    if table.num_rows < 2:
        return table
    indexed = table.select(list(keys)).append_column("__row", pa.array(np.arange(table.num_rows)))
    first = indexed.group_by(list(keys), use_threads=False).aggregate([("__row", "min")])["__row_min"]
    if len(first) == table.num_rows:
        return table
    return table.take(np.sort(first.to_numpy()))


def _add_record(rows: _Rows, record: RawRecord, index: int, batch_id: str, parsed: Parsed, ctx: BatchContext) -> None:
    parsed = validate(parsed)
    base = {"run_id": ctx.run_id, "source": record.source}
    usable = parsed.posts or parsed.users or parsed.deletions
    for item in parsed.quarantine:
        scope = item.get("scope") or ("post" if usable else "record")
        where = record.location + (f" post {item['post_id']}" if item.get("post_id") else "")
        rows.quarantine.append(
            {**base, "location": where, "reason": item["reason"], "scope": scope, "post_id": item.get("post_id"),
             "detail": _detail(str(item.get("detail", ""))), "raw_excerpt": _excerpt(record.payload)}
        )
        rows.quarantine_reasons[item["reason"]] += 1
        if scope in WHOLE_SCOPES:
            rows.read += 1
            rows.quarantined += 1
            rows.by_platform[record.platform] += 1
    for post in parsed.posts:
        post["raw_batch_id"] = batch_id
        post["raw_index"] = index
        post["run_id"] = ctx.run_id
        if ctx.labels_by_id:
            label = ctx.labels_by_id.get(post["native_id"]) or ctx.labels_by_id.get(post["post_id"])
            if label is not None:
                parsed.labels.append(
                    {"post_id": post["post_id"], "task": ctx.label_task, "label": label, "source": ctx.label_source}
                )
    rows.read += len(parsed.posts)
    rows.by_platform[record.platform] += len(parsed.posts)
    rows.posts.extend(parsed.posts)
    rows.users.extend({**u, "run_id": ctx.run_id} for u in parsed.users)
    rows.mentions.extend({**m, "run_id": ctx.run_id} for m in parsed.mentions)
    rows.labels.extend({**lab, "run_id": ctx.run_id} for lab in parsed.labels)
    rows.user_labels.extend({**lab, "run_id": ctx.run_id} for lab in parsed.user_labels)
    rows.deletions.extend(
        {"target_id": d.get("post_id") or d.get("user_id"), "target_kind": "post" if d.get("post_id") else "user",
         "reason": d.get("reason"), "deleted_at": d.get("deleted_at"), "run_id": ctx.run_id}
        for d in parsed.deletions if d.get("post_id") or d.get("user_id")
    )
    for item in parsed.media:
        item["source"] = record.source
        item["location"] = record.location
        item["payload"] = record.payload
    rows.media.extend(parsed.media)


def _import_media(item: dict, rows: _Rows, ctx: BatchContext) -> dict:
    """A media row; a local image is verified and stored, a broken one quarantined (its post is kept)."""
    row = {k: item.get(k) for k in ("post_id", "position", "media_key", "kind", "url", "width", "height")}
    row["run_id"] = ctx.run_id
    row["status"] = "remote"
    local = item.get("local_path") or find_local_copy(item.get("url"), ctx.media_dirs)
    if not local:
        return row
    try:
        image = store_image(Path(local), ctx.home)
    except MediaError as error:
        row["status"] = "corrupt" if error.reason == "corrupt_image" else "missing"
        rows.quarantine.append(
            {"run_id": ctx.run_id, "source": item["source"],
             "location": f"{item['location']} media {item.get('media_key') or item.get('position')}",
             "reason": error.reason, "scope": "media", "post_id": item["post_id"],
             "detail": _detail(f"{local}: {error.detail}"), "raw_excerpt": _excerpt(item["payload"])}
        )
        rows.quarantine_reasons[error.reason] += 1
        return row
    row.update(sha256=image.sha256, path=image.path, width=image.width, height=image.height, mime=image.mime,
               phash=image.phash, status="stored")
    rows.media_stored += 1
    return row


_WORKER_CONTEXT: BatchContext | None = None


def _init_worker(ctx: BatchContext) -> None:
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = ctx
    init_worker()  # dies with the ingest process (even by SIGKILL); Ctrl-C is the parent's


def _prepare_in_worker(chunk: list[RawRecord]) -> PreparedBatch:
    assert _WORKER_CONTEXT is not None
    return prepare_batch(chunk, _WORKER_CONTEXT)


class Ingestor:
    """Runs one ingest: workers land and prepare batches in parallel, this process commits them in order."""

    def __init__(self, home: Home, run_id: str, options: IngestOptions, workers: int | None = None) -> None:
        self.home = home
        self.run_id = run_id
        self.options = options
        self.workers = workers if workers is not None else default_workers()
        self.totals = IngestTotals()
        self.problems: list[ReadProblem] = []  # reported by the readers, not yet committed
        self.labels_by_id: dict[str, str] = {}
        if options.labels_csv:
            if not options.label_task:
                raise IngestError("--labels needs --task NAME (the label task, e.g. sentiment)")
            self.labels_by_id = read_id_labels(Path(options.labels_csv))

    def records(self, report: Callable[[ReadProblem], None] | None = None) -> Iterator[RawRecord]:
        """The raw records of the paths, streamed; the readers' problems go to ``report`` (else dropped)."""
        opts = self.options
        return iter_records(opts.fmt, [Path(p) for p in opts.paths], opts.platform, list(opts.columns) or None,
                            report=report or (lambda problem: None))

    def context(self) -> BatchContext:
        """What the forked workers need to prepare batches."""
        opts = self.options
        return BatchContext(
            normalize=build_normalizer(opts, self.records),
            run_id=self.run_id,
            home=self.home,
            labels_by_id=self.labels_by_id,
            label_task=opts.label_task,
            label_source=f"file:{Path(opts.labels_csv).name}" if opts.labels_csv else None,
            media_dirs=tuple(Path(d) for d in opts.media_dirs),
        )

    def run(self) -> IngestTotals:
        """Land, normalize and commit every batch in input order; the totals of the run."""
        ctx = self.context()
        progress = tqdm(desc=f"ingest {self.options.fmt}", unit=" records", disable=not sys.stderr.isatty(),
                        mininterval=0.5)
        self._writer = HeldWriter(self.home.warehouse, self.run_id)
        try:
            for prepared in self._prepared(ctx):
                self._commit(prepared)
                self._commit_problems()
                progress.update(prepared.landed.records)
            self._commit_problems()
            warehouse.refresh_raw_view(self._writer.connection(), self.home.raw)
        finally:
            self._writer.release()
            progress.close()
        return self.totals

    def _prepared(self, ctx: BatchContext) -> Iterator[PreparedBatch]:
        """Prepared batches in input order; with workers, a bounded number are in flight at once."""
        batches = _batches(self.records(self.problems.append), self.options.batch_records)
        if self.workers <= 1:
            yield from (prepare_batch(chunk, ctx) for chunk in batches)
            return
        fork = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(self.workers, mp_context=fork, initializer=_init_worker, initargs=(ctx,)) as pool:
            in_flight: deque = deque()
            for chunk in batches:
                in_flight.append(pool.submit(_prepare_in_worker, chunk))
                if len(in_flight) > self.workers:
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()

    def _commit(self, prepared: PreparedBatch) -> None:
        con = self._writer.connection()
        earlier = warehouse.landed_batch_path(con, prepared.batch_id)
        if earlier is not None and earlier != prepared.landed.relative_path:  # landed on an earlier day
            self.home.path(prepared.landed.relative_path).unlink(missing_ok=True)
        landed = prepared.landed
        deletions = prepared.tables["deletions"].num_rows
        committed = warehouse.write_batch(
            con,
            {"batch_id": prepared.batch_id, "platform": landed.platform, "path": earlier or landed.relative_path,
             "records": landed.records, "run_id": self.run_id},
            prepared.tables,
            counts=warehouse.BatchCounts(prepared.read, prepared.posts_found, prepared.quarantined, deletions),
        )
        self._writer.release_if_held_long()
        totals = self.totals
        new_by_platform = committed.new_by_platform
        written = committed.written
        totals.records += landed.records
        totals.read += prepared.read
        totals.quarantined += prepared.quarantined
        totals.written += written
        totals.duplicates += prepared.posts_found - written
        totals.written_by_platform.update(new_by_platform)
        totals.by_platform.update(prepared.by_platform)
        totals.quarantine_reasons.update(prepared.quarantine_reasons)
        totals.new_users += committed.new_users
        totals.labels += prepared.tables["labels"].num_rows
        totals.user_labels += prepared.tables["user_labels"].num_rows
        totals.deletions += deletions
        totals.media_stored += prepared.media_stored


    def _commit_problems(self) -> None:
        """The readers' problems so far: quarantine rows (one transaction) and counts; skipped files listed."""
        problems, self.problems[:] = list(self.problems), []
        rows = []
        for problem in problems:
            if problem.scope == "skipped":
                self.totals.skipped_files.append(f"{problem.source} ({problem.detail})")
                continue
            rows.append({"run_id": self.run_id, "source": problem.source, "location": problem.location,
                         "reason": problem.reason, "scope": problem.scope, "post_id": None,
                         "detail": problem.detail[:EXCERPT_CHARS], "raw_excerpt": problem.excerpt[:EXCERPT_CHARS],
                         "quarantined_at": datetime.now(UTC)})
            self.totals.read += 1
            self.totals.quarantined += 1
            self.totals.by_platform[problem.platform] += 1
            self.totals.quarantine_reasons[problem.reason] += 1
        if rows:
            warehouse.write_quarantine(self._writer.connection(), schema.rows_to_table(rows, schema.QUARANTINE),
                                       self.run_id)


class HeldWriter:
    """The warehouse and its writer slot held across consecutive batches, let go together every few seconds."""

    def __init__(self, path: Path, run_id: str, hold_seconds: float = WRITER_HOLD_SECONDS) -> None:
        self.path = path
        self.run_id = run_id
        self.hold_seconds = hold_seconds
        self._con: duckdb.DuckDBPyConnection | None = None
        self._held = ExitStack()
        self._opened_at = 0.0

    def connection(self) -> duckdb.DuckDBPyConnection:
        """The writer connection, opened (and the warehouse taken) on first use."""
        if self._con is None:
            self._con = self._held.enter_context(warehouse_writer(self.path, self.run_id))
            self._opened_at = time.monotonic()
        return self._con

    def release_if_held_long(self) -> None:
        """Let go of the warehouse when held for ``hold_seconds`` so waiting readers get a turn."""
        if self._con is not None and time.monotonic() - self._opened_at >= self.hold_seconds:
            self.release()
            warehouse.give_turn(self.path)

    def release(self) -> None:
        """Let go of the warehouse (it is taken again on the next write)."""
        self._con = None
        self._held.close()


def default_workers() -> int:
    """Worker processes for parsing: POSTATLAS_WORKERS, else the CPU count (at most 4)."""
    configured = os.environ.get("POSTATLAS_WORKERS")
    return int(configured) if configured else min(os.cpu_count() or 1, 4)


def merge_totals(first: IngestTotals, second: IngestTotals) -> IngestTotals:
    """The counters of two ingests added up (a result persisted by an older version lacks newer counters: zero)."""
    merged = IngestTotals()
    for name, value in vars(merged).items():
        left, right = getattr(first, name, value), getattr(second, name, value)
        setattr(merged, name, (Counter(left) + Counter(right)) if isinstance(value, Counter) else left + right)
    return merged


def run_ingest(options: IngestOptions, home: Home, run_id: str) -> IngestTotals:
    """Ingest ``options.paths`` into the warehouse at ``home`` as run ``run_id``."""
    return Ingestor(home.ensure(), run_id, options).run()
