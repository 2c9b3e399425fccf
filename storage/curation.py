"""Reading posts for curate and writing its decisions, in one short transaction each."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from storage.warehouse import transaction

CURATE_INPUT_SQL = """
WITH chosen AS (
    SELECT * FROM posts p WHERE NOT p.deleted {where}
), first_image AS (
    SELECT post_id,
           bool_or(status IN ('stored', 'remote')) AS has_image,
           arg_min(phash, position) FILTER (WHERE phash IS NOT NULL) AS image_phash
    FROM media SEMI JOIN chosen USING (post_id)
    WHERE kind IS NULL OR kind = 'photo'
    GROUP BY post_id
)
SELECT p.post_id, p.author_id, p.text, p.hashtags, p.lat, p.lon,
       coalesce(i.has_image, false) AS has_image, i.image_phash,
       p.lang, p.lang_confidence, p.lang_detector, coalesce(p.is_repost, false) AS is_repost,
       p.repost_of, p.created_at, p.lang_scores
FROM chosen p LEFT JOIN first_image i USING (post_id)
ORDER BY p.post_id
"""


def load_posts_for_curation(
    con: duckdb.DuckDBPyConnection, post_ids: pa.Array | None = None, authors: pa.Array | None = None
) -> pa.Table:
    """The posts that are not deleted, with what the rules need (image presence, perceptual hash): all of them,
    or those in ``post_ids`` and every post of ``authors``."""
    if post_ids is None and authors is None:
        return con.sql(CURATE_INPUT_SQL.format(where="")).to_arrow_table()
    wanted_ids = pa.table({"post_id": post_ids if post_ids is not None else pa.array([], pa.string())})  # noqa: F841
    wanted_authors = pa.table({"author_id": authors if authors is not None else pa.array([], pa.string())})  # noqa: F841
    # Find the rows on two columns first, then read every column of those rows only.
    where = ("AND p.rowid IN (SELECT rowid FROM posts WHERE post_id IN (SELECT post_id FROM wanted_ids) "
             "OR author_id IN (SELECT author_id FROM wanted_authors))")
    return con.sql(CURATE_INPUT_SQL.format(where=where)).to_arrow_table()


def curate_state(con: duckdb.DuckDBPyConnection) -> str | None:
    """The fingerprint of the options the stored decisions were made with; None before any curate run."""
    rows = con.execute("SELECT config_hash FROM curate_state").fetchall()
    return rows[0][0] if rows else None


def pending_changes(con: duckdb.DuckDBPyConnection) -> tuple[int, pa.Table]:
    """The last change logged and (post_id, author_id) of every post changed up to it (deleted ones included)."""
    [(last,)] = con.execute("SELECT coalesce(max(seq), 0) FROM curate_changes").fetchall()
    changed = con.sql(
        "WITH ids AS (SELECT DISTINCT post_id FROM curate_changes WHERE seq <= $last) "
        "SELECT ids.post_id, p.author_id FROM ids LEFT JOIN posts p USING (post_id) ORDER BY ids.post_id",
        params={"last": last},
    ).to_arrow_table()
    return last, changed


def posts_sharing_text_keys(con: duckdb.DuckDBPyConnection, keys: pa.Array, post_ids: pa.Array) -> pa.Array:
    """Posts the duplicate rule saw whose text key is one of ``keys`` or one that ``post_ids`` had."""
    new_keys = pa.table({"key": keys})  # noqa: F841
    touched = pa.table({"post_id": post_ids})  # noqa: F841
    return con.sql(
        "WITH wanted AS (SELECT md5_number_upper(key) AS key_hash FROM new_keys WHERE key IS NOT NULL "
        "UNION SELECT key_hash FROM curate_text_keys SEMI JOIN touched USING (post_id)) "
        "SELECT DISTINCT post_id FROM curate_text_keys SEMI JOIN wanted USING (key_hash) ORDER BY post_id"
    ).to_arrow_table()["post_id"].combine_chunks()


def stored_image_hashes(con: duckdb.DuckDBPyConnection, post_ids: pa.Array) -> pa.Array:
    """The image hashes the near_duplicate_image rule saw for ``post_ids``."""
    touched = pa.table({"post_id": post_ids})  # noqa: F841
    return con.sql(
        "SELECT DISTINCT phash FROM curate_image_hashes SEMI JOIN touched USING (post_id)"
    ).to_arrow_table()["phash"].combine_chunks()


def images_near(con: duckdb.DuckDBPyConnection, probes: pa.Table, max_distance: int) -> pa.Table:
    """(post_id, phash) of the images the near_duplicate_image rule saw that are within ``max_distance`` bits of a
    probe's ``seed``; ``probes``: (shift, mask, key, seed), a chunk of the hash to match per row."""
    if not probes.num_rows:
        return pa.table({"post_id": pa.array([], pa.string()), "phash": pa.array([], pa.uint64())})
    con.register("probes", probes)
    try:
        chunks = con.execute("SELECT DISTINCT shift, mask FROM probes ORDER BY shift").fetchall()
        joins = " UNION ".join(
            f"SELECT h.post_id, h.phash FROM curate_image_hashes h JOIN probes p "
            f"ON p.shift = {int(shift)} AND ((h.phash >> {int(shift)}) & {int(mask)}::UBIGINT) = p.key "
            f"WHERE bit_count(xor(h.phash, p.seed)) <= {int(max_distance)}"
            for shift, mask in chunks
        )
        return con.sql(f"SELECT DISTINCT post_id, phash FROM ({joins}) ORDER BY post_id").to_arrow_table()
    finally:
        con.unregister("probes")


