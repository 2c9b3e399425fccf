"""Reading posts for curate and writing its decisions, in one short transaction each."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from storage.warehouse import transaction

CURATE_INPUT_SQL = """
WITH first_image AS (
    SELECT post_id,
           bool_or(status IN ('stored', 'remote')) AS has_image,
           arg_min(phash, position) FILTER (WHERE phash IS NOT NULL) AS image_phash
    FROM media
    WHERE kind IS NULL OR kind = 'photo'
    GROUP BY post_id
)
SELECT p.post_id, p.author_id, p.text, p.hashtags, p.lat, p.lon,
       coalesce(i.has_image, false) AS has_image, i.image_phash,
       p.lang, p.lang_confidence, p.lang_detector, coalesce(p.is_repost, false) AS is_repost,
       p.repost_of, p.created_at, p.lang_scores
FROM posts p LEFT JOIN first_image i USING (post_id)
WHERE NOT p.deleted
ORDER BY p.post_id
"""


def load_posts_for_curation(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Every post that is not deleted, with what the rules need (image presence, perceptual hash)."""
    return con.sql(CURATE_INPUT_SQL).to_arrow_table()


def write_curation(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    decisions: pa.Table,
    kept_post_ids: pa.Array,
    summary: Sequence[tuple[str, int, int, int]],
    languages: pa.Table | None,
) -> None:
    """Replace the latest decisions and curated set, keep the per-rule summary, cache detected languages.

    ``summary``: (rule, evaluated, kept, dropped) per rule, in rule order.
    """
    with transaction(con):
        if languages is not None and languages.num_rows:
            con.register("detected", languages)
            con.execute(
                "UPDATE posts SET lang = d.lang, lang_confidence = d.lang_confidence, lang_detector = d.lang_detector, "
                "lang_scores = d.lang_scores FROM detected d WHERE posts.post_id = d.post_id"
            )
            con.unregister("detected")
        con.execute("DELETE FROM filter_decisions")
        con.register("decisions", decisions)
        con.execute("INSERT INTO filter_decisions BY NAME SELECT * FROM decisions")
        con.unregister("decisions")
        con.execute("DELETE FROM curated_set")
        kept = pa.table({"post_id": kept_post_ids, "run_id": pa.array([run_id] * len(kept_post_ids), pa.string())})
        con.register("kept", kept)
        con.execute("INSERT INTO curated_set BY NAME SELECT * FROM kept")
        con.unregister("kept")
        con.execute("DELETE FROM filter_summary WHERE run_id = ?", [run_id])
        for position, (rule, evaluated, kept_by_rule, dropped) in enumerate(summary):
            con.execute(
                "INSERT INTO filter_summary VALUES (?, ?, ?, ?, ?, ?)",
                [run_id, position, rule, evaluated, kept_by_rule, dropped],
            )


def posts_to_detect(con: duckdb.DuckDBPyConnection, detector: str, partition: int, partitions: int) -> pa.Table:
    """(post_id, text) of one hash partition of the posts whose language ``detector`` has not cached yet."""
    return con.sql(
        "SELECT post_id, text FROM posts WHERE NOT deleted AND lang_detector IS DISTINCT FROM $detector "
        "AND hash(post_id) % $partitions = $partition ORDER BY post_id",
        params={"detector": detector, "partitions": partitions, "partition": partition},
    ).to_arrow_table()


def write_staged(table: pa.Table, path: Path) -> str:
    """Write a partition's result as Parquet (atomically) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, temporary)
    temporary.replace(path)
    return str(path)


def apply_staged_languages(con: duckdb.DuckDBPyConnection, paths: list[str]) -> int:
    """Cache the languages detected by partition tasks in posts (one transaction); returns the rows updated."""
    if not paths:
        return 0
    detected = pa.concat_tables([pq.read_table(p) for p in paths])  # noqa: F841 (read by DuckDB)
    with transaction(con):
        rows = con.execute(
            "UPDATE posts SET lang = d.lang, lang_confidence = d.lang_confidence, lang_detector = d.lang_detector, "
            "lang_scores = NULL FROM detected d WHERE posts.post_id = d.post_id"
        ).fetchall()
    return rows[0][0] if rows else 0


def read_staged_answers(paths: list[str]) -> dict[str, list[tuple[str, float]]]:
    """The detector's answers staged by partition tasks: text -> [(language, probability), ...], best first."""
    answers: dict[str, list[tuple[str, float]]] = {}
    for path in paths:
        table = pq.read_table(path)
        for text, langs, probs in zip(*(table[c].to_pylist() for c in ("text", "langs", "probs")), strict=True):
            answers[text] = list(zip(langs, probs, strict=True))
    return answers
