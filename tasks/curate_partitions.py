"""Language detection by hash partition of the posts: the part of curate that scales out (Dask workers).

Each partition task reads its posts read-only, detects their languages and stages the result as Parquet; the
curate task then caches the staged languages in ``posts`` and runs the rules, which find them cached. Detection
is deterministic, so the warehouse ends the same with any number of workers.
"""

from __future__ import annotations

import pyarrow as pa

from storage import curation, warehouse
from storage.settings import home_paths
from tasks.curate import DETECTORS, top_languages


def detect_partition(home: str, detector: str, partition: int, partitions: int, run_id: str) -> str:
    """Detect the languages of one partition of the posts not yet detected by ``detector``; the staged file."""
    paths = home_paths(home)
    with warehouse.reader(paths.warehouse) as con:
        posts = curation.posts_to_detect(con, detector, partition, partitions)
    lang, confidence = top_languages(posts["text"], DETECTORS[detector]()) if posts.num_rows else ([], [])
    staged = pa.table({
        "post_id": posts["post_id"],
        "lang": pa.array(lang, pa.string()),
        "lang_confidence": pa.array(confidence, pa.float64()),
        "lang_detector": pa.array([detector] * posts.num_rows, pa.string()),
    })
    target = paths.home / "staging" / run_id / f"languages-{detector}-{partition:03d}-of-{partitions:03d}.parquet"
    return curation.write_staged(staged, target)


def cache_staged_languages(home: str, staged: list[str], run_id: str) -> int:
    """Store the partitions' detections in ``posts`` (one transaction); the number of posts updated."""
    paths = home_paths(home)
    with warehouse.writer(paths.warehouse, run_id) as con:
        con.execute("BEGIN")
        updated = curation.apply_staged_languages(con, staged)
        con.execute("COMMIT")
    return updated