@dataclass(frozen=True)
class CurationState:
    """What a curate run writes beside its decisions: the compact state the next incremental run starts from.

    The ``*_replaced`` fields name whose rows this run replaces; None means every row (a full run).
    """

    config_hash: str
    config_json: str
    last_change: int  # the curate_changes entries up to this one were consumed
    text_keys: pa.Table  # (post_id, key): normalised text of the posts the duplicate rule saw
    image_hashes: pa.Table  # (post_id, phash UBIGINT) of the images the near_duplicate_image rule saw
    decisions_replaced: pa.Table | None = None  # (post_id, rule)
    curated_replaced: pa.Array | None = None
    text_keys_replaced: pa.Array | None = None
    image_hashes_replaced: pa.Array | None = None


def write_curation(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    decisions: pa.Table,
    kept_post_ids: pa.Array,
    summary: Sequence[tuple[str, int, int, int]],
    languages: pa.Table | None,
    state: CurationState,
) -> None:
    """In one transaction: replace the decisions and curated-set rows the run re-decided (all of them for a full
    run), keep the per-rule summary, cache detected languages, and store the compact state.

    ``summary``: (rule, evaluated, kept, dropped) per rule, in rule order.
    """
    with transaction(con):
        if languages is not None and languages.num_rows:
            # Locate the rows on post_id alone, then update by rowid: joining on post_id directly makes DuckDB
            # read every column of every post (lang_scores is a list, so an update rewrites whole rows).
            _with_table(con, "detected", languages,
                        "UPDATE posts SET lang = d.lang, lang_confidence = d.lang_confidence, "
                        "lang_detector = d.lang_detector, lang_scores = d.lang_scores "
                        "FROM (SELECT p.rowid AS post_row, n.* FROM posts p JOIN detected n USING (post_id)) d "
                        "WHERE posts.rowid = d.post_row")
        if state.decisions_replaced is None:
            con.execute("DELETE FROM filter_decisions")
        else:
            _with_table(con, "replaced", state.decisions_replaced,
                        "DELETE FROM filter_decisions USING replaced r "
                        "WHERE filter_decisions.post_id = r.post_id AND filter_decisions.rule = r.rule")
        _with_table(con, "decisions", decisions, "INSERT INTO filter_decisions BY NAME SELECT * FROM decisions")
        _replace_rows(con, "curated_set", state.curated_replaced)
        kept = pa.table({"post_id": kept_post_ids, "run_id": pa.array([run_id] * len(kept_post_ids), pa.string())})
        _with_table(con, "kept", kept, "INSERT INTO curated_set BY NAME SELECT * FROM kept")
        _replace_rows(con, "curate_text_keys", state.text_keys_replaced)
        _with_table(con, "text_keys", state.text_keys,
                    "INSERT INTO curate_text_keys SELECT post_id, md5_number_upper(key) FROM text_keys")
        _replace_rows(con, "curate_image_hashes", state.image_hashes_replaced)
        _with_table(con, "image_hashes", state.image_hashes,
                    "INSERT INTO curate_image_hashes SELECT post_id, phash FROM image_hashes")
        con.execute("DELETE FROM curate_changes WHERE seq <= ?", [state.last_change])
        con.execute("DELETE FROM curate_state")
        con.execute("INSERT INTO curate_state VALUES (?, ?, ?, now())", [state.config_hash, state.config_json, run_id])
        con.execute("DELETE FROM filter_summary WHERE run_id = ?", [run_id])
        for position, (rule, evaluated, kept_by_rule, dropped) in enumerate(summary):
            con.execute(
                "INSERT INTO filter_summary VALUES (?, ?, ?, ?, ?, ?)",
                [run_id, position, rule, evaluated, kept_by_rule, dropped],
            )


def curated_count(con: duckdb.DuckDBPyConnection) -> int:
    """Posts in the curated set."""
    return con.execute("SELECT count(*) FROM curated_set").fetchone()[0]


def _replace_rows(con: duckdb.DuckDBPyConnection, table: str, post_ids: pa.Array | None) -> None:
    """Delete the rows of ``post_ids`` from ``table`` (every row when None)."""
    if post_ids is None:
        con.execute(f"DELETE FROM {table}")
    elif len(post_ids):
        _with_table(con, "replaced_posts", pa.table({"post_id": post_ids}),
                    f"DELETE FROM {table} WHERE post_id IN (SELECT post_id FROM replaced_posts)")


def _with_table(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table, sql: str) -> None:
    """Run ``sql`` with the Arrow ``table`` visible as ``name``."""
    con.register(name, table)
    try:
        con.execute(sql)
    finally:
        con.unregister(name)


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
