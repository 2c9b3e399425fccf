"""Post embeddings as Parquet under POSTATLAS_HOME/embeddings/<model_id>/, exposed as the warehouse view `embeddings`;
a joint model's (paper 002) vectors of each part of a post under embedding_parts/<model_id>/, the view
`embedding_parts` (its post-level vector, the mean of the parts, is in `embeddings` like any model's).

Each `postatlas embed` run adds one file per model holding only posts that model had not embedded yet; a file is
written under a temporary name and renamed into place, so a killed run leaves the whole file or nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from storage import vector_parts
from storage.home import Home

EMPTY = ("(SELECT NULL::VARCHAR AS post_id, NULL::VARCHAR AS model_id, NULL::FLOAT[] AS vector, "
         "NULL::VARCHAR AS run_id WHERE false)")
EMPTY_PARTS = ("(SELECT NULL::VARCHAR AS post_id, NULL::VARCHAR AS model_id, NULL::VARCHAR AS part, "
               "NULL::FLOAT[] AS vector, NULL::VARCHAR AS run_id WHERE false)")


def has_parts(root: Path) -> bool:
    """Whether any model has vectors on disk under root (home.embeddings or home.embedding_parts)."""
    return any(root.glob(f"*/*{vector_parts.PART_SUFFIX}"))


def refresh_view(con: duckdb.DuckDBPyConnection, home: Home) -> None:
    """Point the views `embeddings` (post_id, model_id, vector, run_id) and `embedding_parts` (post_id, model_id,
    part, vector, run_id) at the Parquet files now present."""
    for view, root, columns, empty in (("embeddings", home.embeddings, "post_id, model_id, vector, run_id", EMPTY),
                                       ("embedding_parts", home.embedding_parts,
                                        "post_id, model_id, part, vector, run_id", EMPTY_PARTS)):
        source = (f"read_parquet('{vector_parts.glob_pattern(root)}', union_by_name = true)"
                  if has_parts(root) else empty)
        con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT {columns} FROM {source}")


def part_names(home: Home, model_id: str) -> set[str]:
    """The file names of a model's finished Parquet parts."""
    return {part.name for part in vector_parts.parts(home.embeddings / model_id)}


def part_paths(home: Home, model_id: str) -> list[Path]:
    """A model's finished Parquet parts."""
    return vector_parts.parts(home.embeddings / model_id)


def embedded_count(home: Home, model_id: str) -> int:
    """How many posts a model has embedded (from the parts' footers: the parts hold disjoint posts)."""
    return vector_parts.stored_count(home.embeddings / model_id)


def embedded_post_ids(home: Home, model_id: str, only_parts: set[str] | None = None) -> set[str]:
    """The posts this model has embedded (read from its Parquet files; only `only_parts` when given)."""
    return vector_parts.stored_post_ids(home.embeddings / model_id, only_parts)


def write_part(home: Home, model_id: str, run_id: str, post_ids: list[str], vectors: np.ndarray) -> Path | None:
    """Write one Parquet file of new embeddings, named by its posts (a retry never replaces another run's file);
    returns its path, None when there is nothing new."""
    if not post_ids:
        return None
    return vector_parts.write_part(home.embeddings / model_id, pa.table({
        "post_id": pa.array(post_ids, pa.string()),
        "model_id": pa.array([model_id] * len(post_ids), pa.string()),
        "vector": vector_parts.vector_column(vectors),
        "run_id": pa.array([run_id] * len(post_ids), pa.string()),
    }))


def write_part_vectors(home: Home, model_id: str, run_id: str, post_ids: list[str], part_names: list[str],
                       vectors: np.ndarray) -> Path | None:
    """Write one Parquet file of a joint model's part vectors (one row per post and part, ``part_names`` beside
    ``post_ids``); named by its rows like ``write_part``, so a retried chunk replaces its own file."""
    if not post_ids:
        return None
    return vector_parts.write_part(home.embedding_parts / model_id, pa.table({
        "post_id": pa.array(post_ids, pa.string()),
        "model_id": pa.array([model_id] * len(post_ids), pa.string()),
        "part": pa.array(part_names, pa.string()),
        "vector": vector_parts.vector_column(vectors),
        "run_id": pa.array([run_id] * len(post_ids), pa.string()),
    }))


def iter_vectors(home: Home, model_id: str, part: str | None, batch_rows: int = 65_536
                 ) -> Iterator[tuple[list[str], np.ndarray]]:
    """(post ids, (n, d) float32 vectors) in batches: the model's post vectors (``part`` None or "post") or its
    vectors of one part; memory follows the batch, not the model's whole set."""
    folder = home.embeddings / model_id if part in (None, "post") else home.embedding_parts / model_id
    condition = None if part in (None, "post") else pc.field("part") == part
    for post_ids, vectors in vector_parts.vector_batches(vector_parts.parts(folder), condition, batch_rows):
        yield post_ids.to_pylist(), vectors


def drop_model(home: Home, model_id: str) -> None:
    """Remove a model's embeddings (its weights were retrained: the old vectors no longer belong to it)."""
    shutil.rmtree(home.embeddings / model_id, ignore_errors=True)
    shutil.rmtree(home.embedding_parts / model_id, ignore_errors=True)
