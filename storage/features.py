"""The feature store: every frozen encoder's vector of a post, computed once, kept as Parquet under
POSTATLAS_HOME/features/<encoder>/ and exposed as the warehouse view `post_features`.

A post whose input could not be read (a corrupt image) is stored with a NULL vector and the reason in `problem`,
so it is counted and never retried silently; `ocr_text` holds what the OCR encoder read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from storage import vector_parts
from storage.home import Home
from storage.joint_inputs import LOCATION_KEY
from storage.learning import FIRST_IMAGE

EMPTY = ("(SELECT NULL::VARCHAR AS post_id, NULL::VARCHAR AS encoder, NULL::INTEGER AS dimension, "
         "NULL::FLOAT[] AS vector, NULL::VARCHAR AS ocr_text, NULL::VARCHAR AS problem, NULL::VARCHAR AS run_id, "
         "NULL::TIMESTAMPTZ AS created_at WHERE false)")
COLUMNS = "post_id, encoder, dimension, vector, ocr_text, problem, run_id, created_at"


def folder(home: Home, encoder: str) -> Path:
    """Where an encoder's parts live."""
    return home.features / encoder


def refresh_view(con: duckdb.DuckDBPyConnection, home: Home) -> None:
    """Point the view `post_features` at the Parquet parts now present."""
    present = any(home.features.glob(f"*/*{vector_parts.PART_SUFFIX}"))
    source = (f"read_parquet('{vector_parts.glob_pattern(home.features)}', union_by_name = true)" if present
              else EMPTY)
    con.execute(f"CREATE OR REPLACE VIEW post_features AS SELECT {COLUMNS} FROM {source}")


def stored_post_ids(home: Home, encoder: str) -> set[str]:
    """The posts the encoder has a row for (a vector or a problem)."""
    return vector_parts.stored_post_ids(folder(home, encoder))


def write_features(
    home: Home, encoder: str, run_id: str, post_ids: list[str], vectors: np.ndarray,
    problems: list[str | None], ocr_texts: list[str] | None = None,
) -> Path | None:
    """One part of an encoder's rows; a row with a problem gets a NULL vector. None when there are no rows."""
    if not post_ids:
        return None
    missing = np.array([problem is not None for problem in problems], dtype=bool)
    now = datetime.now(UTC)
    return vector_parts.write_part(folder(home, encoder), pa.table({
        "post_id": pa.array(post_ids, pa.string()),
        "encoder": pa.array([encoder] * len(post_ids), pa.string()),
        "dimension": pa.array([int(vectors.shape[1])] * len(post_ids), pa.int32()),
        "vector": vector_parts.vector_column(vectors, missing),
        "ocr_text": pa.array(ocr_texts if ocr_texts is not None else [None] * len(post_ids), pa.string()),
        "problem": pa.array(problems, pa.string()),
        "run_id": pa.array([run_id] * len(post_ids), pa.string()),
        "created_at": pa.array([now] * len(post_ids), pa.timestamp("us", tz="UTC")),
    }))


def read_features(home: Home, encoder: str, post_ids: list[str], dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """(vectors (n, dimension) float32, present (n,) bool) of the posts, in their order; zeros where absent."""
    vectors = np.zeros((len(post_ids), dimension), np.float32)
    present = np.zeros(len(post_ids), bool)
    parts = vector_parts.parts(folder(home, encoder))
    if not parts or not post_ids:
        return vectors, present
    wanted = pa.array(post_ids, pa.string())
    table = ds.dataset(parts, format="parquet").to_table(
        columns=["post_id", "vector"], filter=pc.field("post_id").isin(wanted) & pc.field("vector").is_valid())
    if table.num_rows == 0:
        return vectors, present
    rows = pc.index_in(table.column("post_id"), value_set=wanted).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(table.column("vector")).to_numpy(zero_copy_only=False)
    vectors[rows] = flat.reshape(table.num_rows, dimension)
    present[rows] = True
    return vectors, present


def iter_features(home: Home, encoder: str, post_ids: pa.Array, batch_rows: int = 65_536
                  ) -> Iterator[tuple[pa.Array, np.ndarray]]:
    """(post ids, (n, d) float32 vectors) of those of ``post_ids`` the encoder has a vector for, in batches of one
    pass over its Parquet parts: many posts read at the cost of one scan, memory following the batch."""
    if len(post_ids) == 0:
        return iter(())
    wanted = pc.field("post_id").isin(post_ids) & pc.field("vector").is_valid()
    return vector_parts.vector_batches(vector_parts.parts(folder(home, encoder)), wanted, batch_rows)


def posts_to_featurize(con: duckdb.DuckDBPyConnection, curated_only: bool, located_only: bool = False,
                       skip: Sequence[Path] = ()) -> pa.Table:
    """post_id, text, image_path (relative to home, NULL without a stored image) of the (curated) posts;
    ``located_only``: only those with a location key (a place or coordinates: what the joint model's location part
    averages). The posts that the Parquet files ``skip`` hold (an encoder's stored rows) are left out by an
    anti-join in DuckDB, so a nightly run reads the texts of its new posts only."""
    return con.sql(
        f"""
        WITH {FIRST_IMAGE}
        SELECT p.post_id, p.text, i.image_path FROM {_candidates(curated_only, located_only, skip)}
        LEFT JOIN first_image i USING (post_id)
        ORDER BY p.post_id
        """,
        params={"skip": [str(path) for path in skip]} if skip else None,
    ).to_arrow_table()


def featurize_candidates(con: duckdb.DuckDBPyConnection, curated_only: bool, located_only: bool = False) -> int:
    """How many posts :func:`posts_to_featurize` considers before leaving out stored ones: counted, not read."""
    [(count,)] = con.execute(f"SELECT count(*) FROM {_candidates(curated_only, located_only)}").fetchall()
    return count


def _candidates(curated_only: bool, located_only: bool, skip: Sequence[Path] = ()) -> str:
    """The posts to featurize as a FROM item aliased ``p`` (``$skip``: the Parquet files whose posts to leave out)."""
    source = "curated_posts" if curated_only else "(SELECT * FROM posts WHERE NOT deleted)"
    conditions = [f"{LOCATION_KEY} IS NOT NULL"] if located_only else []
    if skip:
        conditions.append("p.post_id NOT IN (SELECT post_id FROM read_parquet($skip))")
    return f"(SELECT * FROM {source} p {'WHERE ' + ' AND '.join(conditions) if conditions else ''}) p"


def part_paths(home: Home, encoder: str) -> list[Path]:
    """An encoder's finished Parquet parts."""
    return vector_parts.parts(folder(home, encoder))


def feature_counts(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, int]]:
    """(encoder, posts with a vector, posts with a problem) per encoder."""
    return con.execute(
        "SELECT encoder, count(vector), count(problem) FROM post_features GROUP BY encoder ORDER BY encoder"
    ).fetchall()
