"""Arrow schemas of the rows the ingest pipeline writes (mirrors storage/migrations)."""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

POSTS = pa.schema(
    [
        ("post_id", pa.string()),
        ("platform", pa.string()),
        ("native_id", pa.string()),
        ("author_id", pa.string()),
        ("author_name", pa.string()),
        ("created_at", TS),
        ("text", pa.string()),
        ("lang", pa.string()),
        ("lang_confidence", pa.float64()),
        ("lang_detector", pa.string()),
        ("platform_lang", pa.string()),
        ("hashtags", pa.list_(pa.string())),
        ("mentions", pa.list_(pa.string())),
        ("place_name", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("score", pa.int64()),
        ("url", pa.string()),
        ("title", pa.string()),
        ("community", pa.string()),
        ("is_repost", pa.bool_()),
        ("repost_of", pa.string()),
        ("reply_to", pa.string()),
        ("edit_of", pa.string()),
        ("withheld", pa.string()),
        ("source_encoding", pa.string()),
        ("raw_batch_id", pa.string()),
        ("raw_index", pa.int32()),
        ("run_id", pa.string()),
        ("ingested_at", TS),
    ]
)

USERS = pa.schema(
    [
        ("user_id", pa.string()),
        ("platform", pa.string()),
        ("native_id", pa.string()),
        ("username", pa.string()),
        ("display_name", pa.string()),
        ("description", pa.string()),
        ("location", pa.string()),
        ("followers", pa.int64()),
        ("following", pa.int64()),
        ("post_count", pa.int64()),
        ("verified", pa.bool_()),
        ("created_at", TS),
        ("run_id", pa.string()),
    ]
)

MEDIA = pa.schema(
    [
        ("post_id", pa.string()),
        ("position", pa.int32()),
        ("media_key", pa.string()),
        ("kind", pa.string()),
        ("url", pa.string()),
        ("sha256", pa.string()),
        ("path", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("mime", pa.string()),
        ("phash", pa.string()),
        ("status", pa.string()),
        ("run_id", pa.string()),
    ]
)

MENTIONS = pa.schema(
    [
        ("post_id", pa.string()),
        ("src_user_id", pa.string()),
        ("dst_user_id", pa.string()),
        ("dst_username", pa.string()),
        ("run_id", pa.string()),
    ]
)

LABELS = pa.schema(
    [
        ("post_id", pa.string()),
        ("task", pa.string()),
        ("label", pa.string()),
        ("source", pa.string()),
        ("run_id", pa.string()),
    ]
)

USER_LABELS = pa.schema(
    [
        ("user_id", pa.string()),
        ("task", pa.string()),
        ("label", pa.string()),
        ("source", pa.string()),
        ("run_id", pa.string()),
    ]
)

DELETIONS = pa.schema(
    [
        ("target_id", pa.string()),
        ("target_kind", pa.string()),
        ("reason", pa.string()),
        ("deleted_at", TS),
        ("run_id", pa.string()),
    ]
)

QUARANTINE = pa.schema(
    [
        ("run_id", pa.string()),
        ("source", pa.string()),
        ("location", pa.string()),
        ("reason", pa.string()),
        ("scope", pa.string()),
        ("post_id", pa.string()),
        ("detail", pa.string()),
        ("raw_excerpt", pa.string()),
        ("quarantined_at", TS),
    ]
)


def rows_to_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows (dicts; unknown keys ignored, missing keys NULL) as an Arrow table of ``schema``."""
    return pa.Table.from_pylist(rows, schema=schema)
