"""The raw landing zone: every payload page is kept untouched before it is parsed.

Layout: ``raw/platform=<p>/date=<landing date>/batch-<batch_id>.parquet`` with one row per raw record
(batch_id, raw_index, source, location, fetched_at, attachments, payload) compressed with zstd. Files are written
under a temporary name and renamed, so a killed run never leaves half a file behind. The batch id is a
hash of the payloads, so landing the same records twice writes the same file once.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from storage.home import Home
from storage.records import RawRecord

RAW_SCHEMA = pa.schema(
    [
        ("batch_id", pa.string()),
        ("raw_index", pa.int32()),
        ("source", pa.string()),
        ("location", pa.string()),
        ("fetched_at", pa.timestamp("us", tz="UTC")),
        ("attachments", pa.list_(pa.string())),
        ("payload", pa.binary()),
    ]
)


@dataclass(frozen=True)
class LandedBatch:
    """Where a batch of raw records lives."""

    batch_id: str
    platform: str
    relative_path: str
    records: int


def batch_id_of(records: list[RawRecord]) -> str:
    """A content hash of the batch: platform, sources, locations and payloads."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(record.platform.encode())
        digest.update(record.source.encode())
        digest.update(record.location.encode())
        digest.update(hashlib.sha256(record.payload).digest())
    return digest.hexdigest()[:32]


def land(records: list[RawRecord], home: Home, batch_id: str, landed_on: datetime | None = None) -> LandedBatch:
    """Write ``records`` as one compressed Parquet file (atomically) and return where it is."""
    platform = records[0].platform
    day = (landed_on or datetime.now(UTC)).strftime("%Y-%m-%d")
    relative = Path("raw") / f"platform={platform}" / f"date={day}" / f"batch-{batch_id}.parquet"
    target = home.path(relative)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        table = pa.table(
            {
                "batch_id": pa.array([batch_id] * len(records), pa.string()),
                "raw_index": pa.array(range(len(records)), pa.int32()),
                "source": [r.source for r in records],
                "location": [r.location for r in records],
                "fetched_at": pa.array([r.fetched_at for r in records], pa.timestamp("us", tz="UTC")),
                "attachments": [list(r.attachments) for r in records],
                "payload": pa.array([r.payload for r in records], pa.binary()),
            },
            schema=RAW_SCHEMA,
        )
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        pq.write_table(table, temporary, compression="zstd", compression_level=3)
        os.replace(temporary, target)
    return LandedBatch(batch_id, platform, relative.as_posix(), len(records))
