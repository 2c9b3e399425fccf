"""Ingest: raw records -> landed raw batches -> normalized, validated rows -> one warehouse transaction per batch.

Counts add up for every run: read = written + duplicates + quarantined, where ``read`` counts the posts
found in the records plus the records that yielded no usable post.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from urllib.parse import urlparse

from tqdm import tqdm

from storage import raw_zone, schema, warehouse
from storage.encoding import corpus_encoding
from storage.media_store import MediaError, store_image
from storage.readers import iter_records, read_id_labels
from storage.settings import Paths
from tasks.normalize.instagram import normalize_instaloader
from tasks.normalize.mvsa import make_mvsa_normalizer
from tasks.normalize.reddit import normalize_reddit
from tasks.normalize.table import TABLE_FIELDS, make_table_normalizer, parse_mapping
from tasks.normalize.twitter import normalize_twitter_v1, normalize_twitter_v2
from tasks.records import Parsed, RawRecord

FORMATS = ("twitter-v2", "twitter-v1", "reddit", "instaloader", "mvsa", "table")
BATCH_RECORDS = 20_000
MAX_TEXT_CHARS = 100_000
EXCERPT_CHARS = 2_000
# Scopes of quarantine rows: 'record' and 'post' count as quarantined posts; 'field' and 'media' rows
# describe a part dropped from a post that was kept.
WHOLE_SCOPES = ("record", "post")


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
    users: int = 0
    labels: int = 0
    media_stored: int = 0
    records: int = 0
    by_platform: Counter = field(default_factory=Counter)
    written_by_platform: Counter = field(default_factory=Counter)
    quarantine_reasons: Counter = field(default_factory=Counter)

    def counts(self) -> dict[str, int]:
        return {
            "read": self.read,
            "written": self.written,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "deletions": self.deletions,
        }

    def breakdown(self) -> dict:
        return {
            "records": self.records,
            "users": self.users,
            "labels": self.labels,
            "media_stored": self.media_stored,
            "read_by_platform": dict(self.by_platform),
            "written_by_platform": dict(self.written_by_platform),
            "quarantine_reasons": dict(self.quarantine_reasons),
        }


class IngestError(ValueError):
    """A fatal problem with the command itself (bad format, bad mapping, unreadable path)."""


def build_normalizer(options: IngestOptions, records_for_encoding: Callable[[], Iterable[RawRecord]]):
    """The normalizer for ``options.fmt`` (validates format-specific options)."""
    fmt = options.fmt
    if fmt == "twitter-v2":
        return normalize_twitter_v2
    if fmt == "twitter-v1":
        return normalize_twitter_v1
    if fmt == "reddit":
        return normalize_reddit
    if fmt == "instaloader":
        return normalize_instaloader
    if fmt == "mvsa":
        return make_mvsa_normalizer(corpus_encoding([r.payload for r in records_for_encoding()]))
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
    return payload[: EXCERPT_CHARS * 2].decode("utf-8", errors="replace")[:EXCERPT_CHARS]


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
        if (lat is not None or lon is not None) and not _valid_coordinates(lat, lon):
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


def _media_file(url: str | None, media_dirs: tuple[Path, ...]) -> str | None:
    """A local copy of a remote image: a file named like the URL's last path segment in a media dir."""
    if not url or not media_dirs:
        return None
    name = Path(urlparse(url).path).name
    for folder in media_dirs:
        candidate = folder / name
        if name and candidate.is_file():
            return str(candidate)
    return None


@dataclass
class _Batch:
    """Rows of one batch being assembled."""

    posts: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)
    media: list[dict] = field(default_factory=list)
    mentions: list[dict] = field(default_factory=list)
    labels: list[dict] = field(default_factory=list)
    deletions: list[dict] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)


