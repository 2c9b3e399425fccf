"""Reading posts for curate and writing its decisions, in one short transaction each."""

from __future__ import annotations

import duckdb
import pyarrow as pa

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
       p.repost_of, p.created_at
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
    summary: list[dict],
    languages: pa.Table | None,
) -> None:
    """Replace the latest decisions and curated set, keep the per-rule summary, cache detected languages."""
    con.execute("BEGIN")
    try:
        if languages is not None and languages.num_rows:
            con.register("detected", languages)
            con.execute(
                "UPDATE posts SET lang = d.lang, lang_confidence = d.lang_confidence, lang_detector = d.lang_detector "
                "FROM detected d WHERE posts.post_id = d.post_id"
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
        for position, row in enumerate(summary):
            con.execute(
                "INSERT INTO filter_summary VALUES (?, ?, ?, ?, ?, ?)",
                [run_id, position, row["rule"], row["evaluated"], row["kept"], row["dropped"]],
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