def _batches(records: Iterator[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    while chunk := list(islice(records, size)):
        yield chunk


class Ingestor:
    """Runs one ingest for one run id; each batch is landed raw, then committed in one transaction."""

    def __init__(self, paths: Paths, run_id: str, options: IngestOptions) -> None:
        self.paths = paths
        self.run_id = run_id
        self.options = options
        self.totals = IngestTotals()
        self.media_dirs = tuple(Path(d) for d in options.media_dirs)
        self.labels_by_id: dict[str, str] = {}
        if options.labels_csv:
            if not options.label_task:
                raise IngestError("--labels needs --task NAME (the label task, e.g. sentiment)")
            self.labels_by_id = read_id_labels(Path(options.labels_csv))
        self.matched_label_ids: set[str] = set()

    def records(self) -> Iterator[RawRecord]:
        opts = self.options
        return iter_records(opts.fmt, [Path(p) for p in opts.paths], opts.platform, list(opts.columns) or None)

    def run(self) -> IngestTotals:
        normalize = build_normalizer(self.options, self.records)
        progress = tqdm(desc=f"ingest {self.options.fmt}", unit=" records", disable=not sys.stderr.isatty(),
                        mininterval=0.5)
        for chunk in _batches(self.records(), self.options.batch_records):
            self._ingest_batch(chunk, normalize)
            progress.update(len(chunk))
        progress.close()
        with warehouse.writer(self.paths.warehouse, self.run_id) as con:
            warehouse.refresh_raw_view(con, self.paths.raw)
        return self.totals

    def _ingest_batch(self, chunk: list[RawRecord], normalize: Callable[[RawRecord], Parsed]) -> None:
        batch_id = raw_zone.batch_id_of(chunk)
        landed = raw_zone.land(chunk, self.paths.home, batch_id)
        now = datetime.now(UTC)
        rows = _Batch()
        for index, record in enumerate(chunk):
            self._add_record(rows, record, index, batch_id, normalize(record))
        unique_posts = list({post["post_id"]: post for post in reversed(rows.posts)}.values())[::-1]
        with warehouse.writer(self.paths.warehouse, self.run_id) as con:
            earlier = warehouse.landed_batch_path(con, batch_id)
            if earlier is not None and earlier != landed.relative_path:  # landed on an earlier day: keep one copy
                (self.paths.home / landed.relative_path).unlink(missing_ok=True)
            existing = warehouse.existing_post_ids(con, [p["post_id"] for p in unique_posts])
            new_posts = [p for p in unique_posts if p["post_id"] not in existing]
            new_ids = {p["post_id"] for p in new_posts}
            media = self._import_media([m for m in rows.media if m["post_id"] in new_ids], rows)
            for row in rows.quarantine:
                row.setdefault("quarantined_at", now)
            for post in new_posts:
                post["ingested_at"] = now
            written = warehouse.write_batch(
                con,
                warehouse.BatchWrite(
                    raw_batch={"batch_id": batch_id, "platform": landed.platform, "path": landed.relative_path,
                               "records": landed.records, "run_id": self.run_id},
                    posts=schema.rows_to_table(new_posts, schema.POSTS),
                    users=schema.rows_to_table(rows.users, schema.USERS),
                    media=schema.rows_to_table(media, schema.MEDIA),
                    mentions=schema.rows_to_table(rows.mentions, schema.MENTIONS),
                    labels=schema.rows_to_table(rows.labels, schema.LABELS),
                    deletions=schema.rows_to_table(rows.deletions, schema.DELETIONS),
                    quarantine=schema.rows_to_table(rows.quarantine, schema.QUARANTINE),
                ),
            )
        totals = self.totals
        totals.records += len(chunk)
        totals.written += written
        totals.duplicates += len(rows.posts) - written
        for post in new_posts:
            totals.written_by_platform[post["platform"]] += 1
        totals.users += len(rows.users)
        totals.labels += len(rows.labels)
        totals.deletions += len(rows.deletions)

    def _add_record(self, rows: _Batch, record: RawRecord, index: int, batch_id: str, parsed: Parsed) -> None:
        parsed = validate(parsed)
        totals = self.totals
        base = {"run_id": self.run_id, "source": record.source}
        usable = parsed.posts or parsed.users or parsed.deletions
        for item in parsed.quarantine:
            scope = item.get("scope") or ("post" if usable else "record")
            where = record.location + (f" post {item['post_id']}" if item.get("post_id") else "")
            rows.quarantine.append(
                {**base, "location": where, "reason": item["reason"], "scope": scope, "post_id": item.get("post_id"),
                 "detail": str(item.get("detail", ""))[:EXCERPT_CHARS], "raw_excerpt": _excerpt(record.payload)}
            )
            totals.quarantine_reasons[item["reason"]] += 1
            if scope in WHOLE_SCOPES:
                totals.read += 1
                totals.quarantined += 1
                totals.by_platform[record.platform] += 1
        for post in parsed.posts:
            post.update(raw_batch_id=batch_id, raw_index=index, run_id=self.run_id)
            label = self.labels_by_id.get(post["native_id"]) or self.labels_by_id.get(post["post_id"])
            if label is not None:
                self.matched_label_ids.add(post["post_id"])
                parsed.labels.append({"post_id": post["post_id"], "task": self.options.label_task, "label": label,
                                      "source": f"file:{Path(self.options.labels_csv or '').name}"})
        totals.read += len(parsed.posts)
        totals.by_platform[record.platform] += len(parsed.posts)
        rows.posts.extend(parsed.posts)
        rows.users.extend({**u, "run_id": self.run_id} for u in parsed.users)
        rows.mentions.extend({**m, "run_id": self.run_id} for m in parsed.mentions)
        rows.labels.extend({**lab, "run_id": self.run_id} for lab in parsed.labels)
        rows.deletions.extend(
            {"target_id": d.get("post_id") or d.get("user_id"), "target_kind": "post" if d.get("post_id") else "user",
             "reason": d.get("reason"), "deleted_at": d.get("deleted_at"), "run_id": self.run_id}
            for d in parsed.deletions if d.get("post_id") or d.get("user_id")
        )
        for item in parsed.media:
            item.setdefault("source", record.source)
            item.setdefault("location", record.location)
            item.setdefault("raw_excerpt", _excerpt(record.payload))
        rows.media.extend(parsed.media)

    def _import_media(self, media: list[dict], rows: _Batch) -> list[dict]:
        """Store local images (verified, hashed); a broken image is quarantined and its post kept."""
        stored = []
        for item in media:
            row = {k: item.get(k) for k in ("post_id", "position", "media_key", "kind", "url", "width", "height")}
            row["run_id"] = self.run_id
            local = item.get("local_path") or _media_file(item.get("url"), self.media_dirs)
            row["status"] = "remote"
            if local:
                try:
                    image = store_image(Path(local), self.paths.home)
                except MediaError as error:
                    row["status"] = "corrupt" if error.reason == "corrupt_image" else "missing"
                    rows.quarantine.append(
                        {"run_id": self.run_id, "source": item["source"],
                         "location": f"{item['location']} media {item.get('media_key') or item.get('position')}",
                         "reason": error.reason, "scope": "media", "post_id": item["post_id"],
                         "detail": f"{local}: {error.detail}"[:EXCERPT_CHARS], "raw_excerpt": item["raw_excerpt"]}
                    )
                    self.totals.quarantine_reasons[error.reason] += 1
                else:
                    row.update(sha256=image.sha256, path=image.path, width=image.width, height=image.height,
                               mime=image.mime, phash=image.phash, status="stored")
                    self.totals.media_stored += 1
            stored.append(row)
        return stored


def run_ingest(options: IngestOptions, home: str, run_id: str) -> IngestTotals:
    """Ingest ``options.paths`` into the warehouse at ``home`` as run ``run_id``."""
    from storage.settings import home_paths

    return Ingestor(home_paths(home).ensure(), run_id, options).run()
